//! One endpoint and one call to it: a completion or a stream, bounded by the endpoint's
//! timeout, its failure told apart by kind.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::EndpointConfig;
use super::breaker::Breaker;
use super::cost::Pricing;
use super::gate::FactGate;
use super::transport::{HttpStatus, OneShot};
use crate::secrets::Secret;
use crate::understanding::audit::Outcome;

pub struct Endpoint {
    pub name: String,
    pub model: String,
    pub timeout: Duration,
    pub breaker: Breaker,
    /// Its prices, when it has them.
    pub pricing: Option<Pricing>,
    client: Client<OpenAIConfig>,
    key: Option<Secret<String>>,
}

/// Token counts, when the endpoint reports them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Usage {
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
}

/// What an endpoint said about an answer besides its text: the tokens it counted, the
/// model it says it ran and that model's build (`system_fingerprint`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reported {
    pub usage: Usage,
    pub model: Option<String>,
    pub fingerprint: Option<String>,
}

impl Reported {
    /// Keeps what a response or chunk says, over what earlier ones said.
    fn note(&mut self, usage: Option<Usage>, model: Option<String>, fingerprint: Option<String>) {
        self.usage = usage.unwrap_or(self.usage);
        self.model = model.filter(|m| !m.is_empty()).or(self.model.take());
        self.fingerprint = fingerprint
            .filter(|f| !f.is_empty())
            .or(self.fingerprint.take());
    }
}

/// A completed answer: its text (a reply may have none) and what came with it.
pub struct Answer {
    pub content: Option<String>,
    pub reported: Reported,
}

/// A call that brought no usable answer, and the text that says why.
#[derive(Debug)]
pub struct Failure {
    pub outcome: Outcome,
    pub text: String,
}

impl Failure {
    /// Whether this says the endpoint is unavailable, rather than that it refused this
    /// request or gave an unusable answer; only these count against its circuit.
    pub fn is_unavailability(&self) -> bool {
        matches!(
            self.outcome,
            Outcome::RateLimited
                | Outcome::ServerError
                | Outcome::Timeout
                | Outcome::TransportError
        )
    }
}

/// The parts of a chat completion that are read; the rest may vary by provider.
#[derive(Deserialize)]
struct Completion {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<Usage>,
    model: Option<String>,
    system_fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    index: u32,
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    usage: Option<Usage>,
    model: Option<String>,
    system_fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    delta: Delta,
}

#[derive(Default, Deserialize)]
struct Delta {
    content: Option<String>,
}

impl Endpoint {
    pub fn new(config: &EndpointConfig, http: &reqwest::Client, breaker: Breaker) -> Self {
        // Every setting is given, so nothing is taken from OPENAI_* environment variables.
        let api = OpenAIConfig::new()
            .with_api_base(config.base_url.trim_end_matches('/'))
            .with_api_key(config.api_key.as_ref().map_or("", |k| k.expose().as_str()))
            .with_org_id("")
            .with_project_id("");
        let client = Client::build(http.clone(), api).with_http_service(OneShot(http.clone()));
        Endpoint {
            name: config.name.clone(),
            model: config.model.clone(),
            timeout: Duration::from_millis(config.timeout_ms),
            breaker,
            pricing: Pricing::of(config),
            client,
            key: config.api_key.clone(),
        }
    }

    /// One chat completion.
    pub async fn complete(&self, request: &Value) -> Result<Answer, Failure> {
        let chat = self.client.chat();
        let call = chat.create_byot::<_, Completion>(request);
        let completion = match tokio::time::timeout(self.timeout, call).await {
            Err(_) => return Err(self.timed_out()),
            Ok(result) => result.map_err(|e| self.failure(e))?,
        };
        let mut reported = Reported::default();
        reported.note(
            completion.usage,
            completion.model,
            completion.system_fingerprint,
        );
        let content = completion
            .choices
            .into_iter()
            .find(|c| c.index == 0)
            .and_then(|c| c.message.content);
        Ok(Answer { content, reported })
    }

    /// One streamed chat completion: each piece of content goes through `gate`, which keeps
    /// what was said even when the call fails, and what it releases is sent to `deltas`.
    pub async fn stream(
        &self,
        request: &Value,
        gate: &mut FactGate,
        deltas: &mpsc::Sender<String>,
    ) -> Result<Reported, Failure> {
        let call = self.stream_into(request, gate, deltas);
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(self.timed_out()),
            Ok(result) => result.map_err(|e| self.failure(e)),
        }
    }

    async fn stream_into(
        &self,
        request: &Value,
        gate: &mut FactGate,
        deltas: &mpsc::Sender<String>,
    ) -> Result<Reported, OpenAIError> {
        let mut stream = self
            .client
            .chat()
            .create_stream_byot::<_, Chunk>(request)
            .await?;
        let mut reported = Reported::default();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            reported.note(chunk.usage, chunk.model, chunk.system_fingerprint);
            let pieces = chunk.choices.into_iter().filter(|c| c.index == 0);
            for piece in pieces.filter_map(|c| c.delta.content) {
                if piece.is_empty() {
                    continue;
                }
                // A listener that went away misses the pieces; the gate keeps the whole text.
                if let Some(shown) = gate.push(&piece) {
                    let _ = deltas.send(shown).await;
                }
            }
        }
        Ok(reported)
    }

    /// `text` with the endpoint's key, should it appear, blotted out.
    pub fn scrub(&self, text: String) -> String {
        match &self.key {
            Some(key) if !key.expose().is_empty() => text.replace(key.expose(), "[redacted]"),
            _ => text,
        }
    }

    fn timed_out(&self) -> Failure {
        Failure {
            outcome: Outcome::Timeout,
            text: format!("no answer within {} ms", self.timeout.as_millis()),
        }
    }

    fn failure(&self, error: OpenAIError) -> Failure {
        let (outcome, text) = classify(error);
        Failure {
            outcome,
            text: self.scrub(text),
        }
    }
}

/// What kind of failure `error` is, and its text.
fn classify(error: OpenAIError) -> (Outcome, String) {
    let outcome = match &error {
        OpenAIError::Boxed(inner) => match inner.downcast_ref::<HttpStatus>() {
            Some(HttpStatus { status: 429, .. }) => Outcome::RateLimited,
            Some(HttpStatus { status, .. }) if *status >= 500 => Outcome::ServerError,
            Some(_) => Outcome::ClientError,
            None => Outcome::TransportError,
        },
        OpenAIError::Reqwest(e) if e.is_timeout() => Outcome::Timeout,
        // An answer came, but not a chat completion (or chunk).
        OpenAIError::JSONDeserialize(..) => Outcome::InvalidOutput,
        OpenAIError::InvalidArgument(_) => Outcome::ClientError,
        _ => Outcome::TransportError,
    };
    let text = match error {
        OpenAIError::JSONDeserialize(e, body) => format!("{e}: {body}"),
        other => other.to_string(),
    };
    (outcome, text)
}
