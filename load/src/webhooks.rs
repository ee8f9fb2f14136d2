//! `webhooks`: a flood of signed settlement notifications for sessions waiting in
//! `submitted`, with duplicates and bad signatures mixed in; afterwards every session
//! must have settled exactly once and nothing unsigned may have been applied.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;
use rand::seq::SliceRandom;

use super::Summary;
use super::client::Api;
use countersign::domain::{Action, SessionId};
use countersign::payments::idempotency_key;
use countersign::payments::webhook::{self, Notification, SUCCEEDED};

#[derive(Debug, Clone, Copy)]
pub struct WebhookOptions {
    pub concurrency: usize,
    /// Resent copies of valid notifications, per valid one.
    pub duplicate_share: f64,
    /// Notifications with a wrong signature, per valid one.
    pub bad_share: f64,
}

/// One request of the flood.
struct Shot {
    body: String,
    signature: String,
    valid: bool,
}

#[derive(Debug, Default)]
pub struct WebhookReport {
    pub sessions: usize,
    pub sent: usize,
    pub duplicates: usize,
    pub bad: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub errors: usize,
    pub elapsed: Duration,
    /// Sessions that ended `settled` with exactly one settlement event.
    pub settled_once: usize,
    /// Sessions with more than one settlement event.
    pub doubled: usize,
    /// Server-side counts of notifications applied, acknowledged as duplicates, and
    /// refused for their signature.
    pub applied: u64,
    pub acknowledged_duplicates: u64,
    pub refused: u64,
}

/// Builds the notification that settles `session`, as the provider would send it.
async fn notification(api: &Api, merchant: &str, session: &str) -> Result<Notification> {
    let view = api.session(session).await?;
    let action: Action = serde_json::from_value(view["proposed_action"].clone())
        .with_context(|| format!("no proposed action on {session}"))?;
    let id = SessionId::parse(session).context("a session id")?;
    Ok(Notification {
        id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
        kind: SUCCEEDED.to_owned(),
        merchant_id: merchant.to_owned(),
        session_id: session.to_owned(),
        idempotency_key: idempotency_key(id, &action),
        provider_reference: format!("load_{}", uuid::Uuid::new_v4().simple()),
        amount: action.amount(),
        failure_reason: None,
        created: countersign::clock::now().timestamp(),
    })
}

fn shots(notes: &[Notification], secret: &str, opts: &WebhookOptions) -> Vec<Shot> {
    let now = countersign::clock::now().timestamp();
    let signed = |n: &Notification, secret: &str, valid: bool| {
        let body = serde_json::to_string(n).expect("a notification serializes");
        let signature = webhook::sign(secret, now, body.as_bytes());
        Shot {
            body,
            signature,
            valid,
        }
    };
    let count = |share: f64| (notes.len() as f64 * share).round() as usize;
    let mut shots: Vec<Shot> = notes.iter().map(|n| signed(n, secret, true)).collect();
    for n in notes.iter().cycle().take(count(opts.duplicate_share)) {
        shots.push(signed(n, secret, true));
    }
    for n in notes.iter().cycle().take(count(opts.bad_share)) {
        let forged = Notification {
            id: format!("evt_forged_{}", uuid::Uuid::new_v4().simple()),
            ..n.clone()
        };
        shots.push(signed(&forged, "not-the-merchant-secret", false));
    }
    shots.shuffle(&mut rand::rng());
    shots
}

async fn fire(api: &Api, shot: &Shot) -> Option<u16> {
    let res = api
        .http()
        .post(format!("{}/v1/webhooks/settlement", api.base))
        .header(webhook::HEADER, &shot.signature)
        .header("content-type", "application/json")
        .body(shot.body.clone())
        .send()
        .await
        .ok()?;
    Some(res.status().as_u16())
}

fn counter(result: &str) -> String {
    format!("{}{{result=\"{result}\"}}", countersign::metrics::WEBHOOKS)
}

async fn counts(api: &Api) -> Result<[f64; 3]> {
    Ok([
        api.metric(&counter("applied")).await?,
        api.metric(&counter("duplicate")).await?,
        api.metric(&counter("invalid_signature")).await?,
    ])
}

/// Floods the webhook endpoint for `sessions`, each waiting in `submitted`.
pub async fn run(
    api: &Api,
    merchant: &str,
    secret: &str,
    sessions: &[String],
    opts: WebhookOptions,
) -> Result<WebhookReport> {
    let mut notes = Vec::with_capacity(sessions.len());
    for s in sessions {
        notes.push(notification(api, merchant, s).await?);
    }
    let shots = shots(&notes, secret, &opts);
    let before = counts(api).await?;
    let started = Instant::now();
    let statuses: Vec<(bool, Option<u16>)> = futures_util::stream::iter(&shots)
        .map(|shot| async move { (shot.valid, fire(api, shot).await) })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut report = WebhookReport {
        sessions: sessions.len(),
        sent: shots.len(),
        duplicates: (sessions.len() as f64 * opts.duplicate_share).round() as usize,
        bad: shots.iter().filter(|s| !s.valid).count(),
        elapsed: started.elapsed(),
        ..WebhookReport::default()
    };
    for (valid, status) in statuses {
        match status {
            Some(200) if valid => report.accepted += 1,
            Some(401) if !valid => report.rejected += 1,
            _ => report.errors += 1,
        }
    }
    let after = counts(api).await?;
    report.applied = (after[0] - before[0]) as u64;
    report.acknowledged_duplicates = (after[1] - before[1]) as u64;
    report.refused = (after[2] - before[2]) as u64;
    check_sessions(api, sessions, &mut report).await?;
    Ok(report)
}

async fn check_sessions(api: &Api, sessions: &[String], report: &mut WebhookReport) -> Result<()> {
    for s in sessions {
        let settled = api.session(s).await?["state"] == "settled";
        let events = api.event_kinds(s).await?;
        let settlements = events
            .iter()
            .filter(|e| e.starts_with("settlement_"))
            .count();
        if settled && settlements == 1 {
            report.settled_once += 1;
        }
        if settlements > 1 {
            report.doubled += 1;
        }
    }
    Ok(())
}

impl WebhookReport {
    /// Every session settled once, every forged notification refused, every copy
    /// acknowledged without effect, and nothing failed.
    pub fn ok(&self) -> bool {
        self.settled_once == self.sessions
            && self.doubled == 0
            && self.errors == 0
            && self.applied == self.sessions as u64
            && self.acknowledged_duplicates == self.duplicates as u64
            && self.refused == self.bad as u64
    }

    pub fn summary(&self, backend: &str, concurrency: usize) -> Summary {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        Summary::new("webhooks")
            .with("backend", backend)
            .with("sessions", self.sessions)
            .with("concurrency", concurrency)
            .with("sent", self.sent)
            .with("duplicates", self.duplicates)
            .with("bad_signatures", self.bad)
            .with("accepted", self.accepted)
            .with("rejected", self.rejected)
            .with("errors", self.errors)
            .with("seconds", format!("{secs:.2}"))
            .with(
                "accepted_per_s",
                format!("{:.1}", self.accepted as f64 / secs),
            )
            .with("requests_per_s", format!("{:.1}", self.sent as f64 / secs))
            .with("settled_once", self.settled_once)
            .with("doubled", self.doubled)
            .with("applied", self.applied)
            .with("ok", self.ok())
    }
}
