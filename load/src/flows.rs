//! `flows`: shoppers each taking one refund from first message to `settled` over a real
//! WebSocket, with turn latencies measured on the client. Closed loop by default: each of
//! `concurrency` shoppers runs flows back to back. Open loop with a rate: flows start on a
//! fixed schedule (see [`schedule`](super::schedule)), whether or not earlier ones ended.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;
use serde_json::json;

use super::Summary;
use super::client::{Api, Opened, Socket};
use super::schedule::{self, OpenLoop};
use super::stats::Latencies;

/// Every order in a load run is this much, and is refunded in full (below the default
/// policy's review line, so no flow waits for an operator).
pub const ORDER_VALUE: &str = "88.00";

#[derive(Debug, Clone, Copy)]
pub struct FlowOptions {
    pub sessions: usize,
    pub concurrency: usize,
    /// Where each flow stops waiting: `settled` for whole flows, `submitted` to leave the
    /// settlement to somebody else.
    pub until: &'static str,
    /// Flows started per second on a fixed schedule (open loop); back to back when absent.
    pub rate: Option<f64>,
}

/// What one flow measured, and how it ended.
#[derive(Debug, Default)]
struct Flow {
    message: Option<Duration>,
    confirm: Option<Duration>,
    settle: Option<Duration>,
    /// From the flow's scheduled start to the card, queueing in the generator included.
    start_to_card: Option<Duration>,
    ended: String,
    session_id: String,
}

#[derive(Debug, Default)]
pub struct FlowReport {
    pub elapsed: Duration,
    pub message: Latencies,
    pub confirm: Latencies,
    pub settle: Latencies,
    /// Open loop only: each flow's scheduled start to its card.
    pub start_to_card: Latencies,
    /// Open loop only: starts that found `concurrency` flows in flight.
    pub dropped: usize,
    /// Flows that ended where they were meant to.
    pub ok: usize,
    /// Flows that ended anywhere else, with how.
    pub failures: Vec<String>,
    pub session_ids: Vec<String>,
}

/// The shopper of flow `i`, and the order it refunds.
pub fn user(i: usize) -> String {
    format!("load-shopper-{i}")
}

pub fn order(i: usize) -> String {
    (100_000 + i).to_string()
}

/// Puts one order per shopper into the book.
pub async fn stock(api: &Api, sessions: usize, concurrency: usize) -> Result<()> {
    let puts = futures_util::stream::iter(0..sessions)
        .map(|i| async move { api.put_order(&order(i), &user(i), ORDER_VALUE).await })
        .buffer_unordered(concurrency.max(1));
    puts.collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<()>>()
}

/// Runs the flows; the orders must be stocked first.
pub async fn run(api: &Api, opts: FlowOptions) -> FlowReport {
    match opts.rate {
        None => closed_loop(api, opts).await,
        Some(rate) => open_loop(api, opts, rate).await,
    }
}

async fn closed_loop(api: &Api, opts: FlowOptions) -> FlowReport {
    let started = Instant::now();
    let flows: Vec<Flow> = futures_util::stream::iter(0..opts.sessions)
        .map(|i| flow(api, i, opts.until, None))
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    FlowReport::tally(flows, started.elapsed(), opts.until)
}

async fn open_loop(api: &Api, opts: FlowOptions, rate: f64) -> FlowReport {
    let plan = OpenLoop {
        starts: opts.sessions,
        rate,
        cap: opts.concurrency,
    };
    let run = schedule::open_loop(plan, |i, due| flow(api, i, opts.until, Some(due))).await;
    let mut report = FlowReport::tally(run.outputs, run.elapsed, opts.until);
    report.dropped = run.dropped;
    report
}

/// Flow `i`, due at `due` when on a schedule.
async fn flow(api: &Api, i: usize, until: &str, due: Option<tokio::time::Instant>) -> Flow {
    let mut flow = Flow::default();
    if let Err(e) = one(api, i, until, due, &mut flow).await {
        flow.ended = format!("error: {e:#}");
    }
    flow
}

async fn one(
    api: &Api,
    i: usize,
    until: &str,
    due: Option<tokio::time::Instant>,
    flow: &mut Flow,
) -> Result<()> {
    let opened: Opened = api.open_session(&user(i)).await?;
    flow.session_id = opened.id.clone();
    let mut socket = Socket::connect(&api.base, &opened).await?;
    let text = format!("refund order {} in full", order(i));
    let said = Instant::now();
    socket
        .send(json!({"type": "user_message", "text": text}))
        .await?;
    let card = socket
        .until(|f| f["type"] == "confirmation_required")
        .await?;
    flow.message = Some(said.elapsed());
    flow.start_to_card = due.map(|d| d.elapsed());
    let confirmed = Instant::now();
    socket
        .send(json!({"type": "confirm", "token": card["token"]}))
        .await?;
    socket.until_state(&["pending_risk_check"]).await?;
    flow.confirm = Some(confirmed.elapsed());
    let ends = [until, "failed", "declined", "manual_review", "cancelled"];
    let end = socket.until_state(&ends).await?;
    if until == "settled" {
        flow.settle = Some(confirmed.elapsed());
    }
    flow.ended = end["state"].as_str().unwrap_or_default().to_owned();
    socket.close().await;
    Ok(())
}

impl FlowReport {
    fn tally(flows: Vec<Flow>, elapsed: Duration, until: &str) -> FlowReport {
        let mut report = FlowReport {
            elapsed,
            ..FlowReport::default()
        };
        for f in flows {
            report.message.extend(f.message);
            report.confirm.extend(f.confirm);
            report.settle.extend(f.settle);
            report.start_to_card.extend(f.start_to_card);
            if f.ended == until {
                report.ok += 1;
                report.session_ids.push(f.session_id);
            } else {
                report.failures.push(f.ended);
            }
        }
        report
    }

    pub fn summary(&self, backend: &str, opts: &FlowOptions, understanding: &str) -> Summary {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let mut s = Summary::new("flows")
            .with("backend", backend)
            .with("understanding", understanding)
            .with("sessions", opts.sessions)
            .with("concurrency", opts.concurrency)
            .with("completed", self.ok)
            .with("failed", self.failures.len())
            .with("seconds", format!("{secs:.2}"))
            .with("flows_per_s", format!("{:.1}", self.ok as f64 / secs));
        s = self.message.report("message", s);
        s = self.confirm.report("confirm", s);
        self.settle.report("settle", s)
    }

    /// The keys that say how flows were started, for the end of the line: `mode=closed`, or
    /// `mode=open` with the rate offered, the rate achieved (completed flows over the run),
    /// the starts dropped and the latencies from each scheduled start to its card.
    pub fn mode(&self, opts: &FlowOptions, s: Summary) -> Summary {
        let Some(rate) = opts.rate else {
            return s.with("mode", "closed");
        };
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let s = s
            .with("mode", "open")
            .with("offered_per_s", rate)
            .with("achieved_per_s", format!("{:.1}", self.ok as f64 / secs))
            .with("dropped", self.dropped);
        self.start_to_card.report("start_to_card", s)
    }
}
