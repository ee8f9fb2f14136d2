//! Moves sessions whose confirmation ran out to `expired`, so a stale summary can never be
//! countersigned and the shopper hears about it.

use std::time::Duration;

use super::engine;
use crate::app::AppState;

const BATCH: i64 = 100;

/// Runs until the task is dropped.
pub async fn run(app: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sweep(&app).await;
        engine::assess_stalled(&app).await;
        app.limiter.forget_idle();
    }
}

async fn sweep(app: &AppState) {
    let due = match app.store.expiring(crate::clock::now(), BATCH).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::warn!(error = %e, "expiry sweep failed");
            return;
        }
    };
    for id in due {
        if let Err(e) = engine::expire_if_due(app, id).await {
            tracing::warn!(session_id = %id, code = e.code, "could not expire session");
        }
    }
}
