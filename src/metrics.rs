//! Prometheus metrics, named for what an operator asks: how long turns take, how many
//! sessions sit in each state, how deep the outbox is, how the models and webhooks fare.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::domain::SessionState;
use crate::store::Store;

pub const TURN_SECONDS: &str = "countersign_turn_seconds";
pub const TRANSITIONS: &str = "countersign_transitions_total";
pub const SESSIONS: &str = "countersign_sessions";
pub const MODEL_CALLS: &str = "countersign_model_calls_total";
pub const MODEL_CALL_SECONDS: &str = "countersign_model_call_seconds";
pub const WEBHOOKS: &str = "countersign_webhooks_total";
pub const OUTBOX_PENDING: &str = "countersign_outbox_pending";
pub const OUTBOX_OLDEST_SECONDS: &str = "countersign_outbox_oldest_pending_seconds";
pub const OUTBOX_DEAD: &str = "countersign_outbox_dead";
pub const SOCKETS: &str = "countersign_sockets_active";
/// Connections, requests and sockets turned away or cut off by a limit, by `what`.
pub const REFUSED: &str = "countersign_limit_refusals_total";
/// Sessions the risk check sent to an operator's review.
pub const REVIEWS_QUEUED: &str = "countersign_reviews_queued_total";
/// 1 while a drift signal is raised for a model endpoint, by `endpoint` and `signal`.
pub const MODEL_DRIFT: &str = "countersign_model_drift";
/// What model calls cost, in nano-units (10⁻⁹ of the currency's unit), by `endpoint` and
/// `currency`.
pub const MODEL_COST: &str = "countersign_model_cost_nanos_total";
/// What calls to the payment provider cost at `[pricing]`, in nano-units, by `provider`
/// and `currency`.
pub const PROVIDER_COST: &str = "countersign_provider_cost_nanos_total";

/// Adds `cost` to the counter `name`{`label`, currency} in whole nano-units; the
/// pico-units short of a nano-unit are carried to the next cost of the same series, so the
/// counter never drifts from the exact sum by a nano-unit or more.
pub fn add_cost(name: &'static str, label: (&'static str, &str), charge: crate::domain::Charge) {
    use std::collections::HashMap;
    use std::sync::Mutex;
    /// A cost series: the counter, its label's value, the currency.
    type Series = (&'static str, String, &'static str);
    static CARRIED: OnceLock<Mutex<HashMap<Series, i64>>> = OnceLock::new();
    let currency = charge.currency.code();
    let key = (name, label.1.to_owned(), currency);
    let nanos = {
        let mut carried = CARRIED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let picos = carried.entry(key).or_insert(0);
        *picos = picos.saturating_add(charge.value.picos());
        let whole = *picos / 1_000;
        *picos -= whole * 1_000;
        whole
    };
    if nanos > 0 {
        metrics::counter!(name, label.0 => label.1.to_owned(), "currency" => currency)
            .increment(nanos as u64);
    }
}

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("valid buckets")
            .install_recorder()
            .expect("the metrics recorder is installed once")
    })
}

/// Reads the gauges that live in the database, then renders everything.
pub async fn render(store: &dyn Store, now: chrono::DateTime<chrono::Utc>) -> String {
    match store.sessions_by_state().await {
        Ok(counts) => {
            for state in SessionState::ALL {
                let n = counts
                    .iter()
                    .find(|(s, _)| s == state)
                    .map_or(0, |(_, n)| *n);
                metrics::gauge!(SESSIONS, "state" => state.as_str()).set(n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not count sessions for metrics"),
    }
    match store.outbox_stats().await {
        Ok(stats) => {
            metrics::gauge!(OUTBOX_PENDING).set(stats.pending as f64);
            metrics::gauge!(OUTBOX_DEAD).set(stats.dead as f64);
            let age = stats
                .oldest_pending
                .map_or(0.0, |at| (now - at).num_milliseconds() as f64 / 1000.0);
            metrics::gauge!(OUTBOX_OLDEST_SECONDS).set(age.max(0.0));
        }
        Err(e) => tracing::warn!(error = %e, "could not read the outbox for metrics"),
    }
    handle().render()
}
