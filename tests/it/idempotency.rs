//! `Idempotency-Key` on POST /v1/sessions.

use chrono::TimeDelta;
use countersign::domain::MerchantId;
use countersign::store::{IdempotencyBegin, IdempotencyClaim};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp, assert_error, read, spawn_app};

async fn open(
    app: &TestApp,
    api_key: &str,
    key: &str,
    body: &Value,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let r = app
        .http
        .post(app.url("/v1/sessions"))
        .bearer_auth(api_key)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let headers = r.headers().clone();
    let (status, body) = read(r).await;
    (status, body, headers)
}

async fn a_retry_replays_the_first_answer_and_creates_nothing_new(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let body = json!({"user_id": "u1", "text": "refund order 1042"});
    let (s1, first, h1) = open(&app, &acme.api_key, "retry-1", &body).await;
    assert_eq!(s1, 201, "{first}");
    assert!(h1.get("idempotent-replayed").is_none());
    let reordered = json!({"text": "refund order 1042", "user_id": "u1"});
    let (s2, second, h2) = open(&app, &acme.api_key, "retry-1", &reordered).await;
    assert_eq!((s2, &second), (201, &first));
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(app.count("sessions").await, 1);
    // The replayed client token works, and the stored answer does not hold it in the clear.
    let token = second["client_token"].as_str().unwrap();
    let id = second["session_id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/v1/sessions/{id}"), token).await.0, 200);
    assert_eq!(stored_bodies_containing(&app, token).await, 0);
}

async fn stored_bodies_containing(app: &TestApp, needle: &str) -> i64 {
    crate::helpers::count_rows(
        &app.db.url,
        &format!("idempotency_keys WHERE response_body LIKE '%{needle}%'"),
    )
    .await
}

async fn a_different_body_under_the_same_key_is_refused(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let (status, ..) = open(&app, &acme.api_key, "k-1", &json!({"user_id": "u1"})).await;
    assert_eq!(status, 201);
    let (status, body, _) = open(&app, &acme.api_key, "k-1", &json!({"user_id": "u2"})).await;
    assert_error(&(status, body), 422, "idempotency_conflict", "different");
    assert_eq!(app.count("sessions").await, 1);
}

async fn a_retry_while_the_first_runs_is_told_to_wait(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let body = json!({"user_id": "u1"});
    // Learn the fingerprint this body gets, then have "another instance" hold a key with it.
    assert_eq!(open(&app, &acme.api_key, "first", &body).await.0, 201);
    let now = countersign::clock::now();
    let held = IdempotencyClaim {
        merchant_id: MerchantId::parse("acme").unwrap(),
        key: "held".into(),
        request_hash: fingerprint_of(&app, "first").await,
        now,
        expires_at: now + TimeDelta::hours(24),
        stale_before: now - TimeDelta::seconds(60),
    };
    assert_eq!(
        app.state.store.idempotency_begin(&held).await.unwrap(),
        IdempotencyBegin::Claimed
    );
    let (status, answer, headers) = open(&app, &acme.api_key, "held", &body).await;
    assert_error(
        &(status, answer),
        409,
        "idempotency_in_flight",
        "still being processed",
    );
    assert_eq!(headers["retry-after"], "1");
    assert_eq!(app.count("sessions").await, 1);
}

async fn fingerprint_of(app: &TestApp, key: &str) -> String {
    use sqlx::Connection;
    let sql = "SELECT request_hash FROM idempotency_keys WHERE key = $1";
    if app.db.url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&mut c)
            .await
            .unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar(sql)
            .bind(key)
            .fetch_one(&mut c)
            .await
            .unwrap()
    }
}

async fn concurrent_requests_with_one_key_open_one_session(b: Backend) {
    let app = std::sync::Arc::new(spawn_app(b).await);
    let acme = app.merchant("acme", None).await;
    let body = json!({"user_id": "u1", "text": "hello"});
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (app, key, body) = (app.clone(), acme.api_key.clone(), body.clone());
            tokio::spawn(async move { open(&app, &key, "race", &body).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, body, _) = t.await.unwrap();
        match status {
            201 => {
                ids.insert(body["session_id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(body["error"]["code"], "idempotency_in_flight"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "every success names the same session");
    assert_eq!(app.count("sessions").await, 1);
}

async fn keys_are_scoped_to_the_merchant(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let beta = app.merchant("beta", None).await;
    let body = json!({"user_id": "u1"});
    let (_, a, _) = open(&app, &acme.api_key, "shared", &body).await;
    let (status, b_body, headers) = open(&app, &beta.api_key, "shared", &body).await;
    assert_eq!(status, 201);
    assert!(headers.get("idempotent-replayed").is_none());
    assert_ne!(a["session_id"], b_body["session_id"]);
    assert_eq!(app.count("sessions").await, 2);
}

async fn client_errors_are_replayed_and_bad_keys_refused(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let bad = json!({"user_id": "not valid"});
    let (s1, first, _) = open(&app, &acme.api_key, "bad-1", &bad).await;
    assert_eq!(s1, 422);
    let (s2, second, h2) = open(&app, &acme.api_key, "bad-1", &bad).await;
    assert_eq!((s2, &second), (422, &first));
    assert_eq!(h2["idempotent-replayed"], "true");
    let (status, body, _) = open(&app, &acme.api_key, "has space", &json!({"user_id": "u1"})).await;
    assert_error(
        &(status, body),
        400,
        "invalid_idempotency_key",
        "Idempotency-Key",
    );
    let long = "k".repeat(256);
    let (status, body, _) = open(&app, &acme.api_key, &long, &json!({"user_id": "u1"})).await;
    assert_error(
        &(status, body),
        400,
        "invalid_idempotency_key",
        "Idempotency-Key",
    );
    assert_eq!(app.count("sessions").await, 0);
}

async fn server_errors_are_not_remembered(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let body = json!({"user_id": "u1"});
    // Break the database under the handler: the session cannot be written.
    rename(&app, "session_events", "session_events_away").await;
    let (status, answer, _) = open(&app, &acme.api_key, "after-outage", &body).await;
    assert_error(&(status, answer), 500, "internal", "our side");
    assert_eq!(
        crate::helpers::count_rows(&app.db.url, "idempotency_keys").await,
        0,
        "a 5xx is not stored"
    );
    rename(&app, "session_events_away", "session_events").await;
    let (status, _, headers) = open(&app, &acme.api_key, "after-outage", &body).await;
    assert_eq!(status, 201, "the retry runs again");
    assert!(headers.get("idempotent-replayed").is_none());
}

async fn rename(app: &TestApp, from: &str, to: &str) {
    use sqlx::Connection;
    let sql = format!("ALTER TABLE {from} RENAME TO {to}");
    if app.db.url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(&app.db.url).await.unwrap();
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
}

backend_tests!(
    a_retry_replays_the_first_answer_and_creates_nothing_new,
    a_different_body_under_the_same_key_is_refused,
    a_retry_while_the_first_runs_is_told_to_wait,
    concurrent_requests_with_one_key_open_one_session,
    keys_are_scoped_to_the_merchant,
    client_errors_are_replayed_and_bad_keys_refused,
    server_errors_are_not_remembered,
);
