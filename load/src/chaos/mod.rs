//! `chaos`: three `countersign serve` instances on one Postgres database, each with its
//! dispatcher, sweeper and sandbox. While shoppers take refunds to `settled` across them,
//! a random instance is SIGKILLed every few seconds and started again; shoppers whose
//! socket died resume on another. Afterwards the store must show every flow ended once,
//! one provider payment per session, no session left hanging, and no frame lost.
//!
//! The choices (which instance, when, how long each shopper pauses) come from `--seed`; the
//! interleaving with the servers' own timing does not.

pub mod audit;
mod seen;
mod shopper;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::postgres::PgPoolOptions;
use tokio::sync::Notify;

use self::audit::Audit;
use self::shopper::{Flow, Stage};
use super::Summary;
use super::client::{Api, Opened};
use super::cluster::{Cluster, Live};
use super::flows;
use super::model;
use super::server::{Merchant, ServerOptions};

pub const INSTANCES: usize = 3;
/// The sandbox settles this long after a submission, so kills also land while sessions
/// wait in `submitted`.
const SANDBOX_DELAY_MS: u64 = 100;
/// The instances' sweeper and dispatcher tick: recovery after a kill starts within it.
const SWEEP_MS: u64 = 250;

#[derive(Debug, Clone, Copy)]
pub struct ChaosOptions {
    pub flows: usize,
    pub concurrency: usize,
    pub seed: u64,
    /// Milliseconds from one instance being back to the next kill, drawn from this range.
    pub kill_every_ms: (u64, u64),
    pub max_kills: usize,
    /// Longest pause a shopper takes before a message or a confirmation.
    pub think_ms: u64,
    /// How long one flow may take.
    pub flow_timeout: Duration,
    /// How long sessions may take to end after the last shopper is done.
    pub drain: Duration,
}

/// Reads `MIN-MAX` (or one number) as an inclusive range.
pub fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once('-').unwrap_or((text, text));
    let number = |s: &str| s.trim().parse::<u64>().map_err(|e| format!("{s:?}: {e}"));
    let (min, max) = (number(min)?, number(max)?);
    if min > max {
        return Err(format!("{min} is above {max}"));
    }
    Ok((min, max))
}

pub async fn run(server: &ServerOptions, opts: ChaosOptions) -> Result<Summary> {
    let url = server
        .database_url
        .clone()
        .filter(|u| u.starts_with("postgres"))
        .context("chaos needs --database-url postgres://…: its instances share one database")?;
    let model = model::start().await;
    let server = ServerOptions {
        model_url: Some(model.url()),
        sandbox_delay_ms: SANDBOX_DELAY_MS,
        ..server.clone()
    };
    let mut cluster = Cluster::start(&server, INSTANCES, SWEEP_MS).await?;
    let merchant = cluster.create_merchant().await?;
    let db = PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?;
    let live = cluster.live.clone();
    let opened = open(&live, &merchant, &opts).await?;
    let started = Instant::now();
    let stage = Stage {
        live: &live,
        db: &db,
        think_ms: opts.think_ms,
        patience: opts.flow_timeout,
    };
    let stop = Notify::new();
    let shoppers = async {
        let flows = shop(&stage, opened, &opts).await;
        stop.notify_one();
        flows
    };
    let (flows, kills) = tokio::join!(shoppers, killer(&mut cluster, &opts, &stop));
    let kills = kills?;
    audit::drain(&db, &merchant.merchant_id, opts.drain).await?;
    let elapsed = started.elapsed();
    cluster.check_alive()?;
    let audit = audit::audit(&db, &merchant.merchant_id).await?;
    let report = Report {
        flows,
        kills,
        audit,
        elapsed,
    };
    if !report.ok(&opts) {
        report.explain(&cluster);
    }
    Ok(report.summary(&opts))
}

/// Stocks one order per flow and opens its session, each through instance `i % 3`, before
/// any instance is killed.
async fn open(live: &Live, merchant: &Merchant, opts: &ChaosOptions) -> Result<Vec<Opened>> {
    let apis: Vec<Api> = (0..live.count())
        .map(|i| Api::new(live.base(i), &merchant.api_key))
        .collect();
    flows::stock(&apis[0], opts.flows, opts.concurrency).await?;
    futures_util::stream::iter(0..opts.flows)
        .map(|i| {
            let api = &apis[i % apis.len()];
            async move { api.open_session(&flows::user(i)).await }
        })
        .buffered(opts.concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

async fn shop(stage: &Stage<'_>, opened: Vec<Opened>, opts: &ChaosOptions) -> Vec<Flow> {
    let instances = stage.live.count();
    futures_util::stream::iter(opened.into_iter().enumerate())
        .map(|(i, o)| {
            let text = format!("refund order {} in full", flows::order(i));
            let seed = opts.seed.wrapping_add(1 + i as u64);
            shopper::shop(stage, o, text, i % instances, seed)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await
}

/// Until `stop`, or `max_kills`: waits a drawn while, SIGKILLs a drawn instance and starts
/// it again. One instance is down at a time. Returns how many it killed.
async fn killer(cluster: &mut Cluster, opts: &ChaosOptions, stop: &Notify) -> Result<usize> {
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let (min, max) = opts.kill_every_ms;
    let mut kills = 0;
    while kills < opts.max_kills {
        let pause = Duration::from_millis(rng.random_range(min..=max));
        tokio::select! {
            _ = stop.notified() => break,
            _ = tokio::time::sleep(pause) => {}
        }
        let victim = rng.random_range(0..cluster.live.count());
        cluster.kill(victim).await?;
        kills += 1;
        cluster.restart(victim).await?;
    }
    Ok(kills)
}

struct Report {
    flows: Vec<Flow>,
    kills: usize,
    audit: Audit,
    elapsed: Duration,
}

impl Report {
    fn failures(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter().filter(|f| f.ended != "settled")
    }

    fn sum(&self, count: impl Fn(&Flow) -> usize) -> usize {
        self.flows.iter().map(count).sum()
    }

    fn ok(&self, opts: &ChaosOptions) -> bool {
        let a = &self.audit;
        self.failures().next().is_none()
            && a.sessions == opts.flows
            && a.settled == opts.flows
            && a.doubled == 0
            && a.stuck == 0
            && self.sum(|f| f.lost) == 0
            && self.sum(|f| f.gaps) == 0
    }

    /// Says on stderr which flows went wrong and what the instances logged about it.
    fn explain(&self, cluster: &Cluster) {
        for f in self.failures().take(5) {
            eprintln!(
                "countersign-load: session {} ended: {}",
                f.session_id, f.ended
            );
        }
        for f in self.flows.iter().filter(|f| f.lost + f.gaps > 0).take(5) {
            let (id, lost, gaps) = (&f.session_id, f.lost, f.gaps);
            eprintln!("countersign-load: session {id}: {lost} frames lost, {gaps} skipped");
        }
        for i in 0..INSTANCES {
            let log = cluster.log(i);
            let worst = log
                .lines()
                .filter(|l| l.contains("ERROR") || l.contains("panicked"));
            for line in worst.take(10) {
                eprintln!("countersign-load: instance {i}: {line}");
            }
        }
    }

    fn summary(&self, opts: &ChaosOptions) -> Summary {
        let a = &self.audit;
        Summary::new("chaos")
            .with("backend", "postgres")
            .with("instances", INSTANCES)
            .with("seed", opts.seed)
            .with("flows", opts.flows)
            .with("concurrency", opts.concurrency)
            .with("kills", self.kills)
            .with("reconnects", self.sum(|f| f.reconnects))
            .with("settled", a.settled)
            .with("failed", self.failures().count())
            .with("lost", self.sum(|f| f.lost))
            .with("gaps", self.sum(|f| f.gaps))
            .with("doubled", a.doubled)
            .with("stuck", a.stuck)
            .with("resubmitted", a.resubmitted)
            .with("elapsed", format!("{:.2}", self.elapsed.as_secs_f64()))
            .with("ok", self.ok(opts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_intervals_read_as_ranges() {
        assert_eq!(parse_range("1000-3000"), Ok((1000, 3000)));
        assert_eq!(parse_range("2000"), Ok((2000, 2000)));
        assert!(parse_range("3000-1000").is_err());
        assert!(parse_range("soon").is_err());
    }
}
