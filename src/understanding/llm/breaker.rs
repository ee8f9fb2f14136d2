//! A circuit breaker for one endpoint: after `threshold` failures in a row it stays open
//! for `open_for`, then lets one trial call through; the trial's result closes or re-opens it.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// The trial call is under way; everyone else keeps away.
    HalfOpen,
}

#[derive(Debug)]
struct Inner {
    threshold: u32,
    open_for: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Clone)]
pub struct Breaker(Arc<Inner>);

impl Breaker {
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Breaker(Arc::new(Inner {
            threshold: threshold.max(1),
            open_for,
            state: Mutex::new(State::Closed { failures: 0 }),
        }))
    }

    /// Leave to call the endpoint, or `None` while the circuit is open.
    pub fn acquire(&self) -> Option<Permit> {
        let mut state = self.lock();
        let trial = match *state {
            State::Closed { .. } => false,
            State::Open { until } if Instant::now() >= until => true,
            State::Open { .. } | State::HalfOpen => return None,
        };
        if trial {
            *state = State::HalfOpen;
        }
        Some(Permit {
            breaker: self.clone(),
            trial,
            settled: false,
        })
    }

    /// Whether a call would be turned away now.
    #[cfg(test)]
    pub fn is_open(&self) -> bool {
        match *self.lock() {
            State::Closed { .. } => false,
            State::Open { until } => Instant::now() < until,
            State::HalfOpen => true,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain value, always whole: a panic elsewhere cannot leave it torn.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_success(&self) {
        *self.lock() = State::Closed { failures: 0 };
    }

    fn on_failure(&self, trial: bool) {
        let mut state = self.lock();
        let open = State::Open {
            until: Instant::now() + self.0.open_for,
        };
        *state = match *state {
            _ if trial => open,
            State::Closed { failures } if failures + 1 >= self.0.threshold => open,
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            // Another call already opened it; its clock stands.
            other => other,
        };
    }

    /// A trial that ended without a verdict (its caller went away): the next call may try.
    fn on_abandoned_trial(&self) {
        let mut state = self.lock();
        if *state == State::HalfOpen {
            *state = State::Open {
                until: Instant::now(),
            };
        }
    }
}

/// One call's leave to go ahead; report how it went with [`Permit::success`] or
/// [`Permit::failure`]. Dropped without either, it counts for nothing.
#[derive(Debug)]
pub struct Permit {
    breaker: Breaker,
    trial: bool,
    settled: bool,
}

impl Permit {
    /// The endpoint answered.
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.on_success();
    }

    /// The endpoint did not answer usefully: rate limited, server error, timeout, transport.
    pub fn failure(mut self) {
        self.settled = true;
        self.breaker.on_failure(self.trial);
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.settled && self.trial {
            self.breaker.on_abandoned_trial();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::advance;

    fn fail(b: &Breaker) {
        b.acquire().expect("closed").failure();
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_threshold_failures_in_a_row_and_stays_open_for_the_period() {
        let b = Breaker::new(3, Duration::from_secs(30));
        fail(&b);
        fail(&b);
        assert!(!b.is_open());
        fail(&b);
        assert!(b.is_open());
        assert!(b.acquire().is_none());
        advance(Duration::from_secs(29)).await;
        assert!(b.acquire().is_none());
        advance(Duration::from_secs(1)).await;
        assert!(b.acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_count() {
        let b = Breaker::new(3, Duration::from_secs(30));
        fail(&b);
        fail(&b);
        b.acquire().unwrap().success();
        fail(&b);
        fail(&b);
        assert!(!b.is_open());
        fail(&b);
        assert!(b.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_lets_exactly_one_trial_through_and_success_closes() {
        let b = Breaker::new(1, Duration::from_secs(30));
        fail(&b);
        advance(Duration::from_secs(30)).await;
        let trial = b.acquire().expect("trial");
        assert!(b.acquire().is_none(), "only one trial at a time");
        trial.success();
        assert!(!b.is_open());
        assert!(b.acquire().is_some());
        assert!(b.acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_reopens_for_a_full_period() {
        let b = Breaker::new(3, Duration::from_secs(30));
        for _ in 0..3 {
            fail(&b);
        }
        advance(Duration::from_secs(30)).await;
        b.acquire().expect("trial").failure();
        assert!(b.acquire().is_none());
        advance(Duration::from_secs(29)).await;
        assert!(b.acquire().is_none());
        advance(Duration::from_secs(1)).await;
        assert!(b.acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_trial_lets_the_next_call_try() {
        let b = Breaker::new(1, Duration::from_secs(30));
        fail(&b);
        advance(Duration::from_secs(30)).await;
        drop(b.acquire().expect("trial"));
        assert!(b.acquire().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn late_failures_do_not_extend_an_open_period() {
        let b = Breaker::new(1, Duration::from_secs(30));
        let late = b.acquire().unwrap();
        fail(&b);
        advance(Duration::from_secs(20)).await;
        late.failure();
        advance(Duration::from_secs(10)).await;
        assert!(b.acquire().is_some());
    }
}
