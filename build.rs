//! Compiles the Postgres variants of the tests only when COUNTERSIGN_TEST_POSTGRES names a
//! server, so a run without Postgres has no tests that pass by skipping.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo::rerun-if-env-changed=COUNTERSIGN_TEST_POSTGRES");
    if std::env::var_os("COUNTERSIGN_TEST_POSTGRES").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=pg_tests");
    }
}
