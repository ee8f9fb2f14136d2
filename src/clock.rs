//! The time every decision reads: the wall clock in production; in tests, a clock that
//! stands still until it is moved, so expiry is tested without waiting for it.
//!
//! Times are truncated to microseconds so they round-trip through both databases.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

/// A shared handle; clones read the same time.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The wall clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock stopped at the current wall time; only `advance` moves it.
    pub fn paused() -> Self {
        Clock(Some(Arc::new(Mutex::new(now()))))
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.0 {
            None => now(),
            Some(at) => *at.lock().expect("clock lock"),
        }
    }

    /// Moves a paused clock forward by `by`; the wall clock cannot be moved.
    pub fn advance(&self, by: TimeDelta) {
        let at = self
            .0
            .as_ref()
            .expect("only a paused clock can be advanced");
        *at.lock().expect("clock lock") += by;
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::system"),
            Some(_) => write!(f, "Clock::paused({})", self.now()),
        }
    }
}

/// The wall clock's time. Code that decides anything reads a `Clock` instead.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_moves_only_when_advanced() {
        let clock = Clock::paused();
        let start = clock.now();
        assert_eq!(clock.clone().now(), start);
        clock.advance(TimeDelta::seconds(90));
        assert_eq!(clock.now() - start, TimeDelta::seconds(90));
        assert!(Clock::system().now() >= start);
    }
}
