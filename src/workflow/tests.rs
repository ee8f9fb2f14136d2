//! Each effect the machine names is carried out by `commit` alone: these tests store a
//! transition and nothing else, then look for the effect's result.

use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::{Value, json};

use super::*;
use crate::domain::machine::{Effect, Event};
use crate::domain::{
    Action, Actor, Currency, EventKind, Mode, Money, OrderId, PolicyDoc, SessionId, SessionState,
};
use crate::payments::sandbox::Sandbox;
use crate::risk::rules::LocalRules;
use crate::store::SubmissionState;

/// A workflow on a fresh embedded database, with one shopper's order 1042 (128.00 CNY)
/// and a session opened for them.
async fn workflow(dir: &tempfile::TempDir, policy: PolicyDoc) -> (Workflow, SessionId) {
    crate::metrics::handle();
    let clock = Clock::paused();
    let (store, keys, id) = crate::testing::shop(dir, policy, clock.now()).await;
    let merchants = Arc::new(MerchantCache::default());
    let provider = Arc::new(Sandbox::new(
        store.clone(),
        keys.clone(),
        merchants.clone(),
        Default::default(),
        "http://127.0.0.1:9",
        clock.clone(),
    ));
    let flow = Workflow::new(
        store,
        keys,
        merchants,
        Arc::new(LocalRules),
        provider,
        clock,
        true,
    );
    (flow, id)
}

/// Brings the session to `awaiting_confirmation` with a refund of 50.00 on order 1042.
async fn awaiting(flow: &Workflow, id: SessionId) -> SessionContext {
    let ctx = flow.load(id).await.unwrap();
    let action = Action::Refund {
        order_id: OrderId::parse("1042").unwrap(),
        amount: Money::parse("50.00", Currency::CNY).unwrap(),
        reason: None,
    };
    let expires = flow.clock.now() + TimeDelta::minutes(5);
    let step = Step::new(Actor::System, json!({}));
    flow.commit(&ctx, Event::ConfirmationIssued, step, |c| {
        c.change.proposed_action = Some(action);
        c.change.confirmation_hash = Some("token-hash".into());
        c.change.confirmation_expires_at = Some(expires);
    })
    .await
    .unwrap();
    flow.load(id).await.unwrap()
}

/// Waits for the status frame that announces `state`.
async fn until_state(live: &mut hub::Subscription, state: &str) {
    let wait = async {
        loop {
            let frame = live.recv().await.expect("the hub is open");
            if frame.frame["type"] == "status" && frame.frame["state"] == state {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("the session never reached {state}"));
}

async fn kinds(flow: &Workflow, id: SessionId) -> Vec<EventKind> {
    let events = flow.store.events(id).await.unwrap();
    events.into_iter().map(|e| e.kind).collect()
}

#[tokio::test]
async fn consent_voids_the_summary_and_the_risk_check_and_submission_follow_by_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (flow, id) = workflow(&dir, PolicyDoc::default()).await;
    let ctx = awaiting(&flow, id).await;
    let mut live = flow.hub.subscribe(id);

    let planned = flow.plan(&ctx, Event::Confirmed).unwrap();
    assert!(planned.names(Effect::VoidConfirmation) && planned.names(Effect::AssessRisk));
    let step = Step::new(Actor::Shopper, json!({}));
    let saved = flow
        .commit_planned(&ctx, planned, step, |_| {})
        .await
        .unwrap();

    // VoidConfirmation: written with the state change.
    assert_eq!(saved.state, SessionState::PendingRiskCheck);
    assert_eq!(
        (saved.confirmation_hash, saved.confirmation_expires_at),
        (None, None)
    );
    // AssessRisk: nobody else asked for the assessment, and it happened.
    until_state(&mut live, "submitted").await;
    let log = kinds(&flow, id).await;
    assert_eq!(
        log.iter().filter(|k| **k == EventKind::RiskScored).count(),
        1
    );
    // SubmitToProvider: the outbox row, leased to this instance as its first attempt, and
    // the order's hold; then the row handed to the provider at once.
    let submission = flow.store.submission_for_session(id).await.unwrap();
    let submission = submission.expect("the outbox row");
    let fifty = Money::parse("50.00", Currency::CNY).unwrap();
    assert_eq!(submission.amount, fifty);
    let order_id = OrderId::parse("1042").unwrap();
    let order = flow.store.order(&ctx.session.merchant_id, &order_id).await;
    assert_eq!(order.unwrap().unwrap().reserved, fifty);
    assert_eq!(submission.attempts, 1);
    let delivered = async {
        loop {
            let row = flow.store.submission_for_session(id).await.unwrap();
            if row.unwrap().state == SubmissionState::Sent {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    let sent = tokio::time::timeout(Duration::from_secs(5), delivered).await;
    assert!(
        sent.is_ok(),
        "the provider has it, with no dispatcher running"
    );
}

#[tokio::test]
async fn a_score_in_the_review_band_queues_the_session_for_an_operator() {
    let dir = tempfile::tempdir().unwrap();
    let mut policy = PolicyDoc::default();
    policy.refund.review_above = "10.00".into();
    let (flow, id) = workflow(&dir, policy).await;
    let ctx = awaiting(&flow, id).await;
    let mut live = flow.hub.subscribe(id);

    let step = Step::new(Actor::Shopper, json!({}));
    flow.commit(&ctx, Event::Confirmed, step, |_| {})
        .await
        .unwrap();

    until_state(&mut live, "manual_review").await;
    let queued = crate::metrics::handle().render();
    let line = queued
        .lines()
        .find(|l| l.starts_with(crate::metrics::REVIEWS_QUEUED))
        .expect("the review counter");
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        flow.store
            .submission_for_session(id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_menu_fallback_switches_the_session_to_the_menu() {
    let dir = tempfile::tempdir().unwrap();
    let (flow, id) = workflow(&dir, PolicyDoc::default()).await;
    let ctx = flow.load(id).await.unwrap();
    let payload: Value = json!({ "cause": "model_unavailable" });

    let saved = flow
        .commit(
            &ctx,
            Event::MenuFallback,
            Step::new(Actor::System, payload),
            |_| {},
        )
        .await
        .unwrap();

    assert_eq!(
        (saved.state, saved.mode),
        (SessionState::Collecting, Mode::Menu)
    );
    assert_eq!(flow.load(id).await.unwrap().session.mode, Mode::Menu);
}

#[tokio::test]
async fn a_transition_planned_in_another_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (flow, id) = workflow(&dir, PolicyDoc::default()).await;
    let before = flow.load(id).await.unwrap();
    let planned = flow.plan(&before, Event::Cancelled).unwrap();
    let now = awaiting(&flow, id).await;

    let step = Step::new(Actor::Shopper, json!({}));
    let refused = flow.commit_planned(&now, planned, step, |_| {}).await;

    assert_eq!(refused.unwrap_err(), Error::Internal);
    assert_eq!(
        flow.load(id).await.unwrap().session.state,
        SessionState::AwaitingConfirmation
    );
}

#[tokio::test]
async fn a_notification_counts_only_for_the_submission_the_session_made() {
    let dir = tempfile::tempdir().unwrap();
    let (flow, id) = workflow(&dir, PolicyDoc::default()).await;
    let ctx = awaiting(&flow, id).await;
    let action = ctx.session.proposed_action.clone().unwrap();
    let notice = |event: &str, key: &str| crate::payments::webhook::Notification {
        id: event.into(),
        kind: crate::payments::webhook::SUCCEEDED.into(),
        merchant_id: "acme".into(),
        session_id: id.to_string(),
        idempotency_key: key.into(),
        provider_reference: "ref".into(),
        amount: action.amount(),
        failure_reason: None,
        created: 0,
    };
    let key = crate::payments::idempotency_key(id, &action);
    let settle = |n| {
        let flow = flow.clone();
        async move { flow.settle(&n, json!({})).await.unwrap() }
    };

    // The key its action would give, before anything was submitted.
    assert_eq!(settle(notice("e1", &key)).await, SettleOutcome::Mismatch);
    let mut live = flow.hub.subscribe(id);
    let step = Step::new(Actor::Shopper, json!({}));
    flow.commit(&ctx, Event::Confirmed, step, |_| {})
        .await
        .unwrap();
    until_state(&mut live, "submitted").await;
    assert_eq!(
        settle(notice("e2", "cs_other")).await,
        SettleOutcome::Mismatch
    );
    assert_eq!(settle(notice("e3", &key)).await, SettleOutcome::Applied);
    assert_eq!(settle(notice("e3", &key)).await, SettleOutcome::Duplicate);
    assert_eq!(settle(notice("e4", &key)).await, SettleOutcome::Ignored);
    assert_eq!(
        flow.load(id).await.unwrap().session.state,
        SessionState::Settled
    );
}
