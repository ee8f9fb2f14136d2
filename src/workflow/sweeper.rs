//! On a timer: moves sessions whose confirmation ran out to `expired`, so a stale summary
//! can never be countersigned and the shopper hears about it, and finishes risk checks a
//! crash interrupted.

use std::time::Duration;

use super::Workflow;

const BATCH: i64 = 100;

/// Runs until the task is dropped.
pub async fn run(flow: Workflow, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sweep(&flow).await;
        flow.resume_stalled().await;
    }
}

async fn sweep(flow: &Workflow) {
    let due = match flow.store.expiring(flow.clock.now(), BATCH).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep failed");
            return;
        }
    };
    for id in due {
        if let Err(e) = flow.expire_if_due(id).await {
            tracing::warn!(session_id = %id, code = e.code(), "could not expire session");
        }
    }
}
