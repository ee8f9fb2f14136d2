//! Latency samples and their percentiles.

use std::time::Duration;

use super::Summary;

#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.samples.push(d);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The sample at quantile `q` (nearest rank), or zero when there are none.
    pub fn quantile(&self, q: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    /// Adds `{name}_p50_ms`, `_p95_ms`, `_p99_ms` and `_max_ms` to `summary`.
    pub fn report(&self, name: &str, summary: Summary) -> Summary {
        let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1000.0);
        summary
            .with(&format!("{name}_p50_ms"), ms(self.quantile(0.50)))
            .with(&format!("{name}_p95_ms"), ms(self.quantile(0.95)))
            .with(&format!("{name}_p99_ms"), ms(self.quantile(0.99)))
            .with(&format!("{name}_max_ms"), ms(self.quantile(1.0)))
    }
}

impl Extend<Duration> for Latencies {
    fn extend<I: IntoIterator<Item = Duration>>(&mut self, iter: I) {
        self.samples.extend(iter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.quantile(0.5), Duration::from_millis(50));
        assert_eq!(l.quantile(0.99), Duration::from_millis(99));
        assert_eq!(l.quantile(1.0), Duration::from_millis(100));
        assert_eq!(Latencies::default().quantile(0.5), Duration::ZERO);
    }
}
