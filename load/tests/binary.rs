//! The `countersign-load` binary itself: a scenario that cannot run still ends with its
//! RESULT line and a failing exit status, for the scripts that read them. The scenarios are
//! run against real servers by the service's tests (tests/it/load.rs).

use std::process::Command;

#[test]
fn a_run_that_cannot_start_its_server_prints_a_failed_result_and_fails() {
    let out = Command::new(env!("CARGO_BIN_EXE_countersign-load"))
        .args([
            "--server",
            "/nonexistent/countersign",
            "flows",
            "--sessions",
            "1",
        ])
        .env_remove("COUNTERSIGN_LOAD_DATABASE_URL")
        .output()
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);

    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().last(),
        Some("RESULT scenario=flows ok=false")
    );
    assert!(
        stderr.contains("/nonexistent/countersign"),
        "the error names the binary: {stderr}"
    );
}
