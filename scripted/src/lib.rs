//! A scripted OpenAI-compatible chat server on loopback, for tests and load generation:
//! it answers `POST /v1/chat/completions` with whatever its responder says, as a chat
//! completion, as server-sent events when the request asks for a stream, or as an error.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The assistant's content is this value, serialized.
    Json(Value),
    /// The assistant's content is this text, as it is.
    Content(String),
    /// The content in these pieces: one event each when streaming, joined otherwise.
    Stream(Vec<String>),
    /// An error status with an OpenAI-style error body.
    Status(u16),
    /// The reply, after a pause.
    Delay(Duration, Box<Reply>),
    /// The reply, saying it came from `model` (instead of the model asked for) built as
    /// `fingerprint`: for tests of what a provider reports changing under them.
    Reported {
        model: String,
        fingerprint: Option<String>,
        reply: Box<Reply>,
    },
}

impl Reply {
    /// This reply, said to come from `model` built as `fingerprint`.
    pub fn reported(self, model: &str, fingerprint: Option<&str>) -> Reply {
        Reply::Reported {
            model: model.to_owned(),
            fingerprint: fingerprint.map(str::to_owned),
            reply: Box::new(self),
        }
    }
}

/// What a response says about the model that produced it.
struct Origin<'a> {
    model: &'a str,
    fingerprint: Option<String>,
}

/// Chooses the reply to each request body.
pub type Responder = Arc<dyn Fn(&Value) -> Reply + Send + Sync>;

pub struct ScriptedModel {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
    server: JoinHandle<()>,
}

struct Script {
    responder: Responder,
    /// `None` when requests are not kept.
    requests: Option<Arc<Mutex<Vec<Value>>>>,
    served: AtomicU64,
}

impl ScriptedModel {
    /// Starts serving on a free loopback port.
    pub async fn start(responder: Responder) -> ScriptedModel {
        ScriptedModel::serve(responder, true).await
    }

    /// Like [`ScriptedModel::start`], but keeps no request bodies: for long load runs,
    /// whose memory would otherwise grow with every request.
    pub async fn start_unrecorded(responder: Responder) -> ScriptedModel {
        ScriptedModel::serve(responder, false).await
    }

    async fn serve(responder: Responder, record: bool) -> ScriptedModel {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a free loopback port");
        let addr = listener.local_addr().expect("a bound address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Script {
            responder,
            requests: record.then(|| requests.clone()),
            served: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(script);
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ScriptedModel {
            addr,
            requests,
            server,
        }
    }

    /// Answers with `replies` in order, then with status 500.
    pub async fn queue(replies: Vec<Reply>) -> ScriptedModel {
        let queue = Mutex::new(replies.into_iter());
        let next = move |_: &Value| lock(&queue).next().unwrap_or(Reply::Status(500));
        ScriptedModel::start(Arc::new(next)).await
    }

    /// The base URL, ending in `/v1`.
    pub fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Every request body received, in order (none when started unrecorded).
    pub fn requests(&self) -> Vec<Value> {
        lock(&self.requests).clone()
    }
}

impl Drop for ScriptedModel {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

async fn chat(State(script): State<Arc<Script>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "the request body is not JSON");
    };
    if let Some(requests) = &script.requests {
        lock(requests).push(request.clone());
    }
    let reply = (script.responder)(&request);
    let id = format!(
        "chatcmpl-scripted-{}",
        script.served.fetch_add(1, Ordering::Relaxed)
    );
    respond(&request, &id, reply).await
}

async fn respond(request: &Value, id: &str, mut reply: Reply) -> Response {
    let (mut model_name, mut fingerprint) = (None, None);
    let pieces = loop {
        reply = match reply {
            Reply::Delay(pause, then) => {
                tokio::time::sleep(pause).await;
                *then
            }
            Reply::Reported {
                model,
                fingerprint: print,
                reply,
            } => {
                model_name = Some(model);
                fingerprint = print;
                *reply
            }
            Reply::Status(status) => return error(status, "scripted failure"),
            Reply::Json(value) => break vec![value.to_string()],
            Reply::Content(text) => break vec![text],
            Reply::Stream(pieces) => break pieces,
        };
    };
    let origin = Origin {
        model: model_name.as_deref().unwrap_or_else(|| model(request)),
        fingerprint,
    };
    if request["stream"] == true {
        stream(request, id, &origin, pieces)
    } else {
        completion(request, id, &origin, pieces.concat())
    }
}

fn completion(request: &Value, id: &str, origin: &Origin, content: String) -> Response {
    let usage = usage(request, &content);
    let body = json!({
        "id": id,
        "object": "chat.completion",
        "created": now(),
        "model": origin.model,
        "system_fingerprint": origin.fingerprint,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "logprobs": null,
            "finish_reason": "stop"
        }],
        "usage": usage
    });
    axum::Json(body).into_response()
}

fn stream(request: &Value, id: &str, origin: &Origin, pieces: Vec<String>) -> Response {
    let whole = pieces.concat();
    let chunk = |delta: Value, finish: Value| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": now(),
            "model": origin.model,
            "system_fingerprint": origin.fingerprint,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }]
        })
    };
    let mut events = vec![chunk(
        json!({ "role": "assistant", "content": "" }),
        Value::Null,
    )];
    events.extend(
        pieces
            .into_iter()
            .map(|piece| chunk(json!({ "content": piece }), Value::Null)),
    );
    events.push(chunk(json!({}), json!("stop")));
    if request["stream_options"]["include_usage"] == true {
        let mut last = chunk(json!({}), Value::Null);
        last["choices"] = json!([]);
        last["usage"] = usage(request, &whole);
        events.push(last);
    }
    let events = events
        .into_iter()
        .map(|e| Event::default().data(e.to_string()))
        .chain(std::iter::once(Event::default().data("[DONE]")))
        .map(Ok::<_, Infallible>);
    Sse::new(futures_util::stream::iter(events)).into_response()
}

fn error(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let kind = match status.as_u16() {
        429 => "rate_limit_error",
        500.. => "server_error",
        _ => "invalid_request_error",
    };
    let body = json!({
        "error": { "message": message, "type": kind, "param": null, "code": null }
    });
    (status, axum::Json(body)).into_response()
}

fn model(request: &Value) -> &str {
    request["model"].as_str().unwrap_or("scripted")
}

/// A rough count: a token per four characters.
fn usage(request: &Value, content: &str) -> Value {
    let prompt: usize = request["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["content"].as_str())
        .map(|text| text.chars().count())
        .sum();
    let prompt = prompt.div_ceil(4);
    let completion = content.chars().count().div_ceil(4);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion
    })
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn post(model: &ScriptedModel, body: Value) -> (u16, String) {
        let response = countersign::http_client::client()
            .post(format!("{}/chat/completions", model.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    #[tokio::test]
    async fn an_error_status_has_an_openai_error_body() {
        let model = ScriptedModel::queue(vec![Reply::Status(429)]).await;

        let (status, body) = post(&model, json!({ "model": "m", "messages": [] })).await;

        assert_eq!(status, 429);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["type"], "rate_limit_error");
        assert_eq!(
            post(&model, json!({})).await.0,
            500,
            "past the end of the queue"
        );
    }

    #[tokio::test]
    async fn pieces_are_joined_for_a_request_that_does_not_stream() {
        let model = ScriptedModel::queue(vec![Reply::Stream(vec!["a".into(), "b".into()])]).await;
        let request = json!({ "model": "m", "messages": [{ "role": "user", "content": "hi" }] });

        let (status, body) = post(&model, request.clone()).await;

        assert_eq!(status, 200);
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["model"], "m");
        assert_eq!(body["choices"][0]["message"]["content"], "ab");
        assert_eq!(body["usage"]["total_tokens"], 2);
        assert_eq!(model.requests(), [request]);
    }

    #[tokio::test]
    async fn a_reply_may_say_it_came_from_another_model_and_build() {
        let said = Reply::Content("hi".into()).reported("m-2025", Some("fp_9"));
        let model = ScriptedModel::queue(vec![said]).await;

        let (_, body) = post(&model, json!({ "model": "m", "messages": [] })).await;

        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (body["model"].as_str(), body["system_fingerprint"].as_str()),
            (Some("m-2025"), Some("fp_9"))
        );
    }

    #[tokio::test]
    async fn a_stream_sends_one_chunk_a_piece_then_usage_when_asked_then_done() {
        let model = ScriptedModel::queue(vec![Reply::Stream(vec!["a".into(), "b".into()])]).await;
        let request = json!({
            "model": "m", "messages": [], "stream": true,
            "stream_options": { "include_usage": true }
        });

        let (status, body) = post(&model, request).await;

        assert_eq!(status, 200);
        let data: Vec<&str> = body
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .collect();
        assert_eq!(data.last(), Some(&"[DONE]"));
        let chunks: Vec<Value> = data[..data.len() - 1]
            .iter()
            .map(|d| serde_json::from_str(d).unwrap())
            .collect();
        let content: String = chunks
            .iter()
            .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(content, "ab");
        assert!(
            chunks
                .iter()
                .all(|c| c["object"] == "chat.completion.chunk")
        );
        assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 1);
    }
}
