//! Delivers the outbox to the provider: leased rows (`FOR UPDATE SKIP LOCKED` on Postgres),
//! bounded exponential backoff with jitter, and a dead letter an operator can see after
//! the last attempt. A crash mid-delivery leaves the lease to run out; the retry carries the
//! same idempotency key, so the provider moves the money once.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt;
use rand::Rng;
use tracing::Instrument;

use super::Workflow;
use crate::payments::ProviderError;
use crate::store::Submission;

/// Attempts before a submission is dead-lettered.
pub const MAX_ATTEMPTS: i32 = 8;
/// How long a claimed row is ours before another dispatcher may take it.
pub(super) const LEASE: TimeDelta = TimeDelta::seconds(30);
const BATCH: i64 = 64;
/// Submissions handed to the provider at once, by the dispatcher and, separately, by
/// transitions delivering their own.
pub(super) const IN_FLIGHT: usize = 16;
const FIRST_BACKOFF_MS: i64 = 1_000;
const MAX_BACKOFF_MS: i64 = 300_000;

/// When the attempt after `attempts` failed ones should run: exponential, capped, with
/// jitter over the upper half so instances do not retry in step.
pub fn next_attempt(now: DateTime<Utc>, attempts: i32) -> DateTime<Utc> {
    let exp = FIRST_BACKOFF_MS.saturating_mul(1 << attempts.clamp(1, 20).saturating_sub(1));
    let ceiling = exp.min(MAX_BACKOFF_MS);
    let wait = rand::rng().random_range(ceiling / 2..=ceiling);
    now + TimeDelta::milliseconds(wait)
}

/// Runs until the task is dropped: delivers what is due, then waits `idle`. A submission
/// written on an instance that runs this is delivered by that instance at once, leased
/// (`Workflow::deliver_now`); what is left here is what that missed: retries, rows whose
/// lease ran out because their instance died, and rows written where nothing delivers.
pub async fn run(flow: Workflow, idle: Duration) {
    loop {
        while drain_once(&flow).await == BATCH as usize {}
        tokio::time::sleep(idle).await;
    }
}

impl Workflow {
    /// Delivers a submission this instance has just written leased to itself: its first
    /// attempt, without a claim.
    pub(super) fn deliver_now(&self, submission: Submission) {
        let flow = self.clone();
        let delivery = async move {
            let Ok(_slot) = flow.deliveries.acquire().await else {
                return;
            };
            deliver(&flow, submission).await;
        };
        tokio::spawn(delivery.in_current_span());
    }
}

/// Claims one batch of due submissions and delivers it; returns how many it claimed.
pub async fn drain_once(flow: &Workflow) -> usize {
    let now = flow.clock.now();
    let batch = match flow.store.claim_submissions(now, now + LEASE, BATCH).await {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(error = %e, "could not claim submissions");
            return 0;
        }
    };
    let claimed = batch.len();
    futures_util::stream::iter(batch)
        .for_each_concurrent(IN_FLIGHT, |s| deliver(flow, s))
        .await;
    claimed
}

#[tracing::instrument(skip_all, fields(session_id = %s.session_id, attempt = s.attempts))]
async fn deliver(flow: &Workflow, s: Submission) {
    let outcome = flow.provider.submit(&s).await;
    if let Some(price) = flow.provider_call_price() {
        let provider = flow.provider.name();
        crate::metrics::add_cost(crate::metrics::PROVIDER_COST, ("provider", provider), price);
    }
    let now = flow.clock.now();
    let key = s.idempotency_key.as_str();
    let stored = match outcome {
        Ok(reference) => flow.store.submission_sent(key, &reference, now).await,
        Err(ProviderError::Retryable(e)) if s.attempts < MAX_ATTEMPTS => {
            tracing::warn!(error = %e, "submission failed; will retry");
            flow.store
                .submission_retry(key, next_attempt(now, s.attempts), &e, now)
                .await
        }
        Err(ProviderError::Retryable(e)) => {
            tracing::error!(error = %e, "submission dead-lettered after its last attempt");
            flow.store.submission_dead(key, &e, now).await
        }
        Err(ProviderError::Permanent(e)) => {
            tracing::warn!(error = %e, "provider refused the submission");
            let dead = flow.store.submission_dead(key, &e, now).await;
            flow.provider_refused(s.session_id, &e).await;
            dead
        }
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "could not record the submission's outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let now = Utc::now();
        let wait = |attempts| (next_attempt(now, attempts) - now).num_milliseconds();
        for _ in 0..50 {
            assert!((500..=1_000).contains(&wait(1)));
            assert!((4_000..=8_000).contains(&wait(4)));
            assert!((150_000..=300_000).contains(&wait(12)));
            assert!((150_000..=300_000).contains(&wait(i32::MAX)));
        }
    }
}
