//! What endpoints report beside their answers, what calls cost, and drift, through real
//! calls to scripted servers on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use countersign_scripted::{Reply, ScriptedModel};
use serde_json::{Value, json};

use super::drift::{DriftConfig, OnAlarm};
use super::tests::{config, ctx, endpoint, start};
use crate::domain::{Currency, Price};
use crate::understanding::Understanding;

/// An extraction whose intent has ambiguity `score`.
fn scored(score: f64) -> Value {
    json!({
        "intent": { "value": "refund", "ambiguity_score": score },
        "order": { "value": { "kind": "id", "id": "1042" }, "ambiguity_score": score },
        "amount": null, "contact": null, "reason": null
    })
}

#[tokio::test]
async fn a_call_records_the_reported_model_and_its_exact_cost() {
    let said = Reply::Json(scored(0.1)).reported("qwen-plus-2025-01-25", Some("fp_44709d6fcb"));
    let model = ScriptedModel::queue(vec![said]).await;
    let mut priced = endpoint("a", &model, "sk-a", 5_000);
    priced.price_input_per_1k_tokens = Some(Price::parse("0.0008").unwrap());
    priced.price_output_per_1k_tokens = Some(Price::parse("0.002").unwrap());
    priced.price_currency = Some(Currency::CNY);
    let (llm, recorder) = start(config(vec![priced]));

    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    let call = &recorder.calls()[0];
    assert_eq!(call.model, "a-model");
    assert_eq!(call.reported_model.as_deref(), Some("qwen-plus-2025-01-25"));
    assert_eq!(call.system_fingerprint.as_deref(), Some("fp_44709d6fcb"));
    let (input, output) = (call.prompt_tokens.unwrap(), call.completion_tokens.unwrap());
    assert!(input > 0 && output > 0);
    // Exactly input × 0.0008 / 1000 + output × 0.002 / 1000, in pico-units.
    let picos = input * 800_000 + output * 2_000_000;
    assert_eq!(call.cost.unwrap().picos(), picos);
    assert_eq!(call.cost_currency, Some(Currency::CNY));
}

#[tokio::test]
async fn an_unpriced_endpoint_records_no_cost() {
    let model = ScriptedModel::queue(vec![Reply::Json(scored(0.1))]).await;
    let (llm, recorder) = start(config(vec![endpoint("a", &model, "sk-a", 5_000)]));

    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    let call = &recorder.calls()[0];
    assert_eq!((call.cost, call.cost_currency), (None, None));
    assert_eq!(call.reported_model.as_deref(), Some("a-model"));
}

/// Answers like `before` for `switch` calls, then reports another model with flat scores.
fn changing(switch: usize) -> Arc<dyn Fn(&Value) -> Reply + Send + Sync> {
    let served = AtomicUsize::new(0);
    Arc::new(move |_| {
        let n = served.fetch_add(1, Ordering::SeqCst);
        if n < switch {
            let score = 0.05 * (n % 6) as f64;
            Reply::Json(scored(score)).reported("model-v1", Some("fp_1"))
        } else {
            Reply::Json(scored(0.1)).reported("model-v2", Some("fp_2"))
        }
    })
}

async fn drifting_pair(
    on_alarm: OnAlarm,
) -> (super::LlmUnderstanding, ScriptedModel, ScriptedModel) {
    let first = ScriptedModel::start(changing(10)).await;
    let second = ScriptedModel::start(Arc::new(|_| Reply::Json(scored(0.2)))).await;
    let mut cfg = config(vec![
        endpoint("a", &first, "sk-a", 5_000),
        endpoint("b", &second, "sk-b", 5_000),
    ]);
    cfg.drift = DriftConfig {
        window: 10,
        on_alarm,
    };
    let (llm, _) = start(cfg);
    (llm, first, second)
}

#[tokio::test]
async fn a_changed_model_is_skipped_in_failover_when_the_merchant_says_so() {
    let (llm, first, second) = drifting_pair(OnAlarm::Skip).await;
    for _ in 0..10 {
        llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    }
    assert_eq!((first.requests().len(), second.requests().len()), (10, 0));
    let health = llm.drift().health();
    assert_eq!(health["endpoints"][0]["alarmed"], false, "{health}");

    // The 11th answer reports model-v2: the alarm is raised by that call...
    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    let health = llm.drift().health();
    let a = &health["endpoints"][0];
    assert_eq!(
        (a["alarmed"].as_bool(), a["skipped"].as_bool()),
        (Some(true), Some(true))
    );
    let signals: Vec<&str> = a["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert_eq!(signals, ["reported_model", "system_fingerprint"]);
    assert_eq!(a["baseline"]["reported_model"], "model-v1");
    // ...and from then on the next endpoint serves.
    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    assert_eq!((first.requests().len(), second.requests().len()), (11, 1));
}

#[tokio::test]
async fn an_alarmed_endpoint_keeps_serving_by_default_and_its_scores_flat_line() {
    let (llm, first, second) = drifting_pair(OnAlarm::Serve).await;
    for _ in 0..20 {
        llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    }
    assert_eq!((first.requests().len(), second.requests().len()), (20, 0));
    let health = llm.drift().health();
    let a = &health["endpoints"][0];
    let signals: Vec<&str> = a["signals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["signal"].as_str().unwrap())
        .collect();
    assert_eq!(
        signals,
        ["reported_model", "system_fingerprint", "scores_flat"]
    );
    assert_eq!(a["skipped"], false);
    assert_eq!(
        a["window"]["figures"]["reported_models"],
        json!({"model-v2": 10})
    );
    assert_eq!(
        a["baseline"]["figures"]["reported_models"],
        json!({"model-v1": 10})
    );
}

#[tokio::test]
async fn prices_need_a_currency_and_the_drift_window_a_useful_size() {
    let model = ScriptedModel::queue(vec![]).await;
    let mut priced = endpoint("a", &model, "sk-a", 5_000);
    priced.price_input_per_1k_tokens = Some(Price::parse("0.0008").unwrap());
    let refused = super::LlmUnderstanding::new(
        config(vec![priced]),
        Arc::new(super::tests::Recorder::default()),
    );
    let why = refused.err().expect("refused").to_string();
    assert!(why.contains("price_currency is needed"), "{why}");

    let mut small = config(vec![endpoint("a", &model, "sk-a", 5_000)]);
    small.drift.window = 9;
    let refused = super::LlmUnderstanding::new(small, Arc::new(super::tests::Recorder::default()));
    let why = refused.err().expect("refused").to_string();
    assert!(why.contains("drift.window must be at least 10"), "{why}");
}
