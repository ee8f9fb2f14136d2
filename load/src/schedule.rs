//! The open-loop schedule: starts on a fixed timetable, however long earlier starts take,
//! with a cap on how many may be in flight at once. A start that finds the cap full is
//! dropped rather than delayed, so the rate offered stays the rate asked for.

use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::{Instant, sleep_until};

#[derive(Debug, Clone, Copy)]
pub struct OpenLoop {
    /// Starts in all, dropped ones included.
    pub starts: usize,
    /// Starts per second.
    pub rate: f64,
    /// Most starts in flight at once.
    pub cap: usize,
}

/// What an open-loop run returned, from the first scheduled start to the last one ending.
#[derive(Debug)]
pub struct OpenRun<T> {
    /// One output per start that ran, in the order they ended.
    pub outputs: Vec<T>,
    /// Starts that found `cap` in flight.
    pub dropped: usize,
    pub elapsed: Duration,
}

/// When start `k` is due: `t0 + k / rate` seconds.
pub fn start_at(t0: Instant, rate: f64, k: usize) -> Instant {
    t0 + Duration::from_secs_f64(k as f64 / rate)
}

/// Calls `start(k, due)` for each start `k` at its due time, polling everything in flight
/// while it waits, and returns once the last one has ended.
pub async fn open_loop<F, Fut>(plan: OpenLoop, mut start: F) -> OpenRun<Fut::Output>
where
    F: FnMut(usize, Instant) -> Fut,
    Fut: Future,
{
    let t0 = Instant::now();
    let mut running = FuturesUnordered::new();
    let mut outputs = Vec::new();
    let mut dropped = 0;
    for k in 0..plan.starts {
        let due = start_at(t0, plan.rate, k);
        wait_until(due, &mut running, &mut outputs).await;
        if running.len() >= plan.cap.max(1) {
            dropped += 1;
        } else {
            running.push(start(k, due));
        }
    }
    while let Some(out) = running.next().await {
        outputs.push(out);
    }
    OpenRun {
        outputs,
        dropped,
        elapsed: t0.elapsed(),
    }
}

/// Waits for `due`, collecting whatever ends meanwhile (and whatever is ready by then).
async fn wait_until<Fut: Future>(
    due: Instant,
    running: &mut FuturesUnordered<Fut>,
    outputs: &mut Vec<Fut::Output>,
) {
    let sleep = sleep_until(due);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            Some(out) = running.next(), if !running.is_empty() => outputs.push(out),
            () = &mut sleep => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::sleep;

    #[test]
    fn the_kth_start_is_k_over_rate_seconds_in() {
        let t0 = Instant::now();
        assert_eq!(start_at(t0, 2.5, 0), t0);
        assert_eq!(start_at(t0, 2.5, 3), t0 + Duration::from_millis(1200));
        assert_eq!(start_at(t0, 0.5, 2), t0 + Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn starts_keep_to_the_schedule_and_a_full_cap_drops_them() {
        // Due at 0, 100, 200, 300 and 400 ms; each lasts 250 ms; two at a time. The start
        // at 200 finds both earlier ones running and is dropped; the one at 300 is not,
        // as the first ended at 250.
        let t0 = Instant::now();
        let plan = OpenLoop {
            starts: 5,
            rate: 10.0,
            cap: 2,
        };
        let run = open_loop(plan, |k, due| async move {
            let started = Instant::now();
            sleep(Duration::from_millis(250)).await;
            (k, due, started)
        })
        .await;

        assert_eq!(run.dropped, 1);
        let ks: Vec<usize> = run.outputs.iter().map(|(k, ..)| *k).collect();
        assert_eq!(ks, [0, 1, 3, 4]);
        for (k, due, started) in &run.outputs {
            let on_time = t0 + Duration::from_millis(100 * *k as u64);
            assert_eq!((*due, *started), (on_time, on_time), "start {k}");
        }
        assert_eq!(run.elapsed, Duration::from_millis(650));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_start_does_not_hold_back_the_next() {
        let t0 = Instant::now();
        let plan = OpenLoop {
            starts: 3,
            rate: 4.0,
            cap: 10,
        };
        let run = open_loop(plan, |k, _| async move {
            let started = Instant::now();
            sleep(Duration::from_secs(5)).await;
            (k, started)
        })
        .await;

        assert_eq!(run.dropped, 0);
        let starts: Vec<Duration> = run.outputs.iter().map(|(_, s)| *s - t0).collect();
        assert_eq!(starts, [0, 250, 500].map(Duration::from_millis));
        assert_eq!(run.elapsed, Duration::from_millis(5500));
    }
}
