//! The binary as an operator runs it: `serve`, `migrate`, `merchant create`, and a restart
//! after SIGKILL that keeps every session and event.

use std::path::Path;
use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::backend_tests;
use crate::helpers::{Backend, TestDb, count_rows, read};
use crate::shopper::Shopper;

fn countersign(db: &TestDb) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_countersign"));
    cmd.env("DATABASE_URL", &db.url)
        .env("COUNTERSIGN_LISTEN", "127.0.0.1:0")
        .env(
            "COUNTERSIGN_MASTER_KEY_FILE",
            db.dir.path().join("master.key"),
        )
        .env_remove("COUNTERSIGN_MASTER_KEY")
        .env_remove("COUNTERSIGN_DATABASE_URL")
        .kill_on_drop(true);
    cmd
}

struct Server {
    child: Child,
    base: String,
    demo_key: Option<String>,
}

/// Starts `serve` and reads its stdout until it says where it listens.
async fn serve(db: &TestDb) -> Server {
    serve_with(db, &[]).await
}

async fn serve_with(db: &TestDb, env: &[(&str, &str)]) -> Server {
    let mut cmd = countersign(db);
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .arg("serve")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut demo_key = None;
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some((_, key)) = line.split_once("(shown once): ") {
            demo_key = Some(key.trim().to_owned());
        }
        if let Some(url) = line.strip_prefix("Countersign is running: ") {
            let base = url.trim_end_matches('/').to_owned();
            return Server {
                child,
                base,
                demo_key,
            };
        }
    }
    panic!(
        "the server exited before listening: {:?}",
        child.wait().await
    );
}

pub async fn run(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = countersign(db).args(args).output().await.expect("run");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.success(), text(out.stdout), text(out.stderr))
}

pub async fn create_merchant(db: &TestDb, id: &str) -> Value {
    let (ok, stdout, stderr) = run(db, &["merchant", "create", "--id", id]).await;
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).expect("credentials JSON")
}

async fn call(
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = countersign::http_client::client()
        .request(method, url)
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    read(req.send().await.unwrap()).await
}

async fn a_killed_server_restarts_with_every_session_and_event(b: Backend) {
    let db = TestDb::new(b).await;
    let mut server = serve(&db).await;
    assert_eq!(
        b == Backend::Sqlite,
        server.demo_key.is_some(),
        "demo is seeded only on the embedded database"
    );
    let creds = create_merchant(&db, "acme").await;
    let key = creds["api_key"].as_str().unwrap().to_owned();
    assert!(
        creds["webhook_secret"]
            .as_str()
            .unwrap()
            .starts_with("whsec_")
    );
    let health = call(
        reqwest::Method::GET,
        format!("{}/healthz", server.base),
        "",
        None,
    )
    .await;
    assert_eq!(health.0, 200);
    let order = json!({"user_id": "u1", "amount": {"value": "128.00", "currency": "CNY"}});
    let put = call(
        reqwest::Method::PUT,
        format!("{}/v1/orders/1042", server.base),
        &key,
        Some(order),
    )
    .await;
    assert_eq!(put.0, 201, "{}", put.1);
    let (status, opened) = call(
        reqwest::Method::POST,
        format!("{}/v1/sessions", server.base),
        &key,
        Some(json!({"user_id": "u1"})),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["session_id"].as_str().unwrap();
    let before = call(
        reqwest::Method::GET,
        format!("{}/v1/sessions/{id}/events", server.base),
        &key,
        None,
    )
    .await;

    server.child.start_kill().unwrap(); // SIGKILL: no graceful shutdown
    server.child.wait().await.unwrap();

    let again = serve(&db).await;
    assert!(again.demo_key.is_none(), "the demo merchant is seeded once");
    let after = call(
        reqwest::Method::GET,
        format!("{}/v1/sessions/{id}/events", again.base),
        &key,
        None,
    )
    .await;
    assert_eq!(after, before);
    let token = opened["client_token"].as_str().unwrap();
    let (status, session) = call(
        reqwest::Method::GET,
        format!("{}/v1/sessions/{id}", again.base),
        token,
        None,
    )
    .await;
    assert_eq!(
        (status, session["state"].as_str()),
        (200, Some("collecting"))
    );
    let order = call(
        reqwest::Method::PUT,
        format!("{}/v1/orders/1042", again.base),
        &key,
        Some(json!({"user_id": "u1", "amount": {"value": "128.00", "currency": "CNY"}})),
    )
    .await;
    assert_eq!(order.0, 200, "the order survived the kill");
}

async fn merchant_create_refuses_duplicates_and_bad_policies(b: Backend) {
    let db = TestDb::new(b).await;
    create_merchant(&db, "acme").await;
    let (ok, stdout, stderr) = run(&db, &["merchant", "create", "--id", "acme"]).await;
    assert!(!ok && stdout.is_empty(), "no credentials for a duplicate");
    assert!(stderr.contains("exists already"), "{stderr}");
    let (ok, stdout, stderr) = run(&db, &["merchant", "create", "--id", "demo"]).await;
    assert!(
        !ok && stdout.is_empty(),
        "the keyless demo merchant is the seeder's"
    );
    assert!(stderr.contains("reserved"), "{stderr}");
    let policy = db.dir.path().join("policy.json");
    write(&policy, r#"{"refund": {"max_amount": "-5"}}"#);
    let (ok, _, stderr) = run(
        &db,
        &[
            "merchant",
            "create",
            "--id",
            "beta",
            "--policy",
            policy.to_str().unwrap(),
        ],
    )
    .await;
    assert!(!ok);
    assert!(stderr.contains("/refund/max_amount"), "{stderr}");
    write(
        &policy,
        r#"{"currency": "USD", "refund": {"max_amount": "50.00"}, "risk": {"review_at": 0.4}}"#,
    );
    let (ok, stdout, stderr) = run(
        &db,
        &[
            "merchant",
            "create",
            "--id",
            "beta",
            "--policy",
            policy.to_str().unwrap(),
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("csk_"));
    let (ok, _, stderr) = run(&db, &["merchant", "create", "--id", "Bad Id"]).await;
    assert!(!ok && stderr.contains("merchant id"), "{stderr}");
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

async fn migrate_and_help_work(b: Backend) {
    let db = TestDb::new(b).await;
    let (ok, stdout, stderr) = run(&db, &["migrate"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("up to date"));
    let (ok, stdout, _) = run(&db, &["--help"]).await;
    assert!(ok);
    for needle in [
        "serve",
        "migrate",
        "merchant",
        "DATABASE_URL",
        "COUNTERSIGN_LISTEN",
        "COUNTERSIGN_MASTER_KEY",
        "COUNTERSIGN_PROVIDER",
        "app_private_key_file",
        "alipay_public_key_file",
        "notify_url",
    ] {
        assert!(stdout.contains(needle), "--help should mention {needle}");
    }
}

async fn serve_refuses_an_unusable_alipay_section_and_never_prints_a_key(b: Backend) {
    let db = TestDb::new(b).await;
    let leaked = "c2VjcmV0LWtleS1tYXRlcmlhbA";
    let out = countersign(&db)
        .env("COUNTERSIGN_PROVIDER", "alipay")
        .env("COUNTERSIGN_ALIPAY__APP_ID", "2021000000000001")
        .env("COUNTERSIGN_ALIPAY__GATEWAY", "sandbox")
        .env(
            "COUNTERSIGN_ALIPAY__APP_PRIVATE_KEY",
            format!("-----BEGIN PRIVATE KEY-----\n{leaked}\n-----END PRIVATE KEY-----"),
        )
        .arg("serve")
        .output()
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("alipay.app_private_key: not an RSA key"),
        "{stderr}"
    );
    assert!(!stderr.contains(leaked), "{stderr}");
    let out = countersign(&db)
        .env("COUNTERSIGN_PROVIDER", "alipay")
        .arg("serve")
        .output()
        .await
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("alipay.app_id is missing"), "{stderr}");
}

async fn a_kill_right_after_consent_still_pays_exactly_once(b: Backend) {
    // The risk check never answers, so the kill lands before any outbox row exists.
    let scorer = crate::helpers::silent_scorer().await;
    let env = [
        ("COUNTERSIGN_RISK_REMOTE__URL", scorer.as_str()),
        ("COUNTERSIGN_RISK_REMOTE__TIMEOUT_MS", "600000"),
    ];
    kill_at_and_finish(b, &env, "pending_risk_check").await;
}

async fn a_kill_with_the_outbox_row_undelivered_still_pays_exactly_once(b: Backend) {
    // No dispatcher: the row is written with `submitted` and nothing has sent it.
    let env = [("COUNTERSIGN_RUN_DISPATCHER", "false")];
    kill_at_and_finish(b, &env, "submitted").await;
}

/// Consents to a refund on a server started with `env`, SIGKILLs it once the session is
/// `at`, restarts it plainly and checks that the refund settles with one provider request.
async fn kill_at_and_finish(b: Backend, env: &[(&str, &str)], at: &str) {
    let db = TestDb::new(b).await;
    let mut server = serve_with(&db, env).await;
    let creds = create_merchant(&db, "acme").await;
    let key = creds["api_key"].as_str().unwrap().to_owned();
    let order = json!({"user_id": "u1", "amount": {"value": "128.00", "currency": "CNY"}});
    assert_eq!(
        call(
            reqwest::Method::PUT,
            format!("{}/v1/orders/1042", server.base),
            &key,
            Some(order)
        )
        .await
        .0,
        201
    );
    let body = json!({"user_id": "u1", "text": "退款订单 1042 全额"});
    let (_, opened) = call(
        reqwest::Method::POST,
        format!("{}/v1/sessions", server.base),
        &key,
        Some(body),
    )
    .await;
    let (id, token) = (
        opened["session_id"].as_str().unwrap(),
        opened["client_token"].as_str().unwrap(),
    );
    let ws = |base: &str| format!("{}/v1/sessions/{id}/ws", base.replacen("http", "ws", 1));
    let mut shopper = Shopper::connect_to(&ws(&server.base), token).await;
    let c = shopper.until("confirmation_required").await;
    shopper
        .send(json!({"type": "confirm", "token": c["token"]}))
        .await;
    shopper.until_state(at).await;
    let undelivered = if at == "submitted" { 1 } else { 0 };
    assert_eq!(
        count_rows(&db.url, "submissions WHERE state = 'pending'").await,
        undelivered
    );

    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();

    let again = serve(&db).await;
    let mut back = Shopper::connect_to(&ws(&again.base), token).await;
    back.send(json!({"type": "resume", "last_seq": 0})).await;
    back.until_state("settled").await;
    assert_eq!(count_rows(&db.url, "sandbox_payments").await, 1);
    assert_eq!(
        count_rows(&db.url, "sandbox_payments WHERE requests = 1").await,
        1,
        "submitted once"
    );
    assert_eq!(count_rows(&db.url, "submissions").await, 1);
    let (_, log) = call(
        reqwest::Method::GET,
        format!("{}/v1/sessions/{id}/events", again.base),
        &key,
        None,
    )
    .await;
    let kinds: Vec<_> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "confirmed").count(), 1);
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "settlement_succeeded")
            .count(),
        1
    );
}

async fn json_logs_carry_the_session_and_no_secrets(b: Backend) {
    let db = TestDb::new(b).await;
    let mut cmd = countersign(&db);
    cmd.env("COUNTERSIGN_LOG_FORMAT", "json")
        .env("RUST_LOG", "info");
    let mut child = cmd
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut base = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        if let Some(url) = line.strip_prefix("Countersign is running: ") {
            base = url.trim_end_matches('/').to_owned();
            break;
        }
    }
    let creds = create_merchant(&db, "acme").await;
    let key = creds["api_key"].as_str().unwrap().to_owned();
    let order = json!({"user_id": "u1", "amount": {"value": "20.00", "currency": "CNY"}});
    call(
        reqwest::Method::PUT,
        format!("{base}/v1/orders/1042"),
        &key,
        Some(order),
    )
    .await;
    let body = json!({"user_id": "u1", "text": "退款订单 1042 全额"});
    let (_, opened) = call(
        reqwest::Method::POST,
        format!("{base}/v1/sessions"),
        &key,
        Some(body),
    )
    .await;
    let (id, token) = (
        opened["session_id"].as_str().unwrap(),
        opened["client_token"].as_str().unwrap(),
    );
    let ws = format!("{}/v1/sessions/{id}/ws", base.replacen("http", "ws", 1));
    let mut shopper = Shopper::connect_to(&ws, token).await;
    let c = shopper.until("confirmation_required").await;
    let confirmation = c["token"].as_str().unwrap().to_owned();
    shopper
        .send(json!({"type": "confirm", "token": confirmation}))
        .await;
    shopper.until_state("settled").await;
    shopper.close().await;
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = String::from_utf8_lossy(&out.stderr);
    let mut transitions = 0;
    for line in logs.lines() {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if entry["fields"]["message"] == "transition" {
            transitions += 1;
            let text = entry.to_string();
            assert!(
                text.contains(id),
                "a transition line without its session: {line}"
            );
        }
    }
    assert!(transitions >= 4, "{logs}");
    for secret in [
        key.as_str(),
        token,
        &confirmation,
        creds["webhook_secret"].as_str().unwrap(),
        "csk_",
        "cst_",
        "whsec_",
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}

backend_tests!(
    a_kill_right_after_consent_still_pays_exactly_once,
    a_kill_with_the_outbox_row_undelivered_still_pays_exactly_once,
    json_logs_carry_the_session_and_no_secrets,
    a_killed_server_restarts_with_every_session_and_event,
    merchant_create_refuses_duplicates_and_bad_policies,
    migrate_and_help_work,
    serve_refuses_an_unusable_alipay_section_and_never_prints_a_key,
);
