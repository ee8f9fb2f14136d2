//! From consent to money: risk, review, the outbox, the sandbox provider and the signed
//! settlement webhook.

use serde_json::{Value, json};

use countersign::payments::webhook;

use crate::backend_tests;
use crate::fixtures::{add_order, count, event, events, shop, shop_with, stock, submission};
use crate::helpers::{Backend, TestApp, count_rows, spawn_app_with};
use crate::shopper::Opened;

/// Refunds `value` of order `order` through the socket and consents.
pub async fn consent(
    app: &TestApp,
    key: &str,
    order: &str,
    value: &str,
) -> (Opened, crate::shopper::Shopper) {
    let text = format!("退款订单 {order} ¥{value}");
    let s = app
        .open_session(key, json!({"user_id": "u1", "text": text}))
        .await;
    let mut shopper = app.connect(&s).await;
    let c = shopper.until("confirmation_required").await;
    assert_eq!(c["payload"]["action"]["amount"]["value"], value);
    shopper
        .send(json!({"type": "confirm", "token": c["token"]}))
        .await;
    (s, shopper)
}

async fn order_money(app: &TestApp, id: &str) -> Value {
    let order = app
        .state
        .store
        .order(
            &countersign::domain::MerchantId::parse("acme").unwrap(),
            &countersign::domain::OrderId::parse(id).unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    json!({"refunded": order.refunded.value_string(), "reserved": order.reserved.value_string(), "refundable": order.refundable().value_string()})
}

async fn a_refund_runs_from_first_message_to_settled(b: Backend) {
    let (app, key) = shop(b, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "100.00").await;
    shopper.until_state("pending_risk_check").await;
    shopper.until_state("submitted").await;
    shopper.until_state("settled").await;
    let log = events(&app, &key, &s.id).await;
    assert_eq!(
        &log[log.len() - 3..],
        ["confirmed", "risk_scored", "settlement_succeeded"]
    );
    assert_eq!(
        order_money(&app, "1042").await,
        json!({"refunded": "100.00", "reserved": "0.00", "refundable": "28.00"})
    );
    assert_eq!(count_rows(&app.db.url, "sandbox_payments").await, 1);
    assert_eq!(
        count_rows(&app.db.url, "submissions WHERE state = 'done'").await,
        1
    );
    assert_eq!(
        count_rows(&app.db.url, "webhook_inbox WHERE outcome = 'applied'").await,
        1
    );
    // The refunded money is gone from what a next refund may take.
    let again = app
        .open_session(&key, json!({"user_id": "u1", "text": "退款订单 1042 ¥50"}))
        .await;
    let mut shopper = app.connect(&again).await;
    shopper.until("agent_message").await; // the greeting
    let said = shopper.until("agent_message").await;
    assert_eq!(
        said["text"],
        "订单 1042 最多还可退 28.00 CNY，无法退 50.00 CNY。"
    );
}

async fn a_failing_outcome_fails_and_frees_the_money(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2002", "12.99").await;
    let (s, mut shopper) = consent(&app, &key, "2002", "12.99").await;
    let status = shopper.until_state("failed").await;
    assert_eq!(status["reason"], "settlement_failed");
    assert_eq!(
        count(&events(&app, &key, &s.id).await, "settlement_failed"),
        1
    );
    assert_eq!(order_money(&app, "2002").await["refundable"], "12.99");
}

async fn a_large_refund_waits_for_an_operator_who_approves_it(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2001", "900.00").await;
    let (s, mut shopper) = consent(&app, &key, "2001", "600.00").await;
    shopper.until_state("manual_review").await;
    let (status, queue) = app.get("/v1/reviews", &key).await;
    assert_eq!(status, 200);
    let item = &queue["reviews"][0];
    assert_eq!(item["session_id"], s.id.as_str());
    assert_eq!(item["codes"], json!(["amount_above_review"]));
    assert_eq!(item["action"]["amount"]["value"], "600.00");
    let decide = json!({"decision": "approve", "reviewer": "ops@acme", "note": "known customer"});
    let (status, body) = app
        .post(&format!("/v1/reviews/{}", s.id), &key, &decide)
        .await;
    assert_eq!(
        (status, body["state"].as_str()),
        (200, Some("submitted")),
        "{body}"
    );
    shopper.until_state("settled").await;
    let (status, again) = app
        .post(&format!("/v1/reviews/{}", s.id), &key, &decide)
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (409, Some("not_in_review"))
    );
    let approved = event(&app, &key, &s.id, "review_approved").await;
    assert_eq!(
        (
            approved["actor"].as_str(),
            approved["payload"]["decided_by"].as_str(),
            approved["payload"]["reviewer"].as_str()
        ),
        (Some("operator"), Some("acme"), Some("ops@acme"))
    );
    assert_eq!(app.get("/v1/reviews", &key).await.1["reviews"], json!([]));
}

async fn a_declined_refund_tells_the_shopper_nothing_of_why(b: Backend) {
    let (app, key) = shop(b, None).await;
    add_order(&app, &key, "2001", "900.00").await;
    let (s, mut shopper) = consent(&app, &key, "2001", "600.00").await;
    shopper.until_state("manual_review").await;
    let other = app.merchant("other", None).await;
    let decline = json!({"decision": "decline"});
    let (status, _) = app
        .post(&format!("/v1/reviews/{}", s.id), &other.api_key, &decline)
        .await;
    assert_eq!(status, 404, "another merchant cannot decide");
    assert_eq!(
        app.post(&format!("/v1/reviews/{}", s.id), &key, &decline)
            .await
            .0,
        200
    );
    declined_silently(
        &app,
        &s,
        &mut shopper,
        &["amount_above_review", "review_declined"],
    )
    .await;
    let (_, audit) = app.get(&format!("/v1/sessions/{}", s.id), &key).await;
    assert_eq!(audit["reason"], "review_declined");
    let decided = events(&app, &key, &s.id).await;
    assert_eq!(decided.last().map(String::as_str), Some("review_declined"));
}

/// The shopper hears only a neutral sentence: no reason and none of `hidden` on the socket
/// or in their own view of the session.
async fn declined_silently(
    app: &TestApp,
    s: &Opened,
    shopper: &mut crate::shopper::Shopper,
    hidden: &[&str],
) {
    let status = shopper.until_state("declined").await;
    assert!(status.get("reason").is_none(), "{status}");
    let said = shopper.until("agent_message").await;
    assert_eq!(said["text"], "我们无法完成此请求。");
    let seen = serde_json::to_string(&shopper.seen).unwrap();
    let (_, view) = app.get(&format!("/v1/sessions/{}", s.id), &s.token).await;
    assert!(view["reason"].is_null(), "{view}");
    for word in hidden {
        assert!(!seen.contains(word), "{word} in {seen}");
        assert!(!view.to_string().contains(word), "{word} in {view}");
    }
}

async fn a_refund_the_rules_decline_is_as_silent(b: Backend) {
    // Above review_above (0.5) and nearly the whole order (0.05): over decline_at.
    let policy = json!({"risk": {"review_at": 0.5, "decline_at": 0.55}});
    let (app, key) = shop(b, Some(policy)).await;
    add_order(&app, &key, "2001", "900.00").await;
    let (s, mut shopper) = consent(&app, &key, "2001", "850.00").await;
    let hidden = ["amount_above_review", "refund_near_full", "risk_scored"];
    declined_silently(&app, &s, &mut shopper, &hidden).await;
    let scored = event(&app, &key, &s.id, "risk_scored").await;
    assert_eq!(scored["to"], "declined");
    assert_eq!(
        scored["payload"]["codes"],
        json!(["amount_above_review", "refund_near_full"]),
        "{scored}"
    );
    assert_eq!(count_rows(&app.db.url, "submissions").await, 0);
    assert_eq!(order_money(&app, "2001").await["refundable"], "900.00");
}

async fn a_silent_remote_scorer_sends_the_refund_to_review(b: Backend) {
    let url = crate::helpers::silent_scorer().await;
    let app = spawn_app_with(b, |c| {
        c.risk_remote =
            Some(serde_json::from_value(json!({"url": url, "timeout_ms": 200})).unwrap());
    })
    .await;
    let (app, key) = shop_with(app, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "20.00").await;
    shopper.until_state("manual_review").await;
    let (_, queue) = app.get("/v1/reviews", &key).await;
    assert_eq!(queue["reviews"][0]["session_id"], s.id.as_str());
    assert_eq!(
        queue["reviews"][0]["codes"],
        json!(["remote_scorer_unavailable"])
    );
}

/// An app whose outbox is not delivered, so the test plays the provider.
async fn without_dispatcher(b: Backend) -> (TestApp, countersign::merchants::Credentials) {
    stock(spawn_app_with(b, |c| c.run_dispatcher = false).await, None).await
}

fn notification(s: &Opened, key: &str, kind: &str, value: &str) -> Value {
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "type": kind,
        "merchant_id": "acme",
        "session_id": s.id,
        "idempotency_key": key,
        "provider_reference": "psp_1",
        "amount": {"value": value, "currency": "CNY"},
        "created": chrono::Utc::now().timestamp(),
    })
}

async fn post_webhook(app: &TestApp, secret: &str, body: &[u8], at: i64) -> (u16, Value) {
    let r = app
        .http
        .post(app.url("/v1/webhooks/settlement"))
        .header("content-type", "application/json")
        .header("Countersign-Signature", webhook::sign(secret, at, body))
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    crate::helpers::read(r).await
}

async fn submitted(
    app: &TestApp,
    creds: &countersign::merchants::Credentials,
) -> (Opened, crate::shopper::Shopper, String) {
    let (s, mut shopper) = consent(app, &creds.api_key, "1042", "50.00").await;
    shopper.until_state("submitted").await;
    let sub = submission(app, &s).await;
    assert_eq!(sub.state.as_str(), "pending", "nothing delivered it");
    (s, shopper, sub.idempotency_key)
}

async fn the_same_webhook_ten_times_at_once_moves_the_session_once(b: Backend) {
    let (app, creds) = without_dispatcher(b).await;
    let (s, mut shopper, key) = submitted(&app, &creds).await;
    // Settlement before the provider acknowledged the submission: it still lands once.
    let body =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "50.00")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sends = (0..10).map(|_| post_webhook(&app, &creds.webhook_secret, &body, now));
    let answers = futures_util::future::join_all(sends).await;
    assert!(
        answers.iter().all(|(status, _)| *status == 200),
        "{answers:?}"
    );
    let applied = answers
        .iter()
        .filter(|(_, b)| b["outcome"] == "applied")
        .count();
    assert_eq!(applied, 1, "{answers:?}");
    shopper.until_state("settled").await;
    assert_eq!(
        count(
            &events(&app, &creds.api_key, &s.id).await,
            "settlement_succeeded"
        ),
        1
    );
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 1);
    assert_eq!(
        submission(&app, &s).await.state.as_str(),
        "done",
        "the outbox will not send it now"
    );
    // The provider's acknowledgement, arriving after its own webhook, changes nothing.
    app.state
        .store
        .submission_sent(&key, "sbx_late", chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(submission(&app, &s).await.state.as_str(), "done");
    assert_eq!(crate::fixtures::state(&app, &s).await, "settled");
    assert_eq!(
        countersign::workflow::outbox::drain_once(&app.state.flow).await,
        0
    );
    assert_eq!(count_rows(&app.db.url, "sandbox_payments").await, 0);
}

async fn stale_future_and_altered_webhooks_are_refused_and_not_stored(b: Backend) {
    let (app, creds) = without_dispatcher(b).await;
    let (s, _shopper, key) = submitted(&app, &creds).await;
    let body =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "50.00")).unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut flipped = body.clone();
    let at = flipped.iter().position(|&c| c == b'5').unwrap();
    flipped[at] = b'9';
    let signed_now = webhook::sign(&creds.webhook_secret, now, &body);
    let cases = [
        (
            webhook::sign(&creds.webhook_secret, now - 305, &body),
            body.clone(),
        ),
        (
            webhook::sign(&creds.webhook_secret, now + 305, &body),
            body.clone(),
        ),
        (signed_now.clone(), flipped),
        (webhook::sign("whsec_wrong", now, &body), body.clone()),
        ("t=1".to_owned(), body.clone()),
    ];
    for (header, payload) in cases {
        let r = app
            .http
            .post(app.url("/v1/webhooks/settlement"))
            .header("content-type", "application/json")
            .header("Countersign-Signature", header)
            .body(payload)
            .send()
            .await
            .unwrap();
        let (status, answer) = crate::helpers::read(r).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (401, Some("invalid_signature")),
            "{answer}"
        );
    }
    let unsigned = app
        .http
        .post(app.url("/v1/webhooks/settlement"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 0);
    assert_eq!(crate::fixtures::state(&app, &s).await, "submitted");
}

async fn unknown_sessions_and_mismatches_are_kept_but_move_nothing(b: Backend) {
    let (app, creds) = without_dispatcher(b).await;
    let (s, _shopper, key) = submitted(&app, &creds).await;
    let now = chrono::Utc::now().timestamp();
    let ghost = Opened {
        id: uuid::Uuid::new_v4().to_string(),
        token: String::new(),
    };
    let orphan = serde_json::to_vec(&notification(
        &ghost,
        "cs_x",
        "settlement.succeeded",
        "1.00",
    ))
    .unwrap();
    assert_eq!(
        post_webhook(&app, &creds.webhook_secret, &orphan, now)
            .await
            .1["outcome"],
        "orphan"
    );
    let wrong_amount =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "49.99")).unwrap();
    assert_eq!(
        post_webhook(&app, &creds.webhook_secret, &wrong_amount, now)
            .await
            .1["outcome"],
        "mismatch"
    );
    assert_eq!(
        post_webhook(&app, &creds.webhook_secret, &orphan, now)
            .await
            .1["outcome"],
        "duplicate"
    );
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 2);
    assert_eq!(crate::fixtures::state(&app, &s).await, "submitted");
}

async fn dead_letters_are_visible_to_the_merchant(b: Backend) {
    let (app, creds) = without_dispatcher(b).await;
    let (s, _shopper, key) = submitted(&app, &creds).await;
    let now = chrono::Utc::now();
    app.state
        .store
        .submission_dead(&key, "provider unreachable", now)
        .await
        .unwrap();
    let (status, dead) = app.get("/v1/submissions", &creds.api_key).await;
    assert_eq!(status, 200);
    assert_eq!(dead["submissions"][0]["session_id"], s.id.as_str());
    assert_eq!(dead["submissions"][0]["last_error"], "provider unreachable");
    let (status, _) = app
        .get("/v1/submissions?state=nonsense", &creds.api_key)
        .await;
    assert_eq!(status, 400);
}

async fn metrics_tell_an_operator_what_happened(b: Backend) {
    let (app, key) = shop(b, None).await;
    let (_s, mut shopper) = consent(&app, &key, "1042", "10.00").await;
    shopper.until_state("settled").await;
    // The shopper hears of the settlement while the webhook's answer is still on its way,
    // and the webhook is counted as it is answered: read the metrics once it is.
    let applied = "countersign_webhooks_total{result=\"applied\"} 1";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let r = app.http.get(app.url("/metrics")).send().await.unwrap();
        let text = r.text().await.unwrap();
        if text.contains(applied) || std::time::Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    for series in [
        "countersign_turn_seconds_bucket{frame=\"confirm\"",
        "countersign_transitions_total{from=\"submitted\",to=\"settled\"} 1",
        "countersign_sessions{state=\"settled\"} 1",
        "countersign_webhooks_total{result=\"applied\"} 1",
        "countersign_outbox_pending 0",
        "countersign_sockets_active 1",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

/// Two instances share one Postgres: the socket is on B, the webhook lands on A.
#[cfg(pg_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_webhook_on_one_instance_reaches_a_socket_on_another() {
    let (a, creds) = without_dispatcher(Backend::Postgres).await;
    let b = crate::helpers::spawn_peer(&a, |c| c.run_dispatcher = false).await;
    let (s, mut on_b) = consent(&b, &creds.api_key, "1042", "50.00").await;
    on_b.until_state("submitted").await;
    let key = submission(&a, &s).await.idempotency_key;
    let body =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "50.00")).unwrap();
    let (status, answer) = post_webhook(
        &a,
        &creds.webhook_secret,
        &body,
        chrono::Utc::now().timestamp(),
    )
    .await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    on_b.until_state("settled").await;
}

/// A provider that hangs up while its notification is being committed must not keep the
/// settlement from the shopper: the write and the delivery of its frames to this instance's
/// sockets finish without the request. (This instance's relay skips its own announcements.)
#[cfg(pg_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_provider_hanging_up_mid_commit_still_settles_the_socket() {
    let (app, creds) = without_dispatcher(Backend::Postgres).await;
    let (s, mut shopper, key) = submitted(&app, &creds).await;
    // From here, a transaction that stored a notification sleeps a second in its COMMIT.
    crate::helpers::execute(
        &app.db.url,
        "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql \
         AS $$ BEGIN PERFORM pg_sleep(1); RETURN NULL; END $$",
    )
    .await;
    crate::helpers::execute(
        &app.db.url,
        "CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON webhook_inbox \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()",
    )
    .await;
    let body =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "50.00")).unwrap();
    let at = chrono::Utc::now().timestamp();
    let provider = tokio::spawn(
        app.http
            .post(app.url("/v1/webhooks/settlement"))
            .header("content-type", "application/json")
            .header(
                webhook::HEADER,
                webhook::sign(&creds.webhook_secret, at, &body),
            )
            .body(body)
            .send(),
    );
    // The transition is one statement: its implicit commit runs the deferred trigger.
    let sleeping = "pg_stat_activity WHERE datname = current_database() \
                    AND query LIKE 'WITH moved%' AND wait_event = 'PgSleep'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while count_rows(&app.db.url, sleeping).await == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no commit reached the trigger"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    provider.abort();
    shopper.until_state("settled").await;
}

/// A webhook that lands on an instance holding no copy of its session is settled from its
/// submission in one statement: the state, the event from `submitted`, the frames in the
/// shopper's language (relayed to the socket on the other instance), the order's money, the
/// submission and the inbox row. A copy of it is a duplicate; a notification that does not
/// match its submission takes the general path and moves nothing.
#[cfg(pg_tests)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_webhook_on_an_instance_without_the_session_settles_it_in_one_statement() {
    let (app, creds) = without_dispatcher(Backend::Postgres).await;
    let peer = crate::helpers::spawn_peer(&app, |_| {}).await;
    let (s, mut shopper, key) = submitted(&app, &creds).await;
    let now = chrono::Utc::now().timestamp();

    let wrong = serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "49.00"));
    let (status, answer) = post_webhook(&peer, &creds.webhook_secret, &wrong.unwrap(), now).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("mismatch"))
    );
    assert_eq!(crate::fixtures::state(&app, &s).await, "submitted");

    let body =
        serde_json::to_vec(&notification(&s, &key, "settlement.succeeded", "50.00")).unwrap();
    let (status, answer) = post_webhook(&peer, &creds.webhook_secret, &body, now).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("applied")));
    shopper.until_state("settled").await;
    let said = shopper.until("agent_message").await;
    assert_eq!(said["text"], "完成：支付机构已确认。");
    let from_submitted = format!(
        "session_events WHERE session_id = '{}' AND kind = 'settlement_succeeded' \
         AND from_state = 'submitted' AND to_state = 'settled'",
        s.id
    );
    assert_eq!(count_rows(&app.db.url, &from_submitted).await, 1);
    assert_eq!(
        order_money(&app, "1042").await,
        json!({"refunded": "50.00", "reserved": "0.00", "refundable": "78.00"})
    );
    assert_eq!(submission(&app, &s).await.state.as_str(), "done");
    let inbox = "webhook_inbox WHERE outcome = 'applied' AND kind = 'settlement.succeeded'";
    assert_eq!(count_rows(&app.db.url, inbox).await, 1);

    let (status, again) = post_webhook(&peer, &creds.webhook_secret, &body, now).await;
    assert_eq!(
        (status, again["outcome"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(
        count(
            &events(&app, &creds.api_key, &s.id).await,
            "settlement_succeeded"
        ),
        1
    );
}

backend_tests!(
    a_refund_runs_from_first_message_to_settled,
    a_failing_outcome_fails_and_frees_the_money,
    a_large_refund_waits_for_an_operator_who_approves_it,
    a_declined_refund_tells_the_shopper_nothing_of_why,
    a_refund_the_rules_decline_is_as_silent,
    a_silent_remote_scorer_sends_the_refund_to_review,
    the_same_webhook_ten_times_at_once_moves_the_session_once,
    stale_future_and_altered_webhooks_are_refused_and_not_stored,
    unknown_sessions_and_mismatches_are_kept_but_move_nothing,
    dead_letters_are_visible_to_the_merchant,
    metrics_tell_an_operator_what_happened,
);
