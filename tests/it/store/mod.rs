//! The storage conformance suite: every backend must behave the same.

use std::sync::Arc;

use chrono::TimeDelta;
use countersign::clock::now;
use countersign::domain::draft::Draft;
use countersign::domain::machine::{self, Event, RiskThresholds, Score};
use countersign::domain::*;
use countersign::store::*;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestDb, count_rows};

mod book;
mod idempotency;
mod payments;
mod risk;
mod sessions;

fn merchant(id: &str) -> Merchant {
    Merchant {
        id: MerchantId::parse(id).unwrap(),
        api_key_hash: format!("hash-of-{id}"),
        api_secret_sealed: "sealed-api".into(),
        webhook_secret_sealed: "sealed-webhook".into(),
        signing_kid: "k1".into(),
        previous_kid: None,
        previous_kid_retires_at: None,
        policy: PolicyDoc::default(),
        created_at: now(),
    }
}

fn cny(v: &str) -> Money {
    Money::parse(v, Currency::CNY).unwrap()
}

fn refund(order: &str, amount: &str) -> Action {
    Action::Refund {
        order_id: OrderId::parse(order).unwrap(),
        amount: cny(amount),
        reason: None,
    }
}

fn order(id: &str, user: &str, amount: &str, age_minutes: i64) -> Order {
    Order {
        merchant_id: MerchantId::parse("acme").unwrap(),
        order_id: OrderId::parse(id).unwrap(),
        user_id: UserId::parse(user).unwrap(),
        amount: cny(amount),
        refunded: cny("0"),
        reserved: cny("0"),
        description: Some("tea".into()),
        alipay_trade_no: None,
        placed_at: now() - TimeDelta::minutes(age_minutes),
        updated_at: now(),
    }
}

fn opened() -> NewEvent {
    NewEvent {
        kind: EventKind::Opened,
        actor: Actor::Merchant,
        payload: json!({"text": "hi"}),
    }
}

async fn store_with_merchant(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_merchant(&merchant("acme")).await.unwrap();
    (db, store)
}

async fn new_session(store: &dyn Store) -> Session {
    let s = NewSession {
        id: SessionId::new(),
        merchant_id: MerchantId::parse("acme").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        channel: Mode::Chat,
        device: Some("phone".into()),
        client_token_hash: "token-hash".into(),
        created_at: now(),
        draft: Default::default(),
        frames: Vec::new(),
    };
    store.create_session(&s, &opened()).await.unwrap()
}

/// Runs `event` through the state machine and persists the result.
async fn step(store: &dyn Store, s: &Session, event: Event) -> Result<Session> {
    let t = machine::transition(s.state, &event).expect("allowed");
    let mut change = s.change(now());
    change.state = t.to;
    change.reason = t.reason;
    let e = NewEvent {
        kind: event.kind(),
        actor: Actor::System,
        payload: json!({}),
    };
    store
        .apply(
            s.id,
            s.version,
            &Commit::new(change.clone(), e.clone(), vec![]),
        )
        .await
}

async fn execute(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    }
}

/// A session in `submitted` with its outbox row, written as the engine writes it.
async fn submitted_session(store: &dyn Store) -> (Session, String) {
    submitted_session_leased(store, None).await
}

/// As `submitted_session`, the row leased until `leased_until` when given.
async fn submitted_session_leased(
    store: &dyn Store,
    leased_until: Option<chrono::DateTime<chrono::Utc>>,
) -> (Session, String) {
    let s = new_session(store).await;
    let mut change = s.change(now());
    change.state = SessionState::Submitted;
    let e = NewEvent {
        kind: EventKind::RiskScored,
        actor: Actor::System,
        payload: json!({}),
    };
    let key = format!("cs_{}", s.id.to_string().replace('-', ""));
    let mut commit = Commit::new(change, e, vec![]);
    commit.submission = Some(NewSubmission {
        idempotency_key: key.clone(),
        session_id: s.id,
        merchant_id: MerchantId::parse("acme").unwrap(),
        provider: "sandbox".into(),
        action: refund("1042", "10.00"),
        amount: cny("10.00"),
        at: now(),
        leased_until,
    });
    (store.apply(s.id, 1, &commit).await.unwrap(), key)
}

/// A session of `user` that has just consented (entered `pending_risk_check`).
async fn consented_session(store: &dyn Store, user: &str) -> Session {
    let mut s = new_session(store).await;
    if user != "u1" {
        s = store
            .create_session(
                &NewSession {
                    id: SessionId::new(),
                    user_id: UserId::parse(user).unwrap(),
                    merchant_id: s.merchant_id.clone(),
                    channel: Mode::Chat,
                    device: None,
                    client_token_hash: "token-hash".into(),
                    created_at: now(),
                    draft: Default::default(),
                    frames: Vec::new(),
                },
                &opened(),
            )
            .await
            .unwrap();
    }
    let mut change = s.change(now());
    change.state = SessionState::PendingRiskCheck;
    let e = NewEvent {
        kind: EventKind::Confirmed,
        actor: Actor::Shopper,
        payload: json!({}),
    };
    store
        .apply(s.id, s.version, &Commit::new(change, e, vec![]))
        .await
        .unwrap()
}
