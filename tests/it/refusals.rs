//! Business refusals are clear 4xx answers and leave nothing stuck: a review approval the
//! order can no longer pay, and amounts above the documented maximum everywhere one enters.

use serde_json::json;

use crate::backend_tests;
use crate::fixtures::{add_order, event, shop, state};
use crate::helpers::{Backend, assert_error};
use crate::settlement::consent;

async fn an_approval_the_order_can_no_longer_pay_is_a_409_and_declines(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2001", "1000.00").await;
    let (first, mut one) = consent(&app, &key, "2001", "600.00").await;
    one.until_state("manual_review").await;
    let (second, mut two) = consent(&app, &key, "2001", "600.00").await;
    two.until_state("manual_review").await;
    let approve = json!({"decision": "approve", "reviewer": "ops@acme"});
    let (status, body) = app
        .post(&format!("/v1/reviews/{}", first.id), &key, &approve)
        .await;
    assert_eq!((status, body["state"].as_str()), (200, Some("submitted")));
    let refused = app
        .post(&format!("/v1/reviews/{}", second.id), &key, &approve)
        .await;
    assert_error(&refused, 409, "insufficient_refundable", "declined");
    let status = two.until_state("declined").await;
    assert_eq!(status.get("reason"), None, "a decline is never explained");
    assert_eq!(
        two.until("agent_message").await["text"],
        "我们无法完成此请求。"
    );
    assert_eq!(state(&app, &second).await, "declined");
    let declined = event(&app, &key, &second.id, "review_declined").await;
    assert_eq!(declined["payload"]["refused"], "insufficient_refundable");
    assert_eq!(declined["actor"], "system");
    let again = app
        .post(&format!("/v1/reviews/{}", second.id), &key, &approve)
        .await;
    assert_error(&again, 409, "not_in_review", "declined");
    assert_eq!(app.get("/v1/reviews", &key).await.1["reviews"], json!([]));
    one.until_state("settled").await;
}

async fn amounts_above_the_maximum_are_refused_where_they_enter(b: Backend) {
    let (app, key) = shop(b, None).await;
    for value in ["92233720368547758.07", "10000000000.01"] {
        let order = json!({"user_id": "u1", "amount": {"value": value, "currency": "CNY"}});
        let got = app.put("/v1/orders/9001", &key, &order).await;
        assert_error(
            &got,
            422,
            "validation_failed",
            "maximum of 10000000000.00 CNY",
        );
    }
    let largest =
        json!({"user_id": "u1", "amount": {"value": "10000000000.00", "currency": "CNY"}});
    assert_eq!(app.put("/v1/orders/9001", &key, &largest).await.0, 201);
    let policy = json!({"refund": {"max_amount": "10000000000.01"}});
    let refused = countersign::merchants::validate_policy(Some(&policy)).unwrap_err();
    assert!(refused.to_string().contains("maximum"), "{refused}");
    let s = app
        .open_session(&key, json!({"user_id": "u1", "text": "退款订单 9001"}))
        .await;
    let mut shopper = app.connect(&s).await;
    shopper.until("clarify").await;
    shopper.say("¥10000000000.01").await;
    let asked = shopper.until("clarify").await;
    assert_eq!(
        asked["question"],
        "不接受超过 10000000000.00 CNY 的金额。请告诉我金额。"
    );
    assert_eq!(state(&app, &s).await, "clarifying");
}

backend_tests!(
    an_approval_the_order_can_no_longer_pay_is_a_409_and_declines,
    amounts_above_the_maximum_are_refused_where_they_enter,
);
