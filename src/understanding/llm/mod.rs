//! Language understanding by a model behind any OpenAI-compatible API.
//!
//! Endpoints are an ordered failover list. Each request makes at most one call per endpoint
//! (plus one retry of an unreadable extraction on the endpoint that produced it); an
//! endpoint that is rate limited, failing, slow or unreachable is passed over at once, and
//! one whose circuit is open is skipped without a call. When none is left the answer is
//! [`UnderstandingError::Unavailable`], straight away. Every call is recorded.

mod breaker;
mod call;
mod gate;
mod prompt;
mod transport;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use self::breaker::{Breaker, Permit};
use self::call::{Endpoint, Failure, Usage};
use self::gate::FactGate;
use super::audit::{CallRecorder, ModelCall, Outcome, Purpose, cap};
use super::{Context, Extraction, Phrase, Understanding, UnderstandingError};
use crate::secrets::Secret;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct LlmConfig {
    /// Tried in this order.
    pub endpoints: Vec<EndpointConfig>,
    /// Failures in a row that open an endpoint's circuit.
    pub failure_threshold: u32,
    /// How long an open circuit keeps its endpoint out.
    pub open_seconds: u64,
    pub structured_output: StructuredOutput,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            endpoints: Vec::new(),
            failure_threshold: 3,
            open_seconds: 30,
            structured_output: StructuredOutput::default(),
        }
    }
}

/// How the model is held to the extraction's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `response_format` `json_schema`, strict: the provider enforces the schema.
    #[default]
    JsonSchema,
    /// `response_format` `json_object`, for providers without schema support.
    JsonObject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EndpointConfig {
    /// Names the endpoint in audit records and logs.
    pub name: String,
    /// Up to and including the version, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    #[serde(default)]
    pub api_key: Option<Secret<String>>,
    pub model: String,
    /// The whole call, streaming included.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    10_000
}

#[derive(Debug, thiserror::Error)]
pub enum LlmConfigError {
    #[error("no language-model endpoint is configured")]
    NoEndpoints,
    #[error("failure_threshold must be at least 1")]
    ZeroThreshold,
    #[error("two language-model endpoints are named {0:?}")]
    DuplicateName(String),
    #[error("language-model endpoint {name:?}: {problem}")]
    Endpoint { name: String, problem: &'static str },
    #[error("the HTTP client for language models could not be built: {0}")]
    Http(String),
}

pub struct LlmUnderstanding {
    endpoints: Vec<Endpoint>,
    format: StructuredOutput,
    recorder: Arc<dyn CallRecorder>,
}

impl LlmUnderstanding {
    pub fn new(config: LlmConfig, recorder: Arc<dyn CallRecorder>) -> Result<Self, LlmConfigError> {
        validate(&config)?;
        let http = transport::http_client().map_err(|e| LlmConfigError::Http(e.to_string()))?;
        let open_for = Duration::from_secs(config.open_seconds);
        let endpoints = config
            .endpoints
            .iter()
            .map(|ep| {
                let breaker = Breaker::new(config.failure_threshold, open_for);
                Endpoint::new(ep, &http, breaker)
            })
            .collect();
        Ok(LlmUnderstanding {
            endpoints,
            format: config.structured_output,
            recorder,
        })
    }
}

fn validate(config: &LlmConfig) -> Result<(), LlmConfigError> {
    if config.endpoints.is_empty() {
        return Err(LlmConfigError::NoEndpoints);
    }
    if config.failure_threshold == 0 {
        return Err(LlmConfigError::ZeroThreshold);
    }
    let mut names = HashSet::new();
    for ep in &config.endpoints {
        if !names.insert(ep.name.as_str()) {
            return Err(LlmConfigError::DuplicateName(ep.name.clone()));
        }
        if let Some(problem) = endpoint_problem(ep) {
            let name = ep.name.clone();
            return Err(LlmConfigError::Endpoint { name, problem });
        }
    }
    Ok(())
}

fn endpoint_problem(ep: &EndpointConfig) -> Option<&'static str> {
    let key_ok = |k: &Secret<String>| k.expose().bytes().all(|b| b.is_ascii_graphic());
    if ep.name.trim().is_empty() {
        Some("the name is empty")
    } else if !(ep.base_url.starts_with("https://") || ep.base_url.starts_with("http://")) {
        Some("base_url must start with https:// or http://")
    } else if ep.model.trim().is_empty() {
        Some("the model is empty")
    } else if ep.timeout_ms == 0 {
        Some("timeout_ms must be more than 0")
    } else if !ep.api_key.as_ref().is_none_or(key_ok) {
        Some("api_key must be printable ASCII without spaces")
    } else {
        None
    }
}

/// How an extraction call went.
enum Read {
    Extraction(Extraction),
    /// An answer that is not a valid extraction: worth one more try.
    Unusable,
    /// No answer from this endpoint: the next one may give it.
    Refused,
}

/// How a rephrasing call went.
enum Said {
    Text(String),
    /// Nothing reached the shopper: the next endpoint may speak.
    Nothing,
    /// Part reached the shopper before the call failed: no other endpoint may add to it.
    Partly,
}

#[async_trait]
impl Understanding for LlmUnderstanding {
    async fn extract(&self, ctx: &Context, text: &str) -> Result<Extraction, UnderstandingError> {
        for endpoint in &self.endpoints {
            let Some(permit) = endpoint.breaker.acquire() else {
                continue;
            };
            let request = prompt::extract_request(&endpoint.model, self.format, ctx, text);
            match self.try_extract(ctx, endpoint, permit, &request).await {
                Read::Extraction(extraction) => return Ok(extraction),
                Read::Unusable => return Ok(self.extract_again(ctx, endpoint, &request).await),
                Read::Refused => continue,
            }
        }
        Err(UnderstandingError::Unavailable)
    }

    async fn phrase(
        &self,
        ctx: &Context,
        phrase: &Phrase,
        deltas: &mpsc::Sender<String>,
    ) -> Result<String, UnderstandingError> {
        for endpoint in &self.endpoints {
            let Some(permit) = endpoint.breaker.acquire() else {
                continue;
            };
            let request = prompt::phrase_request(&endpoint.model, ctx, phrase);
            let call = PhraseCall {
                ctx,
                endpoint,
                request: &request,
                phrase,
                deltas,
            };
            match self.try_phrase(call, permit).await {
                Said::Text(text) => return Ok(text),
                Said::Nothing => continue,
                Said::Partly => break,
            }
        }
        Err(UnderstandingError::Unavailable)
    }
}

struct PhraseCall<'a> {
    ctx: &'a Context,
    endpoint: &'a Endpoint,
    request: &'a Value,
    phrase: &'a Phrase,
    deltas: &'a mpsc::Sender<String>,
}

impl LlmUnderstanding {
    /// The one retry of an unusable extraction; what it cannot read is unreadable.
    async fn extract_again(
        &self,
        ctx: &Context,
        endpoint: &Endpoint,
        request: &Value,
    ) -> Extraction {
        let Some(permit) = endpoint.breaker.acquire() else {
            return prompt::unreadable();
        };
        match self.try_extract(ctx, endpoint, permit, request).await {
            Read::Extraction(extraction) => extraction,
            Read::Unusable | Read::Refused => prompt::unreadable(),
        }
    }

    async fn try_extract(
        &self,
        ctx: &Context,
        endpoint: &Endpoint,
        permit: Permit,
        request: &Value,
    ) -> Read {
        let attempt = Attempt::begin(ctx, endpoint, Purpose::Extract, request);
        let (read, outcome, usage, response) = match endpoint.complete(request).await {
            Ok(answer) => {
                permit.success();
                let content = answer.content.unwrap_or_default();
                let (read, outcome) = match prompt::read_extraction(&content) {
                    Ok(extraction) => (Read::Extraction(extraction), Outcome::Ok),
                    Err(_) => (Read::Unusable, Outcome::InvalidOutput),
                };
                (read, outcome, answer.usage, content)
            }
            Err(failure) => {
                let read = match failure.outcome {
                    Outcome::InvalidOutput => Read::Unusable,
                    _ => Read::Refused,
                };
                let outcome = failure.outcome;
                (read, outcome, Usage::default(), settle(permit, failure))
            }
        };
        self.record(attempt.finish(outcome, usage, response)).await;
        read
    }

    async fn try_phrase(&self, call: PhraseCall<'_>, permit: Permit) -> Said {
        let attempt = Attempt::begin(call.ctx, call.endpoint, Purpose::Phrase, call.request);
        let mut gate = FactGate::new(&call.phrase.text);
        let result = call
            .endpoint
            .stream(call.request, &mut gate, call.deltas)
            .await;
        let text = gate.text().to_owned();
        let (said, outcome, usage, response) = match result {
            Ok(usage) => {
                permit.success();
                // The model may only reword: if a number or a code changed, the server's own
                // wording stands.
                if prompt::keeps_facts(&call.phrase.text, &text) {
                    if let Some(rest) = gate.finish() {
                        let _ = call.deltas.send(rest).await;
                    }
                    (Said::Text(text.clone()), Outcome::Ok, usage, text)
                } else {
                    let own = call.phrase.text.clone();
                    (Said::Text(own), Outcome::InvalidOutput, usage, text)
                }
            }
            Err(failure) => {
                let outcome = failure.outcome;
                let error = settle(permit, failure);
                if text.is_empty() {
                    (Said::Nothing, outcome, Usage::default(), error)
                } else {
                    let response = format!("{error}; after it had said: {text}");
                    (Said::Partly, outcome, Usage::default(), response)
                }
            }
        };
        self.record(attempt.finish(outcome, usage, response)).await;
        said
    }

    async fn record(&self, call: ModelCall) {
        if call.outcome != Outcome::Ok {
            tracing::warn!(
                endpoint = %call.endpoint,
                purpose = call.purpose.as_str(),
                outcome = call.outcome.as_str(),
                latency_ms = call.latency_ms,
                "language-model call did not succeed"
            );
        }
        self.recorder.record(call).await;
    }
}

/// Tells the circuit how a failed call went; returns the failure's text.
fn settle(permit: Permit, failure: Failure) -> String {
    if failure.is_unavailability() {
        permit.failure();
    } else {
        permit.success();
    }
    failure.text
}

/// A call under way, for its audit record.
struct Attempt<'a> {
    session_id: &'a str,
    endpoint: &'a Endpoint,
    purpose: Purpose,
    request: &'a Value,
    at: DateTime<Utc>,
    started: Instant,
}

impl<'a> Attempt<'a> {
    fn begin(
        ctx: &'a Context,
        endpoint: &'a Endpoint,
        purpose: Purpose,
        request: &'a Value,
    ) -> Self {
        Attempt {
            session_id: &ctx.session_id,
            endpoint,
            purpose,
            request,
            at: Utc::now(),
            started: Instant::now(),
        }
    }

    fn finish(self, outcome: Outcome, usage: Usage, response: String) -> ModelCall {
        let latency = self.started.elapsed().as_millis();
        ModelCall {
            session_id: self.session_id.to_owned(),
            endpoint: self.endpoint.name.clone(),
            model: self.endpoint.model.clone(),
            purpose: self.purpose,
            outcome,
            latency_ms: i64::try_from(latency).unwrap_or(i64::MAX),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            request: self.request.clone(),
            response: Some(cap(self.endpoint.scrub(response))),
            at: self.at,
        }
    }
}
