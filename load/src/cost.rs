//! What a flow cost: the server's cost counters (model calls at the endpoint's prices,
//! provider calls at `[pricing]`), read from its `/metrics` after a run.

use anyhow::{Context, Result};

use crate::client::Api;

/// The counters that add up to a flow's cost, each in nano-units of its currency.
const COUNTERS: [&str; 2] = [
    "countersign_model_cost_nanos_total",
    "countersign_provider_cost_nanos_total",
];

/// Prices the server under load is configured with: decimal text, as in its TOML file.
#[derive(Debug, Clone)]
pub struct Prices {
    pub input_per_1k: String,
    pub output_per_1k: String,
    pub provider_call: String,
    pub currency: String,
}

impl Prices {
    /// The `[llm.endpoints]` keys that price an endpoint.
    pub fn endpoint_keys(&self) -> String {
        format!(
            "price_input_per_1k_tokens = \"{}\", price_output_per_1k_tokens = \"{}\", \
             price_currency = \"{}\"",
            self.input_per_1k, self.output_per_1k, self.currency
        )
    }

    /// The `[pricing]` section.
    pub fn section(&self) -> String {
        format!(
            "[pricing]\nprovider_call = \"{}\"\ncurrency = \"{}\"\n",
            self.provider_call, self.currency
        )
    }
}

/// The cost of everything the server counted in `currency`, divided by `flows`, as a
/// decimal (rounded down to a nano-unit).
pub async fn per_flow(api: &Api, currency: &str, flows: usize) -> Result<String> {
    let url = format!("{}/metrics", api.base);
    let text = api.http().get(url).send().await?.text().await?;
    let total = total_nanos(&text, currency).context("reading the cost counters")?;
    let each = total / (flows.max(1) as u128);
    Ok(format!(
        "{}.{:09}",
        each / 1_000_000_000,
        each % 1_000_000_000
    ))
}

/// The sum of the cost counters' series in `currency`.
fn total_nanos(metrics: &str, currency: &str) -> Result<u128> {
    let label = format!("currency=\"{currency}\"");
    let mut total = 0u128;
    for line in metrics.lines() {
        let counted = COUNTERS.iter().any(|c| line.starts_with(&format!("{c}{{")));
        if !counted || !line.contains(&label) {
            continue;
        }
        let value = line.rsplit(' ').next().unwrap_or_default();
        let nanos: f64 = value.parse().with_context(|| format!("{line:?}"))?;
        total += nanos as u128;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cost_counters_of_one_currency_are_summed() {
        let metrics = "\
# TYPE countersign_model_cost_nanos_total counter
countersign_model_cost_nanos_total{endpoint=\"a\",currency=\"CNY\"} 1500
countersign_model_cost_nanos_total{endpoint=\"b\",currency=\"CNY\"} 500
countersign_model_cost_nanos_total{endpoint=\"a\",currency=\"USD\"} 7
countersign_provider_cost_nanos_total{provider=\"sandbox\",currency=\"CNY\"} 100000000
countersign_model_calls_total{endpoint=\"a\",outcome=\"ok\"} 9
";
        assert_eq!(total_nanos(metrics, "CNY").unwrap(), 100_002_000);
        assert_eq!(total_nanos(metrics, "USD").unwrap(), 7);
        assert_eq!(total_nanos("", "CNY").unwrap(), 0);
    }
}
