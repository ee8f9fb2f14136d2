//! A verified settlement notification: stored once in the inbox and, when it settles or
//! fails the submitted session it names, stored with that transition.

use serde_json::json;

use super::commit::{status_frame, to_the_end, transitioned};
use super::frames::ServerFrame;
use super::{Error, SessionContext, Step, Workflow};
use crate::domain::machine::{self, Event};
use crate::domain::{Actor, InboxOutcome, Lang, MerchantId, SessionId, SessionState};
use crate::payments::webhook::{self, Notification};
use crate::store::{Direct, DirectSettlement, InboxEntry, NewEvent, Session};

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
        // Without a copy of the session here, one statement settles it from its submission.
        if !self.hub.keeps(id)
            && let Some(outcome) = self
                .settle_direct(id, n, entry(InboxOutcome::Applied))
                .await?
        {
            return Ok(outcome);
        }
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
        let (event, text) = notice(n);
        let text = ctx.session.draft.lang.say(text[0], text[1]);
        let step =
            Step::new(Actor::Provider, provider_said(n)).saying(vec![ServerFrame::agent(text)]);
        let planned = self.plan(ctx, event)?;
        self.commit_with_inbox(ctx, planned, step, entry).await
    }
}

impl Workflow {
    /// Applies `n` in one statement from the submission it names, without reading the
    /// session: the machine's move from `submitted` on this notification, the frames in both
    /// languages (the session's picks), the order's settlement or release, the inbox row.
    /// `None` when that statement cannot decide (the session is elsewhere than `submitted`,
    /// the notification does not match its submission, or the store has no such statement):
    /// the general path reads the session and does.
    async fn settle_direct(
        &self,
        id: SessionId,
        n: &Notification,
        entry: InboxEntry,
    ) -> Result<Option<SettleOutcome>, Error> {
        let (event, text) = notice(n);
        let moved = machine::transition(SessionState::Submitted, &event)?;
        if !moved.effects.is_empty() {
            return Ok(None);
        }
        let frames = [Lang::En, Lang::Zh].map(|lang| {
            let said = ServerFrame::agent(lang.say(text[0], text[1]));
            [status_frame(moved.to, moved.reason), said]
                .map(|f| f.to_json())
                .to_vec()
        });
        let new_event = NewEvent {
            kind: event.kind(),
            actor: Actor::Provider,
            payload: provider_said(n),
        };
        let (flow, key, amount) = (self.clone(), n.idempotency_key.clone(), n.amount);
        let at = self.clock.now();
        let settled = event == Event::SettlementSucceeded;
        to_the_end(async move {
            let direct = DirectSettlement {
                entry: &entry,
                session_id: id,
                idempotency_key: &key,
                amount,
                to: moved.to,
                reason: moved.reason,
                event: &new_event,
                frames: [&frames[0], &frames[1]],
                settled,
                at,
            };
            match flow.store.settle_direct(&direct).await? {
                Direct::Applied(saved) => {
                    flow.hub.remember(&saved);
                    transitioned(id, SessionState::Submitted, saved.state, new_event.kind);
                    let said = match saved.draft.lang {
                        Lang::En => frames[0].clone(),
                        Lang::Zh => frames[1].clone(),
                    };
                    flow.publish(id, saved.frame_seq, said);
                    Ok(Some(SettleOutcome::Applied))
                }
                Direct::Seen => Ok(Some(SettleOutcome::Duplicate)),
                Direct::Undecided => Ok(None),
            }
        })
        .await
    }
}

/// The event a notification is, and what the shopper is told of it (English, Chinese).
fn notice(n: &Notification) -> (Event, [&'static str; 2]) {
    if n.kind == webhook::SUCCEEDED {
        let text = [
            "Done: the payment provider confirmed it.",
            "完成：支付机构已确认。",
        ];
        (Event::SettlementSucceeded, text)
    } else {
        let text = [
            "The payment provider could not complete it. Nothing was moved.",
            "支付机构未能完成，未进行任何操作。",
        ];
        (Event::SettlementFailed, text)
    }
}

/// The event's payload: what the provider said.
fn provider_said(n: &Notification) -> serde_json::Value {
    json!({ "provider_reference": n.provider_reference, "event_id": n.id, "failure_reason": n.failure_reason })
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
