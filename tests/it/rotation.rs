//! Confirmation key rotation: new confirmations are signed under the new kid at once on
//! every instance's next read of the merchant; tokens under the previous kid verify until
//! they could no longer be unexpired, and not after.

use chrono::TimeDelta;
use serde_json::json;

use countersign::clock::Clock;
use countersign::confirmation::Unsigned;
use countersign::domain::{Action, Currency, MerchantId, Money, OrderId};
use countersign::merchants::{self, API_SECRET_CONTEXT, cache::FRESH};

use crate::backend_tests;
use crate::fixtures::{awaiting, event, shop_with, state};
use crate::helpers::{Backend, TestApp, spawn_app_with};

fn acme() -> MerchantId {
    MerchantId::parse("acme").unwrap()
}

/// A token for session `id` signed with the merchant's key for `kid`, issued at `clock`'s
/// time: what an instance signing under `kid` would have issued.
async fn signed_under(app: &TestApp, clock: &Clock, kid: &str, id: &str) -> String {
    let m = app.state.store.merchant(&acme()).await.unwrap().unwrap();
    let secret = app
        .state
        .keys
        .open(API_SECRET_CONTEXT, &m.api_secret_sealed)
        .unwrap();
    let action = Action::Refund {
        order_id: OrderId::parse("1042").unwrap(),
        amount: Money::parse("128.00", Currency::CNY).unwrap(),
        reason: None,
    };
    let unsigned = Unsigned {
        session_id: id,
        merchant_id: "acme",
        action,
        summary: "Refund 128.00 CNY for order 1042.".into(),
        issued_at: clock.now(),
        ttl_seconds: 60,
        kid,
    };
    unsigned.sign(secret.expose()).token
}

async fn paused_shop(b: Backend) -> (TestApp, String, Clock) {
    let clock = Clock::paused();
    let app = spawn_app_with(b, |c| c.clock = clock.clone()).await;
    let (app, key) = shop_with(app, Some(json!({"confirmation_ttl_seconds": 60}))).await;
    (app, key, clock)
}

async fn a_token_issued_before_rotation_is_confirmed_after_it(b: Backend) {
    let (app, key, clock) = paused_shop(b).await;
    let (before, mut first, token) = awaiting(&app, &key).await;
    let offered = first.seen.last().unwrap().clone();
    assert_eq!(offered["payload"]["kid"], "k1");

    let rotated = merchants::rotate_key(app.state.store.as_ref(), &acme(), clock.now())
        .await
        .unwrap();
    assert_eq!(
        (rotated.kid.as_str(), rotated.previous_kid.as_str()),
        ("k2", "k1")
    );
    assert_eq!(
        rotated.previous_kid_retires_at,
        clock.now() + TimeDelta::seconds(60) + FRESH
    );
    let stored = app.state.store.merchant(&acme()).await.unwrap().unwrap();
    assert_eq!(
        (stored.signing_kid.as_str(), stored.previous_kid.as_deref()),
        ("k2", Some("k1"))
    );

    // Once the kept copy of the merchant is read again, new confirmations use the new kid.
    clock.advance(FRESH);
    let (after, mut second, fresh) = awaiting(&app, &key).await;
    assert_eq!(second.seen.last().unwrap()["payload"]["kid"], "k2");

    first.send(json!({"type": "confirm", "token": token})).await;
    first.until_state("pending_risk_check").await;
    second
        .send(json!({"type": "confirm", "token": fresh}))
        .await;
    second.until_state("pending_risk_check").await;
    let consent = event(&app, &key, &before.id, "confirmed").await;
    assert_eq!(consent["payload"]["via"], "socket");
    assert_ne!(state(&app, &after).await, "cancelled");
}

async fn a_previous_key_stops_verifying_when_it_retires(b: Backend) {
    let (app, key, clock) = paused_shop(b).await;
    let rotated = merchants::rotate_key(app.state.store.as_ref(), &acme(), clock.now())
        .await
        .unwrap();
    // A session whose confirmation (60 s) outlives the previous kid (60 s + FRESH).
    clock.advance(TimeDelta::seconds(30));
    let (s, mut shopper, _) = awaiting(&app, &key).await;

    // Before it retires, a k1 signature still verifies: this token is refused only for not
    // being the confirmation the session is waiting on, and the session waits on.
    let k1 = signed_under(&app, &clock, "k1", &s.id).await;
    shopper.send(json!({"type": "confirm", "token": k1})).await;
    assert_eq!(shopper.until("error").await["code"], "confirmation_stale");
    assert_eq!(state(&app, &s).await, "awaiting_confirmation");

    // Once k1 retires (60 s + FRESH after the rotation) its signature no longer verifies,
    // which is a tampered confirmation, and nothing moves.
    clock.advance(rotated.previous_kid_retires_at - clock.now());
    let k1 = signed_under(&app, &clock, "k1", &s.id).await;
    shopper.send(json!({"type": "confirm", "token": k1})).await;
    assert_eq!(
        shopper.until("error").await["code"],
        "confirmation_tampered"
    );
    assert_eq!(state(&app, &s).await, "cancelled");
    let (_, shown) = app.get(&format!("/v1/sessions/{}", s.id), &key).await;
    assert_eq!(shown["reason"], "confirmation_tampered");
    assert_eq!(app.count("submissions").await, 0);
}

/// An instance whose kept copy of the merchant predates a rotation made elsewhere reads the
/// merchant again when a token names the new kid, instead of calling it tampered.
#[cfg(pg_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_behind_a_rotation_accepts_the_new_kid() {
    use crate::helpers::spawn_peer;
    use crate::shopper::Shopper;

    let (first, key, clock) = paused_shop(Backend::Postgres).await;
    // The first instance keeps the merchant as it was (k1): its clock stands still.
    merchants::rotate_key(first.state.store.as_ref(), &acme(), clock.now())
        .await
        .unwrap();
    let second = spawn_peer(&first, |_| {}).await;
    let (s, mut there, token) = awaiting(&second, &key).await;
    assert_eq!(there.seen.last().unwrap()["payload"]["kid"], "k2");
    let mut here = Shopper::connect_to(&first.ws_url(&s.id), &s.token).await;
    here.send(json!({"type": "confirm", "token": token})).await;
    here.until_state("pending_risk_check").await;
    there.until_state("pending_risk_check").await;
}

backend_tests!(
    a_token_issued_before_rotation_is_confirmed_after_it,
    a_previous_key_stops_verifying_when_it_retires,
);
