//! What a flow costs and how the models fare: priced model calls listed per session, the
//! session's total, the Prometheus counters, and the drift alarm at `/v1/models/health`,
//! with a scripted model that changes under the service mid-run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use countersign::domain::{Cost, Price};
use countersign::understanding::llm::drift::{DriftConfig, OnAlarm};
use countersign::understanding::llm::{EndpointConfig, LlmConfig};
use countersign_scripted::{Reply, ScriptedModel};

use crate::backend_tests;
use crate::fixtures::shop_with;
use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::shopper::Opened;

fn endpoint(name: &str, model: &ScriptedModel) -> EndpointConfig {
    serde_json::from_value(json!({
        "name": name, "base_url": model.url(), "model": "scripted", "timeout_ms": 5000,
        "price_input_per_1k_tokens": "0.0008", "price_output_per_1k_tokens": "0.002",
        "price_currency": "CNY",
    }))
    .unwrap()
}

/// Answers every extraction with a full refund of order 1042 whose scores `score(n)` gives
/// for the n-th request, and every rephrasing with the server's own text; each reply says
/// it came from `reported(n)`.
fn model(
    score: impl Fn(usize) -> f64 + Send + Sync + 'static,
    reported: impl Fn(usize) -> &'static str + Send + Sync + 'static,
) -> Arc<dyn Fn(&Value) -> Reply + Send + Sync> {
    let served = AtomicUsize::new(0);
    Arc::new(move |req: &Value| {
        let n = served.fetch_add(1, Ordering::SeqCst);
        let last = req["messages"].as_array().and_then(|m| m.last()).cloned();
        let content = last.unwrap_or_default()["content"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let reply = if req["stream"] == true {
            let said: Value = serde_json::from_str(&content).unwrap_or_default();
            Reply::Stream(vec![said["text"].as_str().unwrap_or_default().to_owned()])
        } else {
            let scored = |v: Value| json!({"value": v, "ambiguity_score": score(n)});
            Reply::Json(json!({
                "intent": scored(json!("refund")),
                "order": scored(json!({"kind": "id", "id": "1042"})),
                "amount": scored(json!({"kind": "full"})),
                "contact": null, "reason": null,
            }))
        };
        let name = reported(n);
        let print = format!("fp_{name}");
        reply.reported(name, Some(print.as_str()))
    })
}

async fn with_models(
    b: Backend,
    models: &[&ScriptedModel],
    drift: DriftConfig,
) -> (TestApp, String) {
    let endpoints: Vec<_> = models
        .iter()
        .enumerate()
        .map(|(i, m)| endpoint(&format!("m{i}"), m))
        .collect();
    let app = spawn_app_with(b, move |c| {
        c.llm = Some(LlmConfig {
            endpoints,
            drift,
            ..LlmConfig::default()
        });
        c.pricing =
            serde_json::from_value(json!({"provider_call": "0.10", "currency": "CNY"})).unwrap();
    })
    .await;
    shop_with(app, None).await
}

/// Opens a session asking for a refund and waits for its confirmation card.
async fn until_card(app: &TestApp, key: &str) -> (Opened, crate::shopper::Shopper, Value) {
    let s = app
        .open_session(
            key,
            json!({"user_id": "u1", "text": "refund order 1042 in full"}),
        )
        .await;
    let mut shopper = app.connect(&s).await;
    let card = shopper.until("confirmation_required").await;
    (s, shopper, card)
}

async fn metrics(app: &TestApp) -> String {
    let m = app.http.get(app.url("/metrics")).send().await.unwrap();
    m.text().await.unwrap()
}

async fn a_session_lists_its_model_calls_and_what_the_flow_cost(b: Backend) {
    let m = ScriptedModel::start(model(|_| 0.05, |_| "qwen-plus-2025-01-25")).await;
    let (app, key) = with_models(b, &[&m], DriftConfig::default()).await;
    let (s, mut shopper, card) = until_card(&app, &key).await;
    shopper
        .send(json!({"type": "confirm", "token": card["token"]}))
        .await;
    shopper.until_state("settled").await;

    let path = format!("/v1/sessions/{}/model-calls", s.id);
    let (status, listed) = app.get(&path, &key).await;

    assert_eq!(status, 200, "{listed}");
    let calls = listed["model_calls"].as_array().unwrap();
    assert_eq!(
        calls.len(),
        m.requests().len(),
        "every call the model answered"
    );
    let mut picos = 0;
    let price_in = Price::parse("0.0008").unwrap().nanos();
    let price_out = Price::parse("0.002").unwrap().nanos();
    for c in calls {
        assert_eq!(
            (c["endpoint"].as_str(), c["model"].as_str()),
            (Some("m0"), Some("scripted"))
        );
        assert_eq!(c["reported_model"], "qwen-plus-2025-01-25");
        assert_eq!(c["system_fingerprint"], "fp_qwen-plus-2025-01-25");
        assert_eq!(c["outcome"], "ok");
        assert!(["extract", "phrase"].contains(&c["purpose"].as_str().unwrap()));
        assert!(c["latency_ms"].as_i64().unwrap() >= 0);
        let (input, output) = (
            c["prompt_tokens"].as_i64().unwrap(),
            c["completion_tokens"].as_i64().unwrap(),
        );
        let cost = input * price_in + output * price_out;
        assert_eq!(
            c["cost"],
            json!({"value": Cost::from_picos(cost).to_string(), "currency": "CNY"})
        );
        picos += cost;
    }
    let model_cost = Cost::from_picos(picos).to_string();
    let total = Cost::from_picos(picos + 100_000_000_000).to_string();
    let expected = json!({
        "model_calls": calls.len(),
        "model": [{"value": model_cost, "currency": "CNY"}],
        "provider_calls": 1,
        "provider": [{"value": "0.1", "currency": "CNY"}],
        "total": [{"value": total, "currency": "CNY"}],
    });
    assert_eq!(listed["cost"], expected);
    let (_, session) = app.get(&format!("/v1/sessions/{}", s.id), &key).await;
    assert_eq!(
        session["cost"], expected,
        "the merchant's view of the session"
    );
    let (_, shoppers) = app.get(&format!("/v1/sessions/{}", s.id), &s.token).await;
    assert_eq!(
        shoppers["cost"],
        Value::Null,
        "the shopper is not shown costs"
    );
    assert_eq!(app.get(&path, &s.token).await.0, 401);
    let unknown = app
        .get("/v1/sessions/not-a-session/model-calls", &key)
        .await;
    crate::helpers::assert_error(&unknown, 404, "not_found", "session");
    let other = app.merchant("other", None).await;
    let theirs = app.get(&path, &other.api_key).await;
    crate::helpers::assert_error(&theirs, 404, "not_found", "session");

    let text = metrics(&app).await;
    let series = format!(
        "countersign_model_cost_nanos_total{{endpoint=\"m0\",currency=\"CNY\"}} {}",
        picos / 1000
    );
    assert!(text.contains(&series), "missing {series} in\n{text}");
    let provider =
        "countersign_provider_cost_nanos_total{provider=\"sandbox\",currency=\"CNY\"} 100000000";
    assert!(text.contains(provider), "missing {provider} in\n{text}");
}

async fn a_model_that_changes_mid_run_raises_the_drift_alarm_and_is_skipped(b: Backend) {
    // The first endpoint answers 12 requests as model-v1 with varied scores, then as
    // model-v2 with every score the same; the second stays as it is.
    let first = ScriptedModel::start(model(
        |n| if n < 12 { 0.04 * (n % 6) as f64 } else { 0.1 },
        |n| if n < 12 { "model-v1" } else { "model-v2" },
    ))
    .await;
    let second = ScriptedModel::start(model(|n| 0.04 * (n % 5) as f64, |_| "steady")).await;
    let drift = DriftConfig {
        window: 10,
        on_alarm: OnAlarm::Skip,
    };
    let (app, key) = with_models(b, &[&first, &second], drift).await;

    let mut rounds = 0;
    let alarmed = loop {
        rounds += 1;
        assert!(rounds <= 30, "no alarm after {rounds} sessions");
        until_card(&app, &key).await;
        let (status, health) = app.get("/v1/models/health", &key).await;
        assert_eq!(status, 200, "{health}");
        if health["endpoints"][0]["alarmed"] == true {
            break health;
        }
    };

    let m0 = &alarmed["endpoints"][0];
    assert_eq!(alarmed["on_alarm"], "skip");
    assert_eq!(
        (m0["endpoint"].as_str(), m0["skipped"].as_bool()),
        (Some("m0"), Some(true))
    );
    assert_eq!(m0["baseline"]["reported_model"], "model-v1");
    assert_eq!(m0["window"]["size"], 10);
    let signals: Vec<&str> = m0["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert!(signals.contains(&"reported_model"), "{m0}");
    assert!(
        m0["signals"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("model-v2"),
        "{m0}"
    );
    assert_eq!(alarmed["endpoints"][1]["alarmed"], false);
    let text = metrics(&app).await;
    let gauge = "countersign_model_drift{endpoint=\"m0\",signal=\"reported_model\"} 1";
    assert!(text.contains(gauge), "missing {gauge} in\n{text}");
    assert!(text.contains("countersign_model_drift{endpoint=\"m1\",signal=\"reported_model\"} 0"));

    // From now on the second endpoint serves.
    let served_before = first.requests().len();
    let (s, _, _) = until_card(&app, &key).await;
    assert_eq!(
        first.requests().len(),
        served_before,
        "the alarmed endpoint is passed over"
    );
    let (_, listed) = app
        .get(&format!("/v1/sessions/{}/model-calls", s.id), &key)
        .await;
    let endpoints: Vec<&str> = listed["model_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["endpoint"].as_str().unwrap())
        .collect();
    assert!(
        !endpoints.is_empty() && endpoints.iter().all(|e| *e == "m1"),
        "{listed}"
    );
    assert_eq!(app.get("/v1/models/health", "cst_nobody").await.0, 401);
}

async fn without_a_model_the_health_page_lists_no_endpoints(b: Backend) {
    let (app, key) = crate::fixtures::shop(b, None).await;
    let (status, health) = app.get("/v1/models/health", &key).await;
    assert_eq!(
        (status, health),
        (200, json!({"on_alarm": null, "endpoints": []}))
    );
}

backend_tests!(
    a_session_lists_its_model_calls_and_what_the_flow_cost,
    a_model_that_changes_mid_run_raises_the_drift_alarm_and_is_skipped,
    without_a_model_the_health_page_lists_no_endpoints,
);
