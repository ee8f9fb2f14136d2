//! The language-model path against scripted OpenAI-compatible servers over loopback HTTP.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use countersign_scripted::{Reply, ScriptedModel};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::domain::draft::{ChatLine, Role};
use crate::understanding::audit::{CallRecorder, ModelCall, Outcome};
use crate::understanding::{Intent, OrderRef, Scored};

const KEY_A: &str = "sk-test-a-7f3c9e1d";
const KEY_B: &str = "sk-test-b-52aa0b6e";

#[derive(Default)]
pub(super) struct Recorder(Mutex<Vec<ModelCall>>);

#[async_trait]
impl CallRecorder for Recorder {
    async fn record(&self, call: ModelCall) {
        self.0.lock().unwrap().push(call);
    }
}

impl Recorder {
    pub(super) fn calls(&self) -> Vec<ModelCall> {
        self.0.lock().unwrap().clone()
    }

    fn outcomes(&self) -> Vec<(String, Outcome)> {
        self.calls()
            .into_iter()
            .map(|c| (c.endpoint, c.outcome))
            .collect()
    }
}

pub(super) fn endpoint(
    name: &str,
    model: &ScriptedModel,
    key: &str,
    timeout_ms: u64,
) -> EndpointConfig {
    EndpointConfig {
        name: name.to_owned(),
        base_url: model.url(),
        api_key: Some(Secret::new(key.to_owned())),
        model: format!("{name}-model"),
        timeout_ms,
        price_input_per_1k_tokens: None,
        price_output_per_1k_tokens: None,
        price_currency: None,
    }
}

pub(super) fn config(endpoints: Vec<EndpointConfig>) -> LlmConfig {
    LlmConfig {
        endpoints,
        ..LlmConfig::default()
    }
}

/// One endpoint "a" on `model`.
fn one(model: &ScriptedModel) -> LlmConfig {
    config(vec![endpoint("a", model, KEY_A, 5_000)])
}

/// Endpoint "a" on `first`, then "b" on `second`.
fn two(first: &ScriptedModel, second: &ScriptedModel) -> LlmConfig {
    config(vec![
        endpoint("a", first, KEY_A, 5_000),
        endpoint("b", second, KEY_B, 5_000),
    ])
}

pub(super) fn start(config: LlmConfig) -> (LlmUnderstanding, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let llm = LlmUnderstanding::new(config, recorder.clone()).expect("a valid configuration");
    (llm, recorder)
}

pub(super) fn ctx(history: Vec<ChatLine>) -> Context {
    Context {
        session_id: "sess-1".into(),
        merchant_id: "demo".into(),
        currency: "CNY".into(),
        history,
    }
}

fn refund_last_broken() -> Value {
    json!({
        "intent": { "value": "refund", "ambiguity_score": 0.05 },
        "order": { "value": { "kind": "last" }, "ambiguity_score": 0.1 },
        "amount": null,
        "contact": null,
        "reason": { "value": "it arrived broken", "ambiguity_score": 0.0 }
    })
}

fn refund_1042() -> Value {
    json!({
        "intent": { "value": "refund", "ambiguity_score": 0.0 },
        "order": { "value": { "kind": "id", "id": "1042" }, "ambiguity_score": 0.0 },
        "amount": null,
        "contact": null,
        "reason": null
    })
}

fn last_message(request: &Value) -> &Value {
    request["messages"].as_array().unwrap().last().unwrap()
}

#[tokio::test]
async fn an_english_extraction_round_trips_and_the_request_is_as_specified() {
    let model = ScriptedModel::queue(vec![Reply::Json(refund_last_broken())]).await;
    let (llm, recorder) = start(one(&model));
    let history = vec![
        ChatLine {
            role: Role::Shopper,
            text: "hi".into(),
        },
        ChatLine {
            role: Role::Agent,
            text: "How can I help?".into(),
        },
    ];
    let text = "refund my last order, it arrived broken";

    let got = llm.extract(&ctx(history), text).await.unwrap();

    assert_eq!(got.intent.value, Intent::Refund);
    assert_eq!(got.order.unwrap().value, OrderRef::Last);
    assert_eq!(got.reason.unwrap().value, "it arrived broken");
    let requests = model.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request["model"], "a-model");
    assert_eq!(request["temperature"], json!(0.2));
    assert_eq!(request["response_format"]["type"], "json_schema");
    assert_eq!(request["response_format"]["json_schema"]["strict"], true);
    assert_eq!(
        request["response_format"]["json_schema"]["schema"],
        *prompt::WIRE_SCHEMA
    );
    assert_eq!(last_message(request)["role"], "user");
    assert_eq!(last_message(request)["content"], text);
    let roles: Vec<&str> = request["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    let calls = recorder.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, Outcome::Ok);
    assert_eq!(calls[0].purpose, Purpose::Extract);
    assert_eq!(calls[0].session_id, "sess-1");
    assert_eq!(calls[0].model, "a-model");
    assert_eq!(&calls[0].request, request);
    assert!(calls[0].prompt_tokens.is_some() && calls[0].completion_tokens.is_some());
    let response: Value = serde_json::from_str(calls[0].response.as_deref().unwrap()).unwrap();
    assert_eq!(response, refund_last_broken());
}

#[tokio::test]
async fn a_chinese_extraction_round_trips() {
    let model = ScriptedModel::queue(vec![Reply::Json(refund_1042())]).await;
    let (llm, _) = start(one(&model));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(
        got.order,
        Some(Scored {
            value: OrderRef::Id { id: "1042".into() },
            ambiguity_score: 0.0
        })
    );
    assert_eq!(got.intent.value, Intent::Refund);
    let request = &model.requests()[0];
    assert_eq!(last_message(request)["role"], "user");
    assert_eq!(last_message(request)["content"], "退款订单 1042");
}

#[tokio::test]
async fn json_object_mode_asks_for_a_json_object() {
    let model = ScriptedModel::queue(vec![Reply::Json(refund_1042())]).await;
    let mut cfg = one(&model);
    cfg.structured_output = StructuredOutput::JsonObject;
    let (llm, _) = start(cfg);

    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    let request = &model.requests()[0];
    assert_eq!(request["response_format"], json!({ "type": "json_object" }));
}

#[tokio::test]
async fn output_that_is_not_json_nor_valid_is_retried_once_then_unreadable() {
    let mut over = refund_1042();
    over["intent"]["ambiguity_score"] = json!(7);
    let model = ScriptedModel::queue(vec![
        Reply::Content("Sure! The shopper wants a refund.".into()),
        Reply::Json(over),
        Reply::Json(refund_1042()),
    ])
    .await;
    let (llm, recorder) = start(one(&model));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(got, prompt::unreadable());
    assert_eq!(got.intent.value, Intent::Unknown);
    assert_eq!(got.intent.ambiguity_score, 1.0);
    let requests = model.requests();
    assert_eq!(requests.len(), 2, "one call and exactly one retry");
    assert_eq!(requests[0], requests[1]);
    let outcomes: Vec<Outcome> = recorder.calls().iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [Outcome::InvalidOutput, Outcome::InvalidOutput]);
    assert_eq!(
        recorder.calls()[0].response.as_deref(),
        Some("Sure! The shopper wants a refund.")
    );
}

#[tokio::test]
async fn a_valid_retry_is_taken() {
    let mut over = refund_1042();
    over["intent"]["ambiguity_score"] = json!(7);
    let model = ScriptedModel::queue(vec![Reply::Json(over), Reply::Json(refund_1042())]).await;
    let (llm, recorder) = start(one(&model));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(got.order.unwrap().value, OrderRef::Id { id: "1042".into() });
    assert_eq!(model.requests().len(), 2);
    let outcomes: Vec<Outcome> = recorder.calls().iter().map(|c| c.outcome).collect();
    assert_eq!(outcomes, [Outcome::InvalidOutput, Outcome::Ok]);
}

#[tokio::test]
async fn a_rate_limited_endpoint_hands_over_to_the_next() {
    let first = ScriptedModel::queue(vec![Reply::Status(429)]).await;
    let second = ScriptedModel::queue(vec![Reply::Json(refund_1042())]).await;
    let (llm, recorder) = start(two(&first, &second));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(got.intent.value, Intent::Refund);
    assert_eq!(first.requests().len(), 1);
    assert_eq!(second.requests().len(), 1);
    assert_eq!(second.requests()[0]["model"], "b-model");
    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::RateLimited),
            ("b".into(), Outcome::Ok)
        ]
    );
}

#[tokio::test]
async fn every_endpoint_rate_limited_is_unavailable_after_one_call_each() {
    let first = ScriptedModel::queue(vec![Reply::Status(429), Reply::Json(refund_1042())]).await;
    let second = ScriptedModel::queue(vec![Reply::Status(429), Reply::Json(refund_1042())]).await;
    let (llm, recorder) = start(two(&first, &second));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await;

    assert_eq!(got, Err(UnderstandingError::Unavailable));
    assert_eq!(first.requests().len(), 1, "no retry of a 429");
    assert_eq!(second.requests().len(), 1, "no retry of a 429");
    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::RateLimited),
            ("b".into(), Outcome::RateLimited)
        ]
    );
}

#[tokio::test]
async fn every_endpoint_failing_is_unavailable_after_one_call_each() {
    let first = ScriptedModel::queue(vec![Reply::Status(503), Reply::Json(refund_1042())]).await;
    let second = ScriptedModel::queue(vec![Reply::Status(500), Reply::Json(refund_1042())]).await;
    let (llm, recorder) = start(two(&first, &second));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await;

    assert_eq!(got, Err(UnderstandingError::Unavailable));
    assert_eq!(first.requests().len(), 1);
    assert_eq!(second.requests().len(), 1);
    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::ServerError),
            ("b".into(), Outcome::ServerError)
        ]
    );
}

#[tokio::test]
async fn a_slow_endpoint_times_out_and_the_next_answers() {
    let slow = Reply::Delay(Duration::from_secs(5), Box::new(Reply::Json(refund_1042())));
    let first = ScriptedModel::queue(vec![slow]).await;
    let second = ScriptedModel::queue(vec![Reply::Json(refund_1042())]).await;
    let (llm, recorder) = start(config(vec![
        endpoint("a", &first, KEY_A, 200),
        endpoint("b", &second, KEY_B, 5_000),
    ]));
    let started = std::time::Instant::now();

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(4),
        "did not wait for the slow one"
    );
    assert_eq!(got.intent.value, Intent::Refund);
    assert_eq!(first.requests().len(), 1);
    assert_eq!(
        recorder.outcomes(),
        [("a".into(), Outcome::Timeout), ("b".into(), Outcome::Ok)]
    );
    assert!(recorder.calls()[0].latency_ms >= 200);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_a_transport_error_and_the_next_answers() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let second = ScriptedModel::queue(vec![Reply::Json(refund_1042())]).await;
    let mut dead = endpoint("a", &second, KEY_A, 5_000);
    dead.base_url = dead_url;
    let (llm, recorder) = start(config(vec![dead, endpoint("b", &second, KEY_B, 5_000)]));

    let got = llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(got.intent.value, Intent::Refund);
    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::TransportError),
            ("b".into(), Outcome::Ok)
        ]
    );
}

#[tokio::test]
async fn a_refused_request_moves_on_without_counting_against_the_endpoint() {
    let first = ScriptedModel::queue(vec![Reply::Status(400), Reply::Status(400)]).await;
    let second = ScriptedModel::start(Arc::new(|_: &Value| Reply::Json(refund_1042()))).await;
    let mut cfg = two(&first, &second);
    cfg.failure_threshold = 1;
    let (llm, recorder) = start(cfg);

    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert_eq!(first.requests().len(), 2, "a 400 does not open the circuit");
    assert_eq!(recorder.calls()[0].outcome, Outcome::ClientError);
}

#[tokio::test]
async fn an_open_circuit_skips_its_endpoint_without_a_call() {
    let failing = ScriptedModel::start(Arc::new(|_: &Value| Reply::Status(503))).await;
    let healthy = ScriptedModel::start(Arc::new(|_: &Value| Reply::Json(refund_1042()))).await;
    let mut cfg = two(&failing, &healthy);
    cfg.failure_threshold = 2;
    cfg.open_seconds = 3_600;
    let (llm, recorder) = start(cfg);

    for _ in 0..4 {
        llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();
    }

    assert_eq!(
        failing.requests().len(),
        2,
        "skipped once the circuit opened"
    );
    assert_eq!(healthy.requests().len(), 4);
    let to_a = recorder.outcomes().iter().filter(|(e, _)| e == "a").count();
    assert_eq!(to_a, 2);
}

#[tokio::test]
async fn every_circuit_open_is_unavailable_without_a_call() {
    let failing = ScriptedModel::start(Arc::new(|_: &Value| Reply::Status(429))).await;
    let mut cfg = one(&failing);
    cfg.failure_threshold = 1;
    let (llm, _) = start(cfg);

    let first = llm.extract(&ctx(vec![]), "hi").await;
    let second = llm.extract(&ctx(vec![]), "hi").await;

    assert_eq!(first, Err(UnderstandingError::Unavailable));
    assert_eq!(second, Err(UnderstandingError::Unavailable));
    assert_eq!(failing.requests().len(), 1);
}

fn drain(rx: &mut mpsc::Receiver<String>) -> Vec<String> {
    let mut got = Vec::new();
    while let Ok(piece) = rx.try_recv() {
        got.push(piece);
    }
    got
}

#[tokio::test]
async fn phrase_streams_deltas_in_order_and_returns_the_whole_text() {
    let pieces = ["好的，", "订单 1042 ", "将退款 128.00 CNY。"];
    let model = ScriptedModel::queue(vec![Reply::Stream(pieces.map(String::from).to_vec())]).await;
    let (llm, recorder) = start(one(&model));
    let (tx, mut rx) = mpsc::channel(16);
    let history = vec![ChatLine {
        role: Role::Shopper,
        text: "退款订单 1042".into(),
    }];
    let phrase = Phrase {
        text: "Order 1042 will be refunded 128.00 CNY.".into(),
    };

    let said = llm.phrase(&ctx(history), &phrase, &tx).await.unwrap();

    assert_eq!(said, pieces.concat());
    assert_eq!(drain(&mut rx), pieces);
    let request = &model.requests()[0];
    assert_eq!(request["stream"], true);
    assert_eq!(request["temperature"], json!(0.7));
    assert!(
        last_message(request)["content"]
            .as_str()
            .unwrap()
            .contains("Order 1042 will be refunded 128.00 CNY.")
    );
    let calls = recorder.calls();
    assert_eq!(calls[0].purpose, Purpose::Phrase);
    assert_eq!(calls[0].outcome, Outcome::Ok);
    assert_eq!(calls[0].response.as_deref(), Some(said.as_str()));
}

#[tokio::test]
async fn a_rephrasing_that_changes_a_number_gives_way_to_the_servers_wording() {
    let pieces = vec![
        "Refunding 1".into(),
        "82.00 CNY, ".into(),
        "approved.".into(),
    ];
    let model = ScriptedModel::queue(vec![Reply::Stream(pieces)]).await;
    let (llm, recorder) = start(one(&model));
    let (tx, mut rx) = mpsc::channel(16);
    let phrase = Phrase {
        text: "Refunding 128.00 CNY.".into(),
    };

    let said = llm.phrase(&ctx(vec![]), &phrase, &tx).await.unwrap();
    drop(tx);

    assert_eq!(said, phrase.text);
    assert_eq!(recorder.calls()[0].outcome, Outcome::InvalidOutput);
    let mut streamed = String::new();
    while let Some(piece) = rx.recv().await {
        streamed.push_str(&piece);
    }
    assert_eq!(streamed, "Refunding ", "the changed number never streamed");
}

#[tokio::test]
async fn phrase_fails_over_and_is_unavailable_when_nobody_answers() {
    let first = ScriptedModel::queue(vec![Reply::Status(429), Reply::Status(503)]).await;
    let second = ScriptedModel::queue(vec![Reply::Stream(vec!["Done.".into()])]).await;
    let (llm, recorder) = start(two(&first, &second));
    let (tx, mut rx) = mpsc::channel(16);
    let phrase = Phrase {
        text: "Done.".into(),
    };

    let said = llm.phrase(&ctx(vec![]), &phrase, &tx).await.unwrap();
    let gone = llm.phrase(&ctx(vec![]), &phrase, &tx).await;

    assert_eq!(said, "Done.");
    assert_eq!(drain(&mut rx), ["Done."]);
    assert_eq!(gone, Err(UnderstandingError::Unavailable));
    assert_eq!(first.requests().len(), 2);
    assert_eq!(second.requests().len(), 2);
    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::RateLimited),
            ("b".into(), Outcome::Ok),
            ("a".into(), Outcome::ServerError),
            ("b".into(), Outcome::ServerError),
        ]
    );
}

#[tokio::test]
async fn every_call_is_recorded_and_no_record_holds_an_api_key() {
    let first = ScriptedModel::queue(vec![
        Reply::Status(429),
        Reply::Content(format!("not JSON, and it echoes {KEY_A}")),
        Reply::Json(refund_1042()),
    ])
    .await;
    let second = ScriptedModel::queue(vec![
        Reply::Json(refund_1042()),
        Reply::Stream(vec!["Done.".into()]),
    ])
    .await;
    let cfg = two(&first, &second);
    assert!(!format!("{cfg:?}").contains(KEY_A));
    let (llm, recorder) = start(cfg);
    let (tx, _rx) = mpsc::channel(16);

    llm.extract(&ctx(vec![]), "refund 1042").await.unwrap();
    llm.extract(&ctx(vec![]), "refund 1042").await.unwrap();
    let phrase = Phrase {
        text: "Done.".into(),
    };
    llm.phrase(&ctx(vec![]), &phrase, &tx).await.unwrap();

    assert_eq!(
        recorder.outcomes(),
        [
            ("a".into(), Outcome::RateLimited),
            ("b".into(), Outcome::Ok),
            ("a".into(), Outcome::InvalidOutput),
            ("a".into(), Outcome::Ok),
            ("a".into(), Outcome::ServerError),
            ("b".into(), Outcome::Ok),
        ]
    );
    for call in recorder.calls() {
        let record = serde_json::to_string(&call).unwrap();
        for key in [KEY_A, KEY_B] {
            assert!(!record.contains(key), "a key in {record}");
        }
    }
    let echoed = recorder.calls()[2].response.clone().unwrap();
    assert_eq!(echoed, "not JSON, and it echoes [redacted]");
}

#[test]
fn configuration_has_defaults_and_is_checked() {
    let cfg: LlmConfig = serde_json::from_value(json!({
        "endpoints": [{ "name": "qwen", "base_url": "https://example.test/v1", "model": "qwen-plus" }]
    }))
    .unwrap();
    assert_eq!(cfg.failure_threshold, 3);
    assert_eq!(cfg.open_seconds, 30);
    assert_eq!(cfg.structured_output, StructuredOutput::JsonSchema);
    assert_eq!(cfg.endpoints[0].timeout_ms, 10_000);
    assert!(cfg.endpoints[0].api_key.is_none());
    assert!(validate(&cfg).is_ok());

    let object: StructuredOutput = serde_json::from_value(json!("json_object")).unwrap();
    assert_eq!(object, StructuredOutput::JsonObject);

    let bad = |edit: fn(&mut LlmConfig)| {
        let mut c = cfg.clone();
        edit(&mut c);
        validate(&c).unwrap_err().to_string()
    };
    assert!(bad(|c| c.endpoints.clear()).contains("no language-model endpoint"));
    assert!(bad(|c| c.failure_threshold = 0).contains("failure_threshold"));
    assert!(bad(|c| c.endpoints.push(c.endpoints[0].clone())).contains("named \"qwen\""));
    assert!(bad(|c| c.endpoints[0].base_url = "example.test".into()).contains("base_url"));
    assert!(bad(|c| c.endpoints[0].timeout_ms = 0).contains("timeout_ms"));
    let with_newline = |c: &mut LlmConfig| c.endpoints[0].api_key = Some(Secret::new("k\n".into()));
    assert!(bad(with_newline).contains("api_key"));
}

#[tokio::test]
async fn an_unrecorded_scripted_model_answers_and_keeps_nothing() {
    let model =
        ScriptedModel::start_unrecorded(Arc::new(|_: &Value| Reply::Json(refund_1042()))).await;
    let (llm, _) = start(one(&model));

    llm.extract(&ctx(vec![]), "退款订单 1042").await.unwrap();

    assert!(model.requests().is_empty());
}

/// A server that answers one request with a stream that breaks off after `first`.
async fn breaks_off_after(first: &'static str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while !request_complete(&seen) {
            let n = socket.read(&mut buf).await.unwrap();
            seen.extend_from_slice(&buf[..n]);
        }
        let chunk = json!({ "choices": [{ "index": 0, "delta": { "content": first } }] });
        let event = format!("data: {chunk}\n\n");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let body = format!("{:x}\r\n{event}\r\n", event.len());
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(body.as_bytes()).await.unwrap();
        // Closed without the last chunk: the stream breaks.
    });
    url
}

fn request_complete(seen: &[u8]) -> bool {
    let text = String::from_utf8_lossy(seen);
    let Some(end) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..end]
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    seen.len() >= end + 4 + length
}

#[tokio::test]
async fn a_stream_that_breaks_after_speaking_is_not_continued_by_another_endpoint() {
    let second = ScriptedModel::queue(vec![Reply::Stream(vec!["Done.".into()])]).await;
    let mut broken = endpoint("a", &second, KEY_A, 5_000);
    broken.base_url = breaks_off_after("All ").await;
    let (llm, recorder) = start(config(vec![broken, endpoint("b", &second, KEY_B, 5_000)]));
    let (tx, mut rx) = mpsc::channel(16);
    let phrase = Phrase {
        text: "Done.".into(),
    };

    let said = llm.phrase(&ctx(vec![]), &phrase, &tx).await;

    assert_eq!(said, Err(UnderstandingError::Unavailable));
    assert_eq!(drain(&mut rx), ["All "]);
    assert!(
        second.requests().is_empty(),
        "no second voice after the first spoke"
    );
    let calls = recorder.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].outcome, Outcome::TransportError);
    assert!(
        calls[0]
            .response
            .as_deref()
            .unwrap()
            .ends_with("after it had said: All ")
    );
}
