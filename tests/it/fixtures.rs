//! Shared set-ups: a merchant with orders and contacts, sessions at a given point.

use serde_json::{Value, json};

use countersign::merchants::Credentials;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::shopper::{Opened, Shopper};

/// A merchant `acme` with two orders for shopper u1 and a verified contact.
pub async fn shop(b: Backend, policy: Option<Value>) -> (TestApp, String) {
    shop_with(spawn_app(b).await, policy).await
}

pub async fn shop_with(app: TestApp, policy: Option<Value>) -> (TestApp, String) {
    let (app, creds) = stock(app, policy).await;
    (app, creds.api_key)
}

/// Creates merchant `acme` and its book; returns all its credentials.
pub async fn stock(app: TestApp, policy: Option<Value>) -> (TestApp, Credentials) {
    let creds = app.merchant("acme", policy).await;
    let key = creds.api_key.clone();
    let placed =
        |minutes: i64| (chrono::Utc::now() - chrono::TimeDelta::minutes(minutes)).to_rfc3339();
    for (id, value, minutes) in [("1042", "128.00", 120), ("1041", "256.00", 4000)] {
        let order = json!({"user_id": "u1", "amount": {"value": value, "currency": "CNY"}, "description": "tea", "placed_at": placed(minutes)});
        assert_eq!(
            app.put(&format!("/v1/orders/{id}"), &key, &order).await.0,
            201
        );
    }
    let mum = json!({"user_id": "u1", "name": "Mum", "aliases": ["妈妈"], "verified": true});
    assert_eq!(app.put("/v1/contacts/mum", &key, &mum).await.0, 201);
    (app, creds)
}

/// Adds order `id` for shopper u1.
pub async fn add_order(app: &TestApp, key: &str, id: &str, value: &str) {
    let order = json!({"user_id": "u1", "amount": {"value": value, "currency": "CNY"}});
    let (status, body) = app.put(&format!("/v1/orders/{id}"), key, &order).await;
    assert_eq!(status, 201, "{body}");
}

pub async fn events(app: &TestApp, key: &str, id: &str) -> Vec<String> {
    let (status, log) = app.get(&format!("/v1/sessions/{id}/events"), key).await;
    assert_eq!(status, 200);
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_owned())
        .collect()
}

/// The first event of `kind` in session `id`'s audit log, whole.
pub async fn event(app: &TestApp, key: &str, id: &str, kind: &str) -> Value {
    let (status, log) = app.get(&format!("/v1/sessions/{id}/events"), key).await;
    assert_eq!(status, 200);
    let found = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == kind);
    found
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} event in {log}"))
}

/// Session `s`'s outbox row.
pub async fn submission(app: &TestApp, s: &Opened) -> countersign::store::Submission {
    let id = countersign::domain::SessionId::parse(&s.id).unwrap();
    let row = app.state.store.submission_for_session(id).await.unwrap();
    row.expect("outbox row")
}

pub async fn state(app: &TestApp, s: &Opened) -> String {
    app.get(&format!("/v1/sessions/{}", s.id), &s.token).await.1["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

pub fn count(events: &[String], kind: &str) -> usize {
    events.iter().filter(|e| *e == kind).count()
}

/// Opens a session that is waiting for consent to a 128.00 refund of order 1042.
pub async fn awaiting(app: &TestApp, key: &str) -> (Opened, Shopper, String) {
    let s = app
        .open_session(key, json!({"user_id": "u1", "text": "退款订单 1042 全额"}))
        .await;
    let mut shopper = app.connect(&s).await;
    let c = shopper.until("confirmation_required").await;
    (s, shopper, c["token"].as_str().unwrap().to_owned())
}
