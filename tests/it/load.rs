//! Smoke runs of the load generator: each scenario, small, against a real server process on
//! a fresh database, so the generator and its checks cannot rot.

use clap::Parser;
use countersign_load::Summary;
use countersign_load::cli::{self, Cli};

use crate::backend_tests;
use crate::helpers::{Backend, TestDb};

/// Runs `countersign-load ARGS` against a server on `db` and returns its summary. The
/// generator is a crate of its own (`load/`), so cargo builds no `countersign-load` binary
/// for these tests: its command line runs here instead, on a runtime of its own as in the
/// binary, and starts the `countersign` binary built for this test.
pub(crate) async fn load(db: &TestDb, args: &[&str]) -> Summary {
    let argv = [
        "countersign-load",
        "--server",
        env!("CARGO_BIN_EXE_countersign"),
        "--database-url",
        db.url.as_str(),
    ];
    let command = Cli::try_parse_from(argv.iter().chain(args)).expect("the generator's arguments");
    let run = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for the load generator");
        runtime.block_on(cli::run(command))
    });
    let summary = match run.await.expect("the load generator did not panic") {
        Ok(summary) => summary,
        Err(e) => panic!("the load generator could not finish: {e:#}"),
    };
    // Exactly what the binary's exit status says: the run finished and its checks held.
    assert_eq!(summary.get("ok"), Some("true"), "{}", summary.line());
    Summary::parse(&summary.line()).expect("a parseable summary line")
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
    // The scripted endpoint is priced by default: every flow's calls cost something.
    assert!(field(&s, "cost_per_flow") > 0.0, "{}", s.line());
    assert_eq!(s.get("cost_currency"), Some("CNY"));
}

async fn flows_offline(b: Backend) {
    let db = TestDb::new(b).await;
    let args = ["flows", "--sessions", "4", "--concurrency", "2"];
    let priced = [
        "--understanding",
        "offline",
        "--price-provider-call",
        "0.25",
    ];
    let s = load(&db, &[&args[..], &priced[..]].concat()).await;
    assert_eq!(s.get("understanding"), Some("offline"));
    assert_eq!(s.get("completed"), Some("4"));
    // No model: a flow costs its one provider call.
    assert_eq!(s.get("cost_per_flow"), Some("0.250000000"), "{}", s.line());
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
