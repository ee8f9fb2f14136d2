//! A verified settlement notification: stored once in the inbox and, when it settles or
//! fails the submitted session it names, stored with that transition.

use serde_json::json;

use super::frames::ServerFrame;
use super::{Error, SessionContext, Step, Workflow};
use crate::domain::machine::Event;
use crate::domain::{Actor, InboxOutcome, MerchantId, SessionId, SessionState};
use crate::payments::webhook::{self, Notification};
use crate::store::{InboxEntry, Session};

/// Attempts when other writers keep moving the session first.
const ATTEMPTS: usize = 3;

/// What became of a verified settlement notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOutcome {
    /// It settled or failed its session.
    Applied,
    /// The inbox had it already; nothing changed.
    Duplicate,
    /// It names no session of its merchant.
    Orphan,
    /// Its session is no longer waiting for it.
    Ignored,
    /// It does not match the session's submission.
    Mismatch,
}

impl From<InboxOutcome> for SettleOutcome {
    fn from(outcome: InboxOutcome) -> Self {
        match outcome {
            InboxOutcome::Applied => SettleOutcome::Applied,
            InboxOutcome::Orphan => SettleOutcome::Orphan,
            InboxOutcome::Ignored => SettleOutcome::Ignored,
            InboxOutcome::Mismatch => SettleOutcome::Mismatch,
        }
    }
}

impl SettleOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            SettleOutcome::Applied => "applied",
            SettleOutcome::Duplicate => "duplicate",
            SettleOutcome::Orphan => "orphan",
            SettleOutcome::Ignored => "ignored",
            SettleOutcome::Mismatch => "mismatch",
        }
    }
}

impl Workflow {
    /// Records `n` (its verified body is `raw`) and applies it to its session.
    #[tracing::instrument(name = "settlement", skip_all, fields(session_id = %n.session_id))]
    pub async fn settle(
        &self,
        n: &Notification,
        raw: serde_json::Value,
    ) -> Result<SettleOutcome, Error> {
        let merchant_id = MerchantId::parse(&n.merchant_id).map_err(Error::internal)?;
        let entry = |outcome: InboxOutcome| InboxEntry {
            merchant_id: merchant_id.clone(),
            event_id: n.id.clone(),
            session_id: n.session_id.clone(),
            kind: n.kind.clone(),
            idempotency_key: n.idempotency_key.clone(),
            outcome,
            payload: raw.clone(),
            received_at: self.clock.now(),
        };
        let Ok(id) = SessionId::parse(&n.session_id) else {
            return self.record(entry(InboxOutcome::Orphan)).await;
        };
        let _lock = self.hub.lock(id).await;
        for _ in 0..ATTEMPTS {
            let ctx = match self.load(id).await {
                Ok(ctx) if ctx.session.merchant_id == merchant_id => ctx,
                Ok(_) | Err(Error::NotFound) => {
                    return self.record(entry(InboxOutcome::Orphan)).await;
                }
                Err(e) => return Err(e),
            };
            if !submitted(&ctx.session, n) {
                tracing::warn!(session_id = %id, "settlement notification does not match the submission");
                return self.record(entry(InboxOutcome::Mismatch)).await;
            }
            if ctx.session.state != SessionState::Submitted {
                return self.record(entry(InboxOutcome::Ignored)).await;
            }
            match self
                .apply_settlement(&ctx, n, entry(InboxOutcome::Applied))
                .await
            {
                Ok(true) => return Ok(SettleOutcome::Applied),
                Ok(false) => return Ok(SettleOutcome::Duplicate),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::internal("settlement kept racing other writers"))
    }

    /// Stores `entry` alone: its outcome, or `Duplicate` when the inbox had it already.
    async fn record(&self, entry: InboxEntry) -> Result<SettleOutcome, Error> {
        let outcome = entry.outcome.into();
        let new = self.store.record_webhook(&entry).await?;
        Ok(if new {
            outcome
        } else {
            SettleOutcome::Duplicate
        })
    }

    /// The settled or failed transition, stored with the inbox row.
    async fn apply_settlement(
        &self,
        ctx: &SessionContext,
        n: &Notification,
        entry: InboxEntry,
    ) -> Result<bool, Error> {
        let succeeded = n.kind == webhook::SUCCEEDED;
        let lang = ctx.session.draft.lang;
        let (event, text) = if succeeded {
            let text = lang.say(
                "Done: the payment provider confirmed it.",
                "完成：支付机构已确认。",
            );
            (Event::SettlementSucceeded, text)
        } else {
            let text = lang.say(
                "The payment provider could not complete it. Nothing was moved.",
                "支付机构未能完成，未进行任何操作。",
            );
            (Event::SettlementFailed, text)
        };
        let payload = json!({ "provider_reference": n.provider_reference, "event_id": n.id, "failure_reason": n.failure_reason });
        let step = Step::new(Actor::Provider, payload).saying(vec![ServerFrame::agent(text)]);
        let planned = self.plan(ctx, event)?;
        self.commit_with_inbox(ctx, planned, step, entry).await
    }
}

/// Whether `n` is about the submission this session made: the session reached `submitted`,
/// and the key and amount are those its countersigned action gave the outbox row. Both
/// follow from the session, so no read of the outbox is needed.
fn submitted(s: &Session, n: &Notification) -> bool {
    let reached = matches!(
        s.state,
        SessionState::Submitted | SessionState::Settled | SessionState::Failed
    );
    let action = s.proposed_action.as_ref().filter(|_| reached);
    action.is_some_and(|a| {
        crate::payments::idempotency_key(s.id, a) == n.idempotency_key && a.amount() == n.amount
    })
}
