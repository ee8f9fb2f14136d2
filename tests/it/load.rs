//! Smoke runs of the load generator: each scenario, small, against a real server process on
//! a fresh database, so the generator and its checks cannot rot.

use countersign::load::Summary;
use tokio::process::Command;

use crate::backend_tests;
use crate::helpers::{Backend, TestDb};

/// Runs `countersign-load` with `args` against a server on `db` and returns its summary.
pub(crate) async fn load(db: &TestDb, args: &[&str]) -> Summary {
    let out = Command::new(env!("CARGO_BIN_EXE_countersign-load"))
        .arg("--server")
        .arg(env!("CARGO_BIN_EXE_countersign"))
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .env_remove("COUNTERSIGN_LOAD_DATABASE_URL")
        .output()
        .await
        .expect("the load generator runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("RESULT "));
    Summary::parse(line.expect("a summary line")).expect("a parseable summary line")
}

pub(crate) fn field(s: &Summary, key: &str) -> f64 {
    let value = s
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {}", s.line()));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{key}={value} is not a number"))
}

async fn flows_through_the_model(b: Backend) {
    let db = TestDb::new(b).await;
    let s = load(&db, &["flows", "--sessions", "6", "--concurrency", "3"]).await;
    assert_eq!(s.get("understanding"), Some("model"));
    assert_eq!(s.get("completed"), Some("6"));
    assert_eq!(s.get("failed"), Some("0"));
    assert!(field(&s, "flows_per_s") > 0.0);
    assert!(field(&s, "settle_p99_ms") >= field(&s, "confirm_p50_ms"));
}

async fn flows_offline(b: Backend) {
    let db = TestDb::new(b).await;
    let args = ["flows", "--sessions", "4", "--concurrency", "2"];
    let s = load(&db, &[&args[..], &["--understanding", "offline"]].concat()).await;
    assert_eq!(s.get("understanding"), Some("offline"));
    assert_eq!(s.get("completed"), Some("4"));
}

async fn a_webhook_flood_settles_each_session_once(b: Backend) {
    let db = TestDb::new(b).await;
    let args = ["webhooks", "--sessions", "8", "--concurrency", "4"];
    let s = load(
        &db,
        &[&args[..], &["--duplicates", "0.5", "--bad", "0.5"]].concat(),
    )
    .await;
    assert_eq!(s.get("ok"), Some("true"), "{}", s.line());
    assert_eq!(s.get("sent"), Some("16"));
    assert_eq!(s.get("accepted"), Some("12"));
    assert_eq!(s.get("rejected"), Some("4"));
    assert_eq!(s.get("settled_once"), Some("8"));
    assert_eq!(s.get("doubled"), Some("0"));
    assert_eq!(s.get("applied"), Some("8"));
}

async fn idle_sockets_report_memory(b: Backend) {
    let db = TestDb::new(b).await;
    let s = load(&db, &["idle", "--sockets", "20", "--concurrency", "10"]).await;
    assert_eq!(s.get("alive"), Some("20"));
    assert!(field(&s, "rss_mib") > 1.0);
    assert!(field(&s, "bytes_per_socket") >= 0.0);
}

backend_tests!(
    flows_through_the_model,
    flows_offline,
    a_webhook_flood_settles_each_session_once,
    idle_sockets_report_memory,
);
