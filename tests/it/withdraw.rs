//! Withdrawing consent while the payment is held: during the risk check or an operator's
//! review the shopper may take it back; once submitted, the payment is on its way and a
//! withdrawal changes nothing.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{add_order, events, shop, shop_with};
use crate::helpers::{Backend, TestApp, assert_error, count_rows, spawn_app_with};
use crate::settlement::consent;
use crate::shopper::{Opened, Shopper};

/// The session's `submissions` rows, straight from the database.
async fn submissions(app: &TestApp, s: &Opened) -> i64 {
    let table = format!("submissions WHERE session_id = '{}'", s.id);
    count_rows(&app.db.url, &table).await
}

async fn view(app: &TestApp, key: &str, s: &Opened) -> Value {
    let (status, body) = app.get(&format!("/v1/sessions/{}", s.id), key).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Sends `cancel` and reads until the server answers it: the session's new status, or an
/// error frame.
async fn withdraw(shopper: &mut Shopper) -> Value {
    shopper.send(json!({"type": "cancel"})).await;
    loop {
        let f = shopper.next().await;
        if f["type"] == "error" || (f["type"] == "status" && f["state"] == "cancelled") {
            return f;
        }
    }
}

async fn a_withdrawal_during_review_cancels_and_moves_nothing(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2001", "900.00").await;
    let (s, mut shopper) = consent(&app, &key, "2001", "600.00").await;
    shopper.until_state("manual_review").await;

    let answer = withdraw(&mut shopper).await;

    assert_eq!(
        answer,
        json!({"type": "status", "seq": answer["seq"], "state": "cancelled", "reason": "withdrawn"})
    );
    let said = shopper.until("agent_message").await;
    assert!(
        said["text"].as_str().unwrap().contains("Withdrawn")
            || said["text"].as_str().unwrap().contains("撤回")
    );
    let session = view(&app, &key, &s).await;
    assert_eq!(
        (session["state"].as_str(), session["reason"].as_str()),
        (Some("cancelled"), Some("withdrawn"))
    );
    assert_eq!(events(&app, &key, &s.id).await.last().unwrap(), "cancelled");
    assert_eq!(submissions(&app, &s).await, 0);
    assert_eq!(app.get("/v1/reviews", &key).await.1["reviews"], json!([]));
    let approve = json!({"decision": "approve"});
    let late = app
        .post(&format!("/v1/reviews/{}", s.id), &key, &approve)
        .await;
    assert_error(&late, 409, "not_in_review", "cancelled");
    assert_eq!(
        submissions(&app, &s).await,
        0,
        "a late approval moves nothing"
    );
}

async fn a_withdrawal_during_the_risk_check_cancels_it(b: Backend) {
    // The scorer never answers: the session waits in pending_risk_check.
    let url = crate::helpers::silent_scorer().await;
    let app = spawn_app_with(b, |c| {
        c.risk_remote =
            Some(serde_json::from_value(json!({"url": url, "timeout_ms": 600_000})).unwrap());
    })
    .await;
    let (app, key) = shop_with(app, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "20.00").await;
    shopper.until_state("pending_risk_check").await;

    let answer = withdraw(&mut shopper).await;

    assert_eq!(
        (answer["state"].as_str(), answer["reason"].as_str()),
        (Some("cancelled"), Some("withdrawn"))
    );
    let session = view(&app, &key, &s).await;
    assert_eq!(session["reason"], "withdrawn");
    assert_eq!(submissions(&app, &s).await, 0);
}

async fn a_withdrawal_after_submission_is_told_the_payment_is_on_its_way(b: Backend) {
    // No dispatcher: the submission waits in the outbox, the session in `submitted`.
    let app = spawn_app_with(b, |c| c.run_dispatcher = false).await;
    let (app, key) = shop_with(app, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "20.00").await;
    shopper.until_state("submitted").await;
    let before = view(&app, &key, &s).await;

    let answer = withdraw(&mut shopper).await;

    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(answer["code"], "already_submitted");
    assert!(answer["message"].as_str().unwrap().contains("on its way"));
    // Over the menu's plain HTTP, the same answer.
    let menu = format!("/v1/sessions/{}/menu", s.id);
    let by_menu = app.post(&menu, &s.token, &json!({"type": "cancel"})).await;
    assert_error(&by_menu, 409, "already_submitted", "on its way");
    let after = view(&app, &key, &s).await;
    assert_eq!(after["state"], "submitted");
    assert_eq!(after["version"], before["version"], "nothing changed");
    assert_eq!(submissions(&app, &s).await, 1);
}

async fn the_menu_withdraws_a_held_payment(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2001", "900.00").await;
    let (s, mut shopper) = consent(&app, &key, "2001", "600.00").await;
    shopper.until_state("manual_review").await;

    let menu = format!("/v1/sessions/{}/menu", s.id);
    let (status, body) = app.post(&menu, &s.token, &json!({"type": "cancel"})).await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "cancelled");
    let status_frame = body["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["type"] == "status");
    assert_eq!(status_frame.unwrap()["reason"], "withdrawn");
    assert_eq!(submissions(&app, &s).await, 0);
}

/// Shopper `user` consents to a refund of 600.00 of an order of 900.00, which waits for
/// an operator.
async fn held_for_review(app: &TestApp, key: &str, user: &str) -> (Opened, Shopper) {
    let order = json!({"user_id": user, "amount": {"value": "900.00", "currency": "CNY"}});
    let put = app.put(&format!("/v1/orders/o-{user}"), key, &order).await;
    assert_eq!(put.0, 201, "{}", put.1);
    let text = format!("退款订单 o-{user} ¥600.00");
    let s = app
        .open_session(key, json!({"user_id": user, "text": text}))
        .await;
    let mut shopper = app.connect(&s).await;
    let c = shopper.until("confirmation_required").await;
    shopper
        .send(json!({"type": "confirm", "token": c["token"]}))
        .await;
    shopper.until_state("manual_review").await;
    (s, shopper)
}

/// An operator approves while the shopper withdraws, at the same moment, many times over.
/// On Postgres the approval goes through another instance, so only the version guard of the
/// one-statement write keeps them apart; the embedded database has one instance. Whichever
/// wins, exactly one thing happened: either the payment was submitted and the shopper was
/// told it is on its way, or the session was withdrawn and nothing was submitted.
async fn a_withdrawal_racing_an_approval_has_one_winner(b: Backend) {
    let (app, key) = shop(b, None).await;
    let peer = match b {
        Backend::Postgres => Some(crate::helpers::spawn_peer(&app, |_| {}).await),
        Backend::Sqlite => None,
    };
    let operator = peer.as_ref().unwrap_or(&app);
    for round in 0..8 {
        // A shopper of their own each round, so the velocity rules see one refund each.
        let (s, mut shopper) = held_for_review(&app, &key, &format!("r{round}")).await;
        let path = format!("/v1/reviews/{}", s.id);
        let approve = json!({"decision": "approve"});

        // The shopper withdraws over the socket in even rounds and over the menu's plain
        // HTTP in odd ones, where the two requests travel alike.
        let heard = async {
            if round % 2 == 0 {
                let f = withdraw(&mut shopper).await;
                match f["type"].as_str() {
                    Some("error") => Err(f["code"].as_str().unwrap_or_default().to_owned()),
                    _ => Ok(f["reason"].as_str().unwrap_or_default().to_owned()),
                }
            } else {
                let menu = format!("/v1/sessions/{}/menu", s.id);
                let (status, body) = app.post(&menu, &s.token, &json!({"type": "cancel"})).await;
                match status {
                    200 => Ok(body["frames"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .find(|f| f["type"] == "status")
                        .map_or("", |f| f["reason"].as_str().unwrap_or_default())
                        .to_owned()),
                    _ => Err(body["error"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()),
                }
            }
        };
        let (heard, decided) = tokio::join!(heard, operator.post(&path, &key, &approve));

        let state = view(&app, &key, &s).await;
        if decided.0 == 200 {
            assert_eq!(heard, Err("already_submitted".to_owned()), "round {round}");
            assert_ne!(state["state"], "cancelled");
            assert_eq!(submissions(&app, &s).await, 1, "round {round}");
        } else {
            assert_eq!(decided.0, 409, "round {round}: {}", decided.1);
            assert_eq!(heard, Ok("withdrawn".to_owned()), "round {round}");
            assert_eq!(state["reason"], "withdrawn");
            assert_eq!(
                submissions(&app, &s).await,
                0,
                "round {round}: money moved after a withdrawal"
            );
        }
    }
}

backend_tests!(
    a_withdrawal_during_review_cancels_and_moves_nothing,
    a_withdrawal_during_the_risk_check_cancels_it,
    a_withdrawal_after_submission_is_told_the_payment_is_on_its_way,
    the_menu_withdraws_a_held_payment,
    a_withdrawal_racing_an_approval_has_one_winner,
);
