//! The audit record of every language-model call: what was asked, of whom, what came back.

use std::cell::RefCell;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{Cost, Currency};

/// The most of a response's text an audit record keeps.
pub const RESPONSE_CAP_BYTES: usize = 16 * 1024;

/// How one call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// An answer that was usable.
    Ok,
    /// An answer that was not: not JSON, failing the schema, empty, or changing a number.
    InvalidOutput,
    /// HTTP 429.
    RateLimited,
    /// HTTP 5xx.
    ServerError,
    /// No complete answer within the endpoint's timeout.
    Timeout,
    /// The connection failed or broke.
    TransportError,
    /// HTTP 4xx other than 429: the endpoint refused this request.
    ClientError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::InvalidOutput => "invalid_output",
            Outcome::RateLimited => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::Timeout => "timeout",
            Outcome::TransportError => "transport_error",
            Outcome::ClientError => "client_error",
        }
    }

    pub const ALL: [Outcome; 7] = [
        Outcome::Ok,
        Outcome::InvalidOutput,
        Outcome::RateLimited,
        Outcome::ServerError,
        Outcome::Timeout,
        Outcome::TransportError,
        Outcome::ClientError,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// What a call was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Extract,
    Phrase,
}

impl Purpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Extract => "extract",
            Purpose::Phrase => "phrase",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Purpose::Extract, Purpose::Phrase]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// One call to one endpoint. Holds no credential: the request is the body sent, and the
/// API key travels only in a header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCall {
    pub session_id: String,
    /// The endpoint's configured name.
    pub endpoint: String,
    /// The model asked for.
    pub model: String,
    /// The model the endpoint says answered, and that model's build, when it says.
    pub reported_model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub purpose: Purpose,
    pub outcome: Outcome,
    pub latency_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    /// What the call cost at the endpoint's prices; `None` when it has none.
    pub cost: Option<Cost>,
    pub cost_currency: Option<Currency>,
    /// The request body sent.
    pub request: Value,
    /// The raw content, or the error text, at most [`RESPONSE_CAP_BYTES`].
    pub response: Option<String>,
    pub at: DateTime<Utc>,
}

/// Where model calls are kept.
#[async_trait]
pub trait CallRecorder: Send + Sync {
    async fn record(&self, call: ModelCall);
}

/// Records nothing.
pub struct DiscardCalls;

#[async_trait]
impl CallRecorder for DiscardCalls {
    async fn record(&self, _call: ModelCall) {}
}

/// Where calls go that no write of their turn stored: a background writer.
pub type Spill = tokio::sync::mpsc::UnboundedSender<ModelCall>;

/// The model calls of a turn not yet stored. Whatever is left when the turn ends (it
/// failed, wrote nothing, or was abandoned) goes to the spill.
#[derive(Default)]
struct Held {
    calls: Vec<ModelCall>,
    spill: Option<Spill>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(spill) = &self.spill {
            for call in self.calls.drain(..) {
                let _ = spill.send(call);
            }
        }
    }
}

tokio::task_local! {
    static HELD: RefCell<Held>;
}

/// Runs a turn holding the model calls it makes, so that each is stored by the write its
/// answer led to (`held`, then `stored`) rather than by a statement of its own.
pub async fn holding<T>(turn: impl Future<Output = T>) -> T {
    HELD.scope(RefCell::default(), turn).await
}

/// Holds `call` for the running turn's next write, with `spill` for what no write takes;
/// gives the call back outside a turn.
pub fn hold(call: ModelCall, spill: &Spill) -> Option<ModelCall> {
    if HELD.try_with(|_| ()).is_err() {
        return Some(call);
    }
    HELD.with(|h| {
        let mut h = h.borrow_mut();
        h.spill.get_or_insert_with(|| spill.clone());
        h.calls.push(call);
    });
    None
}

/// The running turn's calls not yet stored, for its next write.
pub fn held() -> Vec<ModelCall> {
    HELD.try_with(|h| h.borrow().calls.clone())
        .unwrap_or_default()
}

/// The first `count` held calls were stored.
pub fn stored(count: usize) {
    let _ = HELD.try_with(|h| {
        let mut h = h.borrow_mut();
        let count = count.min(h.calls.len());
        h.calls.drain(..count);
    });
}

/// `text` cut to at most [`RESPONSE_CAP_BYTES`], on a character boundary.
pub fn cap(mut text: String) -> String {
    if text.len() > RESPONSE_CAP_BYTES {
        let mut end = RESPONSE_CAP_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(cap("短".to_owned()), "短");
        let long = "退".repeat(RESPONSE_CAP_BYTES);
        let capped = cap(long);
        assert!(capped.len() <= RESPONSE_CAP_BYTES);
        assert!(capped.len() > RESPONSE_CAP_BYTES - 3);
        assert!(capped.chars().all(|c| c == '退'));
    }

    #[test]
    fn outcome_names_are_stable() {
        let all = [
            (Outcome::Ok, "ok"),
            (Outcome::InvalidOutput, "invalid_output"),
            (Outcome::RateLimited, "rate_limited"),
            (Outcome::ServerError, "server_error"),
            (Outcome::Timeout, "timeout"),
            (Outcome::TransportError, "transport_error"),
            (Outcome::ClientError, "client_error"),
        ];
        for (outcome, name) in all {
            assert_eq!(outcome.as_str(), name);
            assert_eq!(serde_json::to_value(outcome).unwrap(), name);
        }
    }
}
