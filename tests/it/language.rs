//! The greeting is in the shopper's language: the one the client names, else the opening
//! text's, else the first the request's `Accept-Language` prefers that the service speaks.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::shop;
use crate::helpers::{Backend, TestApp, assert_error, read};
use crate::shopper::Opened;

const HELLO_EN: &str = "Hi! I can help with refunds and transfers.";
const HELLO_ZH: &str = "您好！我可以帮您退款或转账。";

async fn open_with(app: &TestApp, key: &str, accept: Option<&str>, body: Value) -> Opened {
    let mut req = app
        .http
        .post(app.url("/v1/sessions"))
        .bearer_auth(key)
        .json(&body);
    if let Some(accept) = accept {
        req = req.header("accept-language", accept);
    }
    let (status, opened) = read(req.send().await.expect("request")).await;
    assert_eq!(status, 201, "{opened}");
    Opened {
        id: opened["session_id"].as_str().unwrap().to_owned(),
        token: opened["client_token"].as_str().unwrap().to_owned(),
    }
}

async fn greeting(app: &TestApp, s: &Opened) -> String {
    let mut shopper = app.connect(s).await;
    let hello = shopper.until("agent_message").await;
    hello["text"].as_str().unwrap().to_owned()
}

async fn the_greeting_follows_accept_language(b: Backend) {
    let (app, key) = shop(b, None).await;
    for (accept, hello) in [
        (Some("zh-CN,zh;q=0.9,en;q=0.8"), HELLO_ZH),
        (Some("en-GB,en;q=0.9,zh-CN;q=0.8"), HELLO_EN),
        // Weights, not order, decide; languages the service does not speak are passed over.
        (Some("fr-FR, en;q=0.5, zh-TW;q=0.7"), HELLO_ZH),
        (Some("de, fr;q=0.9"), HELLO_EN),
        // A malformed weight drops that range only.
        (Some("zh;q=abc, en"), HELLO_EN),
        (Some("zh;q=0"), HELLO_EN),
        (None, HELLO_EN),
    ] {
        let s = open_with(&app, &key, accept, json!({"user_id": "u1"})).await;
        assert_eq!(greeting(&app, &s).await, hello, "{accept:?}");
    }
}

async fn a_named_language_or_the_opening_text_comes_first(b: Backend) {
    let (app, key) = shop(b, None).await;
    let named = json!({"user_id": "u1", "lang": "zh"});
    let s = open_with(&app, &key, Some("en"), named).await;
    assert_eq!(greeting(&app, &s).await, HELLO_ZH);
    let written = json!({"user_id": "u1", "text": "退款订单 1042"});
    let s = open_with(&app, &key, Some("en"), written).await;
    assert_eq!(greeting(&app, &s).await, HELLO_ZH);
    let unknown = json!({"user_id": "u1", "lang": "fr"});
    let refused = app.post("/v1/sessions", &key, &unknown).await;
    assert_error(&refused, 422, "validation_failed", "lang");
}

backend_tests!(
    the_greeting_follows_accept_language,
    a_named_language_or_the_opening_text_comes_first,
);
