//! The Alipay provider end to end: sessions driven over HTTP and the socket to
//! `submitted`, refunds and transfers sent to a loopback gateway that checks their
//! signatures, and signed notifications posted to /v1/webhooks/alipay.

use std::time::Duration;

use countersign::config::ProviderKind;
use countersign::merchants::Credentials;
use countersign::payments::alipay::api::config::{AlipaySettings, Text};
use countersign::secrets::Secret;
use countersign::store::{Submission, SubmissionState};
use serde_json::json;

use crate::alipay_gateway::{
    APP_ID, FakeGateway, Script, TRADE_NO, TRANSFER_ORDER, key, refund_notify, signed_notify,
    transfer_notify,
};
use crate::backend_tests;
use crate::fixtures::{count, events, state, stock, submission};
use crate::helpers::{Backend, TestApp, count_rows, execute, spawn_app_with};
use crate::settlement::consent;
use crate::shopper::Opened;

/// Longest a test waits for the outbox to record an answer.
const PATIENCE: Duration = Duration::from_secs(15);

fn settings(gateway: &str) -> AlipaySettings {
    AlipaySettings {
        app_id: Some(Text::Text(APP_ID.into())),
        app_private_key: Some(Secret::new(key("app_private_key"))),
        alipay_public_key: Some(key("alipay_public_key")),
        gateway: Some(gateway.into()),
        timeout_ms: Some(2_000),
        ..AlipaySettings::default()
    }
}

/// A server with Alipay as its provider, and merchant `acme` with its book.
async fn alipay_shop(b: Backend, gateway: &str, dispatch: bool) -> (TestApp, Credentials) {
    let app = spawn_app_with(b, |c| {
        c.provider = ProviderKind::Alipay;
        c.alipay = Some(settings(gateway));
        c.run_dispatcher = dispatch;
    })
    .await;
    stock(app, None).await
}

/// Polls the outbox row until it reaches `want`.
async fn until_submission(app: &TestApp, s: &Opened, want: SubmissionState) -> Submission {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let row = submission(app, s).await;
        if row.state == want {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "submission still {:?}: {row:?}",
            row.state
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn post_notify(app: &TestApp, form: &[(String, String)]) -> (u16, String) {
    let r = app
        .http
        .post(app.url("/v1/webhooks/alipay"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    (status, r.text().await.unwrap())
}

async fn metrics(app: &TestApp) -> String {
    let r = app.http.get(app.url("/metrics")).send().await.unwrap();
    r.text().await.unwrap()
}

async fn a_refund_settles_when_alipay_notifies(b: Backend) {
    let gw = FakeGateway::start(Script::Answer).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    assert!(app.state.sandbox.is_none(), "the sandbox is not used");
    let (s, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    shopper.until_state("submitted").await;
    let sent = gw.requests(1).await;
    assert_eq!(sent[0].method, "alipay.trade.refund");
    let key = submission(&app, &s).await.idempotency_key;
    assert_eq!(
        sent[0].biz,
        json!({"out_trade_no": "1042", "refund_amount": "100.00", "out_request_no": key})
    );
    let row = until_submission(&app, &s, SubmissionState::Sent).await;
    assert_eq!(row.provider_reference.as_deref(), Some(TRADE_NO));
    assert_eq!(
        state(&app, &s).await,
        "submitted",
        "settled only by notification"
    );

    let notify = refund_notify(&key, "1042", "100.00");
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    shopper.until_state("settled").await;
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 1);
    let log = events(&app, &creds.api_key, &s.id).await;
    assert_eq!(count(&log, "settlement_succeeded"), 1);
    assert_eq!(
        until_submission(&app, &s, SubmissionState::Done)
            .await
            .attempts,
        1
    );
    assert_eq!(gw.books().len(), 1);
    let text = metrics(&app).await;
    for series in [
        "countersign_webhooks_total{result=\"applied\"} 1",
        "countersign_webhooks_total{result=\"duplicate\"} 1",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

async fn a_second_partial_refund_matches_the_trades_refunded_total(b: Backend) {
    let gw = FakeGateway::start(Script::Answer).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    let (first, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    shopper.until_state("submitted").await;
    let key = until_submission(&app, &first, SubmissionState::Sent)
        .await
        .idempotency_key;
    let notify = refund_notify(&key, "1042", "100.00");
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    shopper.until_state("settled").await;

    let (second, mut shopper) = consent(&app, &creds.api_key, "1042", "28.00").await;
    shopper.until_state("submitted").await;
    let key = until_submission(&app, &second, SubmissionState::Sent)
        .await
        .idempotency_key;
    let wrong = refund_notify(&key, "1042", "56.00");
    assert_eq!(post_notify(&app, &wrong).await.1, "fail");
    // Alipay reports the trade's refunded total: 100.00 before, 28.00 now.
    let notify = refund_notify(&key, "1042", "128.00");
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    shopper.until_state("settled").await;
    // Resent after it settled (our answer lost on the way): still acknowledged.
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 2);
}

async fn a_refund_alipay_refuses_fails_the_session(b: Backend) {
    let gw = FakeGateway::start(Script::Refuse("ACQ.TRADE_NOT_EXIST")).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    let (s, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    let status = shopper.until_state("failed").await;
    assert_eq!(status["reason"], "settlement_failed");
    assert_eq!(gw.requests(1).await.len(), 1, "a refusal is not retried");
    let row = submission(&app, &s).await;
    assert_eq!(
        row.state,
        SubmissionState::Done,
        "finished with the session"
    );
    let error = row.last_error.unwrap_or_default();
    assert!(error.contains("40004 ACQ.TRADE_NOT_EXIST"), "{error}");
    let refundable = app
        .state
        .store
        .order(
            &countersign::domain::MerchantId::parse("acme").unwrap(),
            &countersign::domain::OrderId::parse("1042").unwrap(),
        )
        .await
        .unwrap()
        .unwrap()
        .refundable();
    assert_eq!(refundable.value_string(), "128.00", "the hold is released");
    assert!(gw.books().is_empty());
}

async fn an_unverified_answer_is_retried_with_the_same_request_number(b: Backend) {
    let gw = FakeGateway::start(Script::BadSignatureOnce).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    let (s, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    shopper.until_state("submitted").await;
    let sent = gw.requests(2).await;
    assert_eq!(sent[0].request_no(), sent[1].request_no());
    assert_eq!(sent[0].biz, sent[1].biz, "the same request, unchanged");
    assert_eq!(gw.books().len(), 1, "one refund on the gateway's books");
    let row = until_submission(&app, &s, SubmissionState::Sent).await;
    assert_eq!(
        (row.attempts, row.provider_reference.as_deref()),
        (2, Some(TRADE_NO))
    );
    let notify = refund_notify(&row.idempotency_key, "1042", "100.00");
    assert_eq!(post_notify(&app, &notify).await, (200, "success".into()));
    shopper.until_state("settled").await;
    assert_eq!(gw.seen().len(), 2);
}

async fn a_gateway_that_never_answers_is_dead_lettered_after_the_last_attempt(b: Backend) {
    use countersign::workflow::outbox::{MAX_ATTEMPTS, drain_once};
    let (app, creds) = alipay_shop(b, "http://127.0.0.1:9/gateway.do", false).await;
    let (s, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    shopper.until_state("submitted").await;
    for attempt in 1..=MAX_ATTEMPTS {
        let row = submission(&app, &s).await;
        assert_eq!(
            (row.state, row.attempts),
            (SubmissionState::Pending, attempt - 1)
        );
        // Each failure schedules the next attempt with backoff; make it due now.
        let due = "UPDATE submissions SET next_attempt_at = '2000-01-01 00:00:00+00:00'";
        assert_eq!(execute(&app.db.url, due).await, 1);
        assert_eq!(drain_once(&app.state.flow).await, 1, "attempt {attempt}");
    }
    let row = submission(&app, &s).await;
    assert_eq!(
        (row.state, row.attempts),
        (SubmissionState::Dead, MAX_ATTEMPTS)
    );
    assert_eq!(
        drain_once(&app.state.flow).await,
        0,
        "a dead letter is not retried"
    );
    let (status, dead) = app.get("/v1/submissions", &creds.api_key).await;
    assert_eq!(status, 200);
    let listed = &dead["submissions"][0];
    assert_eq!(listed["session_id"], s.id.as_str());
    assert_eq!(listed["attempts"], MAX_ATTEMPTS);
    assert!(
        listed["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{listed}"
    );
    assert_eq!(
        state(&app, &s).await,
        "submitted",
        "the money's fate is unknown"
    );
}

async fn notifications_that_do_not_match_are_refused_and_not_stored(b: Backend) {
    let (app, creds) = alipay_shop(b, "http://127.0.0.1:9/gateway.do", false).await;
    let (s, mut shopper) = consent(&app, &creds.api_key, "1042", "100.00").await;
    shopper.until_state("submitted").await;
    let key = submission(&app, &s).await.idempotency_key;
    let valid = refund_notify(&key, "1042", "100.00");
    let mut altered = valid.clone();
    altered
        .iter_mut()
        .find(|(k, _)| k == "refund_fee")
        .unwrap()
        .1 = "128.00".into();
    let resign = |changes: &[(&str, &str)], signing_key: &str| {
        let mut fields: Vec<(String, String)> = valid
            .iter()
            .filter(|(k, _)| k != "sign" && k != "sign_type")
            .cloned()
            .collect();
        for (name, value) in changes {
            fields.iter_mut().find(|(k, _)| k == name).unwrap().1 = value.to_string();
        }
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        signed_notify(&pairs, signing_key)
    };
    let mut rsa1 = valid.clone();
    rsa1.iter_mut().find(|(k, _)| k == "sign_type").unwrap().1 = "RSA".into();
    let cases = [
        ("altered after signing", altered),
        ("signed with the app key", resign(&[], "app_private_key")),
        ("sign_type RSA", rsa1),
        (
            "another app",
            resign(&[("app_id", "2021000000009999")], "alipay_private_key"),
        ),
        (
            "another amount",
            resign(&[("refund_fee", "99.99")], "alipay_private_key"),
        ),
        (
            "another order",
            resign(&[("out_trade_no", "1041")], "alipay_private_key"),
        ),
        (
            "another request",
            resign(&[("out_biz_no", "cs_unknown")], "alipay_private_key"),
        ),
        (
            "not a refund",
            resign(&[("trade_status", "WAIT_BUYER_PAY")], "alipay_private_key"),
        ),
    ];
    for (what, form) in cases {
        let (status, body) = post_notify(&app, &form).await;
        assert_ne!(body, "success", "{what}");
        assert_eq!((status, body.as_str()), (400, "fail"), "{what}");
    }
    let (_, unsigned) = post_notify(&app, &[("notify_id".into(), "1".into())]).await;
    assert_eq!(unsigned, "fail");
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 0);
    assert_eq!(state(&app, &s).await, "submitted");
    // The same notification, untouched, is accepted.
    assert_eq!(post_notify(&app, &valid).await, (200, "success".into()));
    shopper.until_state("settled").await;
    let text = metrics(&app).await;
    for series in [
        "result=\"invalid_signature\"} 4",
        "result=\"wrong_app\"} 1",
        "result=\"mismatch\"} 2",
        "result=\"unknown_request\"} 1",
        "result=\"unreadable\"} 1",
    ] {
        assert!(text.contains(series), "missing {series} in\n{text}");
    }
}

/// Sends 50.00 to Mum over the socket and consents.
async fn transfer_to_mum(app: &TestApp, key: &str) -> (Opened, crate::shopper::Shopper) {
    let s = app
        .open_session(key, json!({"user_id": "u1", "text": "send 50 to Mum"}))
        .await;
    let mut shopper = app.connect(&s).await;
    let c = shopper.until("confirmation_required").await;
    assert_eq!(c["payload"]["action"]["contact_id"], "mum");
    shopper
        .send(json!({"type": "confirm", "token": c["token"]}))
        .await;
    (s, shopper)
}

async fn a_transfer_goes_to_the_contacts_alipay_account_and_settles(b: Backend) {
    let gw = FakeGateway::start(Script::Answer).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    let mum = json!({"user_id": "u1", "name": "Mum", "aliases": ["妈妈"], "verified": true,
        "alipay": {"identity": "2088000000000003", "identity_type": "ALIPAY_USER_ID"}});
    let (status, body) = app.put("/v1/contacts/mum", &creds.api_key, &mum).await;
    assert_eq!((status, &body["alipay"]), (200, &mum["alipay"]));
    let (s, mut shopper) = transfer_to_mum(&app, &creds.api_key).await;
    shopper.until_state("submitted").await;
    let sent = gw.requests(1).await;
    let key = submission(&app, &s).await.idempotency_key;
    assert_eq!(sent[0].method, "alipay.fund.trans.uni.transfer");
    assert_eq!(
        sent[0].biz,
        json!({"out_biz_no": key, "trans_amount": "50.00", "product_code": "TRANS_ACCOUNT_NO_PWD",
            "biz_scene": "DIRECT_TRANSFER", "order_title": "Transfer to Mum",
            "payee_info": {"identity": "2088000000000003", "identity_type": "ALIPAY_USER_ID"}})
    );
    let row = until_submission(&app, &s, SubmissionState::Sent).await;
    assert_eq!(row.provider_reference.as_deref(), Some(TRANSFER_ORDER));
    let dealing = transfer_notify(&key, "50.00", "DEALING");
    assert_eq!(post_notify(&app, &dealing).await, (200, "success".into()));
    assert_eq!(count_rows(&app.db.url, "webhook_inbox").await, 0);
    let done = transfer_notify(&key, "50.00", "SUCCESS");
    assert_eq!(post_notify(&app, &done).await, (200, "success".into()));
    shopper.until_state("settled").await;
    assert_eq!(
        sent[0].params["notify_url"],
        format!("{}/v1/webhooks/alipay", app.base)
    );
}

async fn a_transfer_to_a_contact_without_an_alipay_account_fails_unsent(b: Backend) {
    let gw = FakeGateway::start(Script::Answer).await;
    let (app, creds) = alipay_shop(b, &gw.url, true).await;
    let (s, mut shopper) = transfer_to_mum(&app, &creds.api_key).await;
    shopper.until_state("failed").await;
    let error = submission(&app, &s).await.last_error.unwrap_or_default();
    assert!(
        error.contains("contact mum has no Alipay account"),
        "{error}"
    );
    assert!(gw.seen().is_empty(), "nothing was sent");
}

backend_tests!(
    a_second_partial_refund_matches_the_trades_refunded_total,
    a_refund_settles_when_alipay_notifies,
    a_refund_alipay_refuses_fails_the_session,
    an_unverified_answer_is_retried_with_the_same_request_number,
    notifications_that_do_not_match_are_refused_and_not_stored,
    a_gateway_that_never_answers_is_dead_lettered_after_the_last_attempt,
    a_transfer_goes_to_the_contacts_alipay_account_and_settles,
    a_transfer_to_a_contact_without_an_alipay_account_fails_unsent,
);

#[tokio::test]
async fn the_alipay_endpoint_says_fail_when_alipay_is_not_the_provider() {
    let app = crate::helpers::spawn_app(Backend::Sqlite).await;
    let form = refund_notify("cs_any", "1042", "1.00");
    assert_eq!(post_notify(&app, &form).await, (404, "fail".into()));
}

#[tokio::test]
async fn alipay_without_a_complete_section_does_not_start() {
    let db = crate::helpers::TestDb::new(Backend::Sqlite).await;
    let config = |alipay: Option<AlipaySettings>| countersign::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone(),
        master_key_file: db.dir.path().join("k"),
        provider: ProviderKind::Alipay,
        alipay,
        ..countersign::Config::default()
    };
    let missing = countersign::build(config(None)).await.err().unwrap();
    assert!(
        format!("{missing:#}").contains("alipay.app_id is missing"),
        "{missing:#}"
    );
    let mut bad_key = settings("sandbox");
    bad_key.alipay_public_key = Some("not a key".into());
    let error = countersign::build(config(Some(bad_key)))
        .await
        .err()
        .unwrap();
    assert!(
        format!("{error:#}").contains("alipay.alipay_public_key: not an RSA key"),
        "{error:#}"
    );
}
