//! Language understanding by a model behind any OpenAI-compatible API.
//!
//! Endpoints are an ordered failover list. Each request makes at most one call per endpoint
//! (plus one retry of an unreadable extraction on the endpoint that produced it); an
//! endpoint that is rate limited, failing, slow or unreachable is passed over at once, and
//! one whose circuit is open is skipped without a call. When none is left the answer is
//! [`UnderstandingError::Unavailable`], straight away. Every call is recorded.

mod breaker;
mod call;
mod cost;
pub mod drift;
mod gate;
mod prompt;
mod transport;

#[cfg(test)]
mod reported;
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
use self::call::{Endpoint, Failure, Reported};
use self::drift::{Drift, DriftConfig, Observation};
use self::gate::FactGate;
use super::audit::{CallRecorder, ModelCall, Outcome, Purpose, cap};
use super::{Context, Extraction, Phrase, Understanding, UnderstandingError};
use crate::domain::{Currency, Price};
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
    /// The drift alarm: its window, and what an alarmed endpoint does.
    pub drift: DriftConfig,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            endpoints: Vec::new(),
            failure_threshold: 3,
            open_seconds: 30,
            structured_output: StructuredOutput::default(),
            drift: DriftConfig::default(),
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
    /// What a thousand prompt tokens cost, in `price_currency`; decimal text, never a float.
    #[serde(default)]
    pub price_input_per_1k_tokens: Option<Price>,
    /// What a thousand completion tokens cost, in `price_currency`.
    #[serde(default)]
    pub price_output_per_1k_tokens: Option<Price>,
    /// The prices' currency; an endpoint without one is not priced.
    #[serde(default)]
    pub price_currency: Option<Currency>,
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
    #[error("drift.window must be at least {}", drift::MIN_WINDOW)]
    SmallWindow,
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
    drift: Arc<Drift>,
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
        let watched: Vec<(String, String)> = config
            .endpoints
            .iter()
            .map(|ep| (ep.name.clone(), ep.model.clone()))
            .collect();
        Ok(LlmUnderstanding {
            endpoints,
            format: config.structured_output,
            recorder,
            drift: Arc::new(Drift::new(config.drift.clone(), &watched)),
        })
    }

    /// The endpoints' drift, for `GET /v1/models/health`.
    pub fn drift(&self) -> Arc<Drift> {
        self.drift.clone()
    }

    /// The endpoints failover may try now: all, less those alarmed when the merchant
    /// chose to skip alarmed endpoints.
    fn serving(&self) -> impl Iterator<Item = &Endpoint> {
        self.endpoints
            .iter()
            .filter(|ep| !self.drift.skips(&ep.name))
    }
}

fn validate(config: &LlmConfig) -> Result<(), LlmConfigError> {
    if config.endpoints.is_empty() {
        return Err(LlmConfigError::NoEndpoints);
    }
    if config.failure_threshold == 0 {
        return Err(LlmConfigError::ZeroThreshold);
    }
    if config.drift.window < drift::MIN_WINDOW {
        return Err(LlmConfigError::SmallWindow);
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
    } else if ep.price_currency.is_none()
        && (ep.price_input_per_1k_tokens.is_some() || ep.price_output_per_1k_tokens.is_some())
    {
        Some("price_currency is needed with prices")
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
        for endpoint in self.serving() {
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
        for endpoint in self.serving() {
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
        let (read, outcome, reported, response) = match endpoint.complete(request).await {
            Ok(answer) => {
                permit.success();
                let content = answer.content.unwrap_or_default();
                let (read, outcome) = match prompt::read_extraction(&content) {
                    Ok(extraction) => (Read::Extraction(extraction), Outcome::Ok),
                    Err(_) => (Read::Unusable, Outcome::InvalidOutput),
                };
                (read, outcome, answer.reported, content)
            }
            Err(failure) => {
                let read = match failure.outcome {
                    Outcome::InvalidOutput => Read::Unusable,
                    _ => Read::Refused,
                };
                let outcome = failure.outcome;
                (read, outcome, Reported::default(), settle(permit, failure))
            }
        };
        let scores = match &read {
            Read::Extraction(e) => scores(e),
            Read::Unusable | Read::Refused => Vec::new(),
        };
        self.observe(endpoint, outcome, &reported, scores);
        self.record(attempt.finish(outcome, reported, response))
            .await;
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
        let (said, outcome, reported, response) = match result {
            Ok(reported) => {
                permit.success();
                // The model may only reword: if a number or a code changed, the server's own
                // wording stands.
                if prompt::keeps_facts(&call.phrase.text, &text) {
                    if let Some(rest) = gate.finish() {
                        let _ = call.deltas.send(rest).await;
                    }
                    (Said::Text(text.clone()), Outcome::Ok, reported, text)
                } else {
                    let own = call.phrase.text.clone();
                    (Said::Text(own), Outcome::InvalidOutput, reported, text)
                }
            }
            Err(failure) => {
                let outcome = failure.outcome;
                let error = settle(permit, failure);
                if text.is_empty() {
                    (Said::Nothing, outcome, Reported::default(), error)
                } else {
                    let response = format!("{error}; after it had said: {text}");
                    (Said::Partly, outcome, Reported::default(), response)
                }
            }
        };
        self.observe(call.endpoint, outcome, &reported, Vec::new());
        self.record(attempt.finish(outcome, reported, response))
            .await;
        said
    }

    /// Counts an answered call towards the endpoint's drift; calls that brought no answer
    /// are the circuit breaker's business.
    fn observe(
        &self,
        endpoint: &Endpoint,
        outcome: Outcome,
        reported: &Reported,
        scores: Vec<f64>,
    ) {
        if !matches!(outcome, Outcome::Ok | Outcome::InvalidOutput) {
            return;
        }
        let call = Observation {
            model: reported.model.clone(),
            fingerprint: reported.fingerprint.clone(),
            failed: outcome == Outcome::InvalidOutput,
            scores,
        };
        self.drift.observe(&endpoint.name, call);
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

/// Every ambiguity score an extraction carries.
fn scores(e: &Extraction) -> Vec<f64> {
    let entities = [
        e.order.as_ref().map(|s| s.ambiguity_score),
        e.amount.as_ref().map(|s| s.ambiguity_score),
        e.contact.as_ref().map(|s| s.ambiguity_score),
        e.reason.as_ref().map(|s| s.ambiguity_score),
    ];
    std::iter::once(e.intent.ambiguity_score)
        .chain(entities.into_iter().flatten())
        .collect()
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

    fn finish(self, outcome: Outcome, reported: Reported, response: String) -> ModelCall {
        let latency = self.started.elapsed().as_millis();
        let usage = reported.usage;
        let pricing = self.endpoint.pricing;
        ModelCall {
            session_id: self.session_id.to_owned(),
            endpoint: self.endpoint.name.clone(),
            model: self.endpoint.model.clone(),
            reported_model: reported.model,
            system_fingerprint: reported.fingerprint,
            purpose: self.purpose,
            outcome,
            latency_ms: i64::try_from(latency).unwrap_or(i64::MAX),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cost: pricing.and_then(|p| p.cost(usage)),
            cost_currency: pricing.map(|p| p.currency),
            request: self.request.clone(),
            response: Some(cap(self.endpoint.scrub(response))),
            at: self.at,
        }
    }
}
