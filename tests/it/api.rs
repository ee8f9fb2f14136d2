//! Sessions over HTTP: authentication, visibility, hostile bodies, health.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::helpers::{Backend, assert_error, spawn_app};

async fn health_and_readiness_answer(b: Backend) {
    let app = spawn_app(b).await;
    let live = app.get("/healthz", "").await;
    assert_eq!(live, (200, json!({"status": "ok"})));
    let ready = app.get("/readyz", "").await;
    assert_eq!(ready.0, 200);
    assert_eq!(ready.1["status"], "ready");
    assert_error(&app.get("/nowhere", "").await, 404, "not_found", "route");
    let wrong_method = app
        .send(reqwest::Method::DELETE, "/healthz", "", None)
        .await;
    assert_error(&wrong_method, 405, "method_not_allowed", "method");
}

async fn a_merchant_opens_a_session_and_both_parties_can_read_it(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let (status, opened) = app
        .post(
            "/v1/sessions",
            &acme.api_key,
            &json!({"user_id": "u1", "text": "退款订单 1042", "device": "iphone"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["state"], "collecting");
    assert_eq!(opened["mode"], "chat");
    let id = opened["session_id"].as_str().unwrap();
    let token = opened["client_token"].as_str().unwrap();
    assert!(token.starts_with("cst_"));
    assert_eq!(
        opened["ws_url"],
        format!("{}/v1/sessions/{id}/ws", app.base.replacen("http", "ws", 1))
    );

    for key in [acme.api_key.as_str(), token] {
        let (status, s) = app.get(&format!("/v1/sessions/{id}"), key).await;
        assert_eq!(status, 200, "{s}");
        assert_eq!(
            (s["state"].as_str(), s["user_id"].as_str()),
            (Some("collecting"), Some("u1"))
        );
        assert_eq!(s["history"][0]["event"], "opened");
        assert_eq!(s["history"][0]["to"], "collecting");
    }
    let (status, log) = app
        .get(&format!("/v1/sessions/{id}/events"), &acme.api_key)
        .await;
    assert_eq!(status, 200);
    assert_eq!(log["events"][0]["payload"]["text"], "退款订单 1042");
    assert_eq!(log["events"][0]["actor"], "merchant");
}

async fn menu_channel_sessions_start_in_menu_mode(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let (status, opened) = app
        .post(
            "/v1/sessions",
            &acme.api_key,
            &json!({"user_id": "u1", "channel": "menu"}),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["mode"], "menu");
}

async fn credentials_are_checked_and_other_merchants_see_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let beta = app.merchant("beta", None).await;
    let body = json!({"user_id": "u1"});
    for bad in [
        "",
        "csk_wrong",
        "cst_wrong",
        "Basic abc",
        &acme.webhook_secret,
    ] {
        assert_error(
            &app.post("/v1/sessions", bad, &body).await,
            401,
            "unauthorized",
            "bearer",
        );
    }
    let (_, opened) = app.post("/v1/sessions", &acme.api_key, &body).await;
    let id = opened["session_id"].as_str().unwrap();
    let token = opened["client_token"].as_str().unwrap();
    assert_error(
        &app.get(&format!("/v1/sessions/{id}"), &beta.api_key).await,
        404,
        "not_found",
        "session",
    );
    assert_error(
        &app.get(&format!("/v1/sessions/{id}/events"), &beta.api_key)
            .await,
        404,
        "not_found",
        "session",
    );
    // A shopper token opens only its own session, never the audit log or merchant routes.
    let (_, other) = app.post("/v1/sessions", &acme.api_key, &body).await;
    let other_id = other["session_id"].as_str().unwrap();
    assert_error(
        &app.get(&format!("/v1/sessions/{other_id}"), token).await,
        404,
        "not_found",
        "session",
    );
    assert_error(
        &app.get(&format!("/v1/sessions/{id}/events"), token).await,
        401,
        "unauthorized",
        "",
    );
    assert_error(
        &app.post("/v1/sessions", token, &body).await,
        401,
        "unauthorized",
        "",
    );
    assert_error(
        &app.get("/v1/sessions/not-a-uuid", &acme.api_key).await,
        404,
        "not_found",
        "session",
    );
    let unknown = uuid::Uuid::new_v4();
    assert_error(
        &app.get(&format!("/v1/sessions/{unknown}"), &acme.api_key)
            .await,
        404,
        "not_found",
        "session",
    );
}

async fn hostile_session_bodies_get_clear_errors_and_create_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({}), 422, "validation_failed", "user_id"),
        (
            json!({"user_id": "u1", "admin": true}),
            422,
            "validation_failed",
            "admin",
        ),
        (
            json!({"user_id": "has space"}),
            422,
            "validation_failed",
            "user_id",
        ),
        (json!({"user_id": 7}), 422, "validation_failed", "user_id"),
        (
            json!({"user_id": "u1", "channel": "fax"}),
            422,
            "validation_failed",
            "channel",
        ),
        (
            json!({"user_id": "u1", "text": "x".repeat(4001)}),
            422,
            "validation_failed",
            "text",
        ),
        (
            json!({"user_id": "u1", "device": "a\u{0007}b"}),
            422,
            "validation_failed",
            "device",
        ),
        (json!([1, 2]), 422, "validation_failed", ""),
    ];
    for (body, status, code, field) in cases {
        let got = app.post("/v1/sessions", &acme.api_key, &body).await;
        assert_error(&got, status, code, field);
    }
    let raw = |body: &'static str, content_type: &'static str| {
        app.http
            .post(app.url("/v1/sessions"))
            .bearer_auth(&acme.api_key)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let broken =
        crate::helpers::read(raw("{\"user_id\": ", "application/json").await.unwrap()).await;
    assert_error(&broken, 400, "malformed_json", "JSON");
    let trailing = crate::helpers::read(
        raw("{\"user_id\":\"u1\"} {}", "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_error(&trailing, 400, "malformed_json", "trailing");
    let form = crate::helpers::read(
        raw("user_id=u1", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
    )
    .await;
    assert_error(&form, 415, "unsupported_media_type", "application/json");
    let huge = json!({"user_id": "u1", "text": "x".repeat(20_000)});
    assert_error(
        &app.post("/v1/sessions", &acme.api_key, &huge).await,
        413,
        "payload_too_large",
        "large",
    );
    assert_eq!(app.count("sessions").await, 0);
    assert_eq!(app.count("session_events").await, 0);
}

async fn demo_sessions_exist_only_where_the_demo_was_seeded(b: Backend) {
    let app = spawn_app(b).await;
    let body = json!({"text": "refund my last order"});
    let (status, _) = app.post("/v1/demo/sessions", "", &body).await;
    assert_eq!(status, 404, "no demo merchant, no demo");
    countersign::seed::demo(app.state.store.as_ref(), &app.state.keys)
        .await
        .unwrap()
        .expect("seeded");
    let (status, opened) = app.post("/v1/demo/sessions", "", &body).await;
    if b == Backend::Postgres {
        assert_eq!(status, 404, "never outside the embedded database");
        return;
    }
    assert_eq!(status, 201, "{opened}");
    let token = opened["client_token"].as_str().unwrap();
    let (_, session) = app
        .get(
            &format!("/v1/sessions/{}", opened["session_id"].as_str().unwrap()),
            token,
        )
        .await;
    assert_eq!(
        (session["merchant_id"].as_str(), session["user_id"].as_str()),
        (Some("demo"), Some("demo-shopper"))
    );
    let odd = app
        .post("/v1/demo/sessions", "", &json!({"user_id": "someone-else"}))
        .await;
    assert_error(&odd, 422, "validation_failed", "user_id");
}

backend_tests!(
    health_and_readiness_answer,
    a_merchant_opens_a_session_and_both_parties_can_read_it,
    menu_channel_sessions_start_in_menu_mode,
    credentials_are_checked_and_other_merchants_see_nothing,
    hostile_session_bodies_get_clear_errors_and_create_nothing,
    demo_sessions_exist_only_where_the_demo_was_seeded,
);
