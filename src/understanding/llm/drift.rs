//! Model drift: per endpoint, what the model reports and how it answers over a rolling
//! window of calls, against the endpoint's own baseline. The baseline is the model and
//! fingerprint the first answer reported, and the figures of the first full window.
//!
//! An alarm is raised when a call in the window reports another model or fingerprint than
//! the baseline, when the ambiguity scores flat-line (nine in ten the same, or their spread
//! down to a quarter of the baseline's), or when the share of unusable answers (schema
//! failures, refusals, changed facts) rises 20 points above the baseline's. Each alarm is
//! logged with its evidence, set in the `countersign_model_drift{endpoint,signal}` gauge and
//! shown at `GET /v1/models/health`. Only answered calls count: an endpoint that is down is
//! the circuit breaker's business. The figures are this instance's, since it started.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Share of identical scores in a window that counts as flat.
const FLAT_SHARE: f64 = 0.9;
/// A spread below this fraction of the baseline's has collapsed.
const SPREAD_COLLAPSE: f64 = 0.25;
/// A rise of the unusable share this large, in absolute terms, is a jump.
const FAILURE_JUMP: f64 = 0.2;
/// The smallest window accepted.
pub const MIN_WINDOW: usize = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftConfig {
    /// Answered calls per endpoint in the rolling window, and in the baseline.
    pub window: usize,
    /// What an alarmed endpoint does: keeps serving, or is skipped in failover.
    pub on_alarm: OnAlarm,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            window: 200,
            on_alarm: OnAlarm::Serve,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnAlarm {
    #[default]
    Serve,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    ReportedModel,
    Fingerprint,
    ScoresFlat,
    FailureRate,
}

impl Signal {
    pub const ALL: [Signal; 4] = [
        Signal::ReportedModel,
        Signal::Fingerprint,
        Signal::ScoresFlat,
        Signal::FailureRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Signal::ReportedModel => "reported_model",
            Signal::Fingerprint => "system_fingerprint",
            Signal::ScoresFlat => "scores_flat",
            Signal::FailureRate => "failure_rate",
        }
    }
}

/// One answered call.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub model: Option<String>,
    pub fingerprint: Option<String>,
    /// The answer was unusable: failing the schema, a refusal, a changed fact.
    pub failed: bool,
    /// The extraction's ambiguity scores; none for a rephrasing.
    pub scores: Vec<f64>,
}

/// The figures of a run of calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct Figures {
    calls: usize,
    reported_models: BTreeMap<String, usize>,
    system_fingerprints: BTreeMap<String, usize>,
    failure_rate: f64,
    scores: usize,
    /// The share of the most common score (to three decimals).
    top_score_share: Option<f64>,
    /// The scores' standard deviation.
    score_spread: Option<f64>,
}

fn figures(calls: &VecDeque<Observation>) -> Figures {
    let mut models = BTreeMap::new();
    let mut prints = BTreeMap::new();
    for c in calls {
        if let Some(m) = &c.model {
            *models.entry(m.clone()).or_insert(0) += 1;
        }
        if let Some(f) = &c.fingerprint {
            *prints.entry(f.clone()).or_insert(0) += 1;
        }
    }
    let failed = calls.iter().filter(|c| c.failed).count();
    let scores: Vec<f64> = calls
        .iter()
        .flat_map(|c| c.scores.iter().copied())
        .collect();
    let (top, spread) = if scores.is_empty() {
        (None, None)
    } else {
        let n = scores.len() as f64;
        let mut counts = BTreeMap::new();
        for s in &scores {
            *counts.entry((s * 1000.0).round() as i64).or_insert(0usize) += 1;
        }
        let top = counts.values().max().copied().unwrap_or(0) as f64 / n;
        let mean = scores.iter().sum::<f64>() / n;
        let var = scores.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / n;
        (Some(top), Some(var.sqrt()))
    };
    Figures {
        calls: calls.len(),
        reported_models: models,
        system_fingerprints: prints,
        failure_rate: if calls.is_empty() {
            0.0
        } else {
            failed as f64 / calls.len() as f64
        },
        scores: scores.len(),
        top_score_share: top,
        score_spread: spread,
    }
}

/// One endpoint's calls and alarms.
struct Track {
    endpoint: String,
    configured_model: String,
    first_model: Option<String>,
    first_fingerprint: Option<String>,
    recent: VecDeque<Observation>,
    baseline: Option<Figures>,
    raised: BTreeMap<Signal, String>,
}

/// The drift of every configured endpoint.
pub struct Drift {
    config: DriftConfig,
    tracks: Mutex<Vec<Track>>,
}

impl Drift {
    /// Watches `endpoints`, each (name, configured model), in failover order.
    pub fn new(config: DriftConfig, endpoints: &[(String, String)]) -> Self {
        let tracks = endpoints
            .iter()
            .map(|(endpoint, model)| {
                for signal in Signal::ALL {
                    gauge(endpoint, signal, false);
                }
                Track {
                    endpoint: endpoint.clone(),
                    configured_model: model.clone(),
                    first_model: None,
                    first_fingerprint: None,
                    recent: VecDeque::new(),
                    baseline: None,
                    raised: BTreeMap::new(),
                }
            })
            .collect();
        Drift {
            config,
            tracks: Mutex::new(tracks),
        }
    }

    /// Whether failover passes over `endpoint`: it is alarmed and the merchant chose to
    /// skip alarmed endpoints.
    pub fn skips(&self, endpoint: &str) -> bool {
        self.config.on_alarm == OnAlarm::Skip
            && self
                .lock()
                .iter()
                .any(|t| t.endpoint == endpoint && !t.raised.is_empty())
    }

    /// Counts one answered call of `endpoint` and raises or clears its alarms.
    pub fn observe(&self, endpoint: &str, call: Observation) {
        let window = self.config.window;
        let mut tracks = self.lock();
        let Some(t) = tracks.iter_mut().find(|t| t.endpoint == endpoint) else {
            return;
        };
        t.first_model = t.first_model.take().or_else(|| call.model.clone());
        t.first_fingerprint = t
            .first_fingerprint
            .take()
            .or_else(|| call.fingerprint.clone());
        t.recent.push_back(call);
        while t.recent.len() > window {
            t.recent.pop_front();
        }
        if t.baseline.is_none() && t.recent.len() == window {
            t.baseline = Some(figures(&t.recent));
        }
        let now = figures(&t.recent);
        let found = signals(t, &now, window);
        for signal in Signal::ALL {
            match (found.get(&signal), t.raised.contains_key(&signal)) {
                (Some(evidence), false) => {
                    tracing::warn!(endpoint = %t.endpoint, signal = signal.as_str(), %evidence, "model drift");
                    gauge(&t.endpoint, signal, true);
                }
                (None, true) => {
                    tracing::info!(endpoint = %t.endpoint, signal = signal.as_str(), "model drift cleared");
                    gauge(&t.endpoint, signal, false);
                }
                _ => {}
            }
        }
        t.raised = found;
    }

    /// What `GET /v1/models/health` shows: each endpoint's baseline, window and alarms.
    pub fn health(&self) -> Value {
        let tracks = self.lock();
        let endpoints: Vec<Value> = tracks
            .iter()
            .map(|t| {
                let signals: Vec<Value> = t
                    .raised
                    .iter()
                    .map(|(s, evidence)| json!({ "signal": s.as_str(), "evidence": evidence }))
                    .collect();
                json!({
                    "endpoint": t.endpoint,
                    "model": t.configured_model,
                    "alarmed": !t.raised.is_empty(),
                    "skipped": self.config.on_alarm == OnAlarm::Skip && !t.raised.is_empty(),
                    "baseline": {
                        "reported_model": t.first_model,
                        "system_fingerprint": t.first_fingerprint,
                        "figures": t.baseline,
                    },
                    "window": { "size": self.config.window, "figures": figures(&t.recent) },
                    "signals": signals,
                })
            })
            .collect();
        json!({ "on_alarm": self.config.on_alarm, "endpoints": endpoints })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Track>> {
        self.tracks.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The signals the window shows now, each with its evidence.
fn signals(t: &Track, now: &Figures, window: usize) -> BTreeMap<Signal, String> {
    let mut found = BTreeMap::new();
    let moved = |first: &Option<String>, seen: &BTreeMap<String, usize>| {
        let first = first.as_ref()?;
        let others: Vec<String> = seen
            .iter()
            .filter(|(name, _)| *name != first)
            .map(|(name, n)| format!("{name:?} in {n}"))
            .collect();
        (!others.is_empty()).then(|| {
            format!(
                "the first calls reported {first:?}; of the last {} calls: {}",
                now.calls,
                others.join(", ")
            )
        })
    };
    if let Some(e) = moved(&t.first_model, &now.reported_models) {
        found.insert(Signal::ReportedModel, e);
    }
    if let Some(e) = moved(&t.first_fingerprint, &now.system_fingerprints) {
        found.insert(Signal::Fingerprint, e);
    }
    let Some(base) = t.baseline.as_ref().filter(|_| now.calls == window) else {
        return found;
    };
    if let Some(e) = flat(base, now) {
        found.insert(Signal::ScoresFlat, e);
    }
    if now.failure_rate - base.failure_rate >= FAILURE_JUMP {
        let e = format!(
            "unusable answers in {:.0}% of the last {} calls against {:.0}% in the baseline",
            now.failure_rate * 100.0,
            now.calls,
            base.failure_rate * 100.0
        );
        found.insert(Signal::FailureRate, e);
    }
    found
}

/// Evidence that the scores flat-lined, against the baseline's.
fn flat(base: &Figures, now: &Figures) -> Option<String> {
    let (Some(top), Some(spread)) = (now.top_score_share, now.score_spread) else {
        return None;
    };
    let base_top = base.top_score_share.unwrap_or(1.0);
    if top >= FLAT_SHARE && base_top < FLAT_SHARE {
        return Some(format!(
            "{:.0}% of the last {} scores are the same value, against {:.0}% in the baseline",
            top * 100.0,
            now.scores,
            base_top * 100.0
        ));
    }
    let base_spread = base.score_spread.unwrap_or(0.0);
    (base_spread > 0.0 && spread < base_spread * SPREAD_COLLAPSE).then(|| {
        format!(
            "the scores' spread fell to {spread:.4} from {base_spread:.4} in the baseline \
             ({} scores)",
            now.scores
        )
    })
}

fn gauge(endpoint: &str, signal: Signal, raised: bool) {
    metrics::gauge!(crate::metrics::MODEL_DRIFT, "endpoint" => endpoint.to_owned(), "signal" => signal.as_str())
        .set(if raised { 1.0 } else { 0.0 });
}

#[cfg(test)]
mod tests;
