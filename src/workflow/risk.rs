//! Scoring a consented session: the rules (or a remote scorer) read the action, the order
//! or payee, and the shopper's recent activity; the score moves the session to
//! `submitted`, `manual_review` or `declined`.

use chrono::TimeDelta;

use super::commit::proposed;
use super::frames::ServerFrame;
use super::{Error, SessionContext, Step, Workflow};
use crate::domain::machine::{Event, Score};
use crate::domain::{Action, Actor, Lang, SessionId, SessionState};
use crate::risk::RiskInput;
use crate::risk::rules::SHOPPER_WINDOW;
use crate::store::{RiskQuery, RiskStats, Session};

/// A session left in pending_risk_check this long was interrupted (a crash after consent).
const STALLED_AFTER: TimeDelta = TimeDelta::seconds(5);
/// Scores tried when other refunds of the same order keep taking the money first.
const ATTEMPTS: usize = 3;

impl Workflow {
    /// Scores a consented session and moves it on. Started by the `AssessRisk` effect,
    /// with the session as its transition stored it (`known`), read again only when
    /// another writer moved it meanwhile. The session's turn lock is taken for the write
    /// alone, not while the scorer thinks: a shopper may withdraw meanwhile, and the
    /// write's version guard then finds the session moved and stores nothing.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub(super) async fn assess(&self, id: SessionId, known: Option<Session>) -> Result<(), Error> {
        let mut known = known;
        for _ in 0..ATTEMPTS {
            let ctx = match known.take() {
                Some(session) => self.context_of(session).await?,
                None => self.load(id).await?,
            };
            if ctx.session.state != SessionState::PendingRiskCheck {
                return Ok(());
            }
            let input = self.risk_input(&ctx).await?;
            let assessment = self.risk.assess(&input).await;
            let score = Score::new(assessment.score)
                .ok_or_else(|| Error::internal("risk score out of range"))?;
            let event = Event::RiskScored {
                score,
                thresholds: ctx.policy.risk,
            };
            let payload = serde_json::to_value(&assessment).map_err(Error::internal)?;
            let planned = self.plan(&ctx, event)?;
            let frames = outcome_frames(ctx.session.draft.lang, planned.to());
            let step = Step::new(Actor::System, payload).saying(frames);
            let _lock = self.hub.lock(id).await;
            match self.commit_planned(&ctx, planned, step, |_| {}).await {
                // Another refund took the money first: score again, now with its hold in
                // view. Or the session moved since it was read: read it again.
                Err(Error::Insufficient | Error::Conflict) => continue,
                done => return done.map(|_| ()),
            }
        }
        Err(Error::internal("risk check kept racing other refunds"))
    }

    /// Finishes the `AssessRisk` effect of transitions stored before a crash cut their
    /// assessment short.
    pub async fn resume_stalled(&self) {
        let before = self.clock.now() - STALLED_AFTER;
        let stalled = self
            .store
            .stalled(SessionState::PendingRiskCheck, before, 50)
            .await
            .unwrap_or_default();
        for id in stalled {
            if let Err(e) = self.assess(id, None).await {
                tracing::warn!(session_id = %id, code = e.code(), "could not assess a stalled session");
            }
        }
    }

    async fn risk_input(&self, ctx: &SessionContext) -> Result<RiskInput, Error> {
        let s = &ctx.session;
        let action = proposed(s)?;
        let now = self.clock.now();
        let query = RiskQuery {
            merchant: &s.merchant_id,
            user: &s.user_id,
            device: s.device.as_deref(),
            session: s.id,
            shopper_since: now - SHOPPER_WINDOW,
            order: match &action {
                Action::Refund { order_id, .. } => Some(order_id),
                Action::Transfer { .. } => None,
            },
        };
        let facts = self.store.risk_facts(&query).await?;
        let merchant_recent = self
            .surge
            .recent(self.store.as_ref(), &s.merchant_id, now)
            .await?;
        let stats = RiskStats {
            shopper_recent: facts.shopper_recent,
            merchant_recent,
            device_known: facts.device_known,
            returning: facts.returning,
        };
        let contact = match &action {
            Action::Refund { .. } => None,
            Action::Transfer { contact_id, .. } => {
                self.store.contact(&s.merchant_id, contact_id).await?
            }
        };
        Ok(RiskInput {
            session_id: s.id,
            merchant_id: s.merchant_id.to_string(),
            user_id: s.user_id.to_string(),
            device: s.device.clone(),
            action,
            order: facts.order,
            contact,
            policy: ctx.policy.clone(),
            stats,
        })
    }
}

/// What the shopper hears after the risk check or a review; a decline is never explained.
pub(super) fn outcome_frames(lang: Lang, to: SessionState) -> Vec<ServerFrame> {
    let text = match to {
        SessionState::Submitted => lang.say(
            "Approved. It is on its way to the payment provider.",
            "已批准，正在提交给支付机构。",
        ),
        SessionState::ManualReview => lang.say(
            "A colleague will review this shortly.",
            "我们的同事会尽快审核。",
        ),
        _ => lang.say(
            "We could not complete this request.",
            "我们无法完成此请求。",
        ),
    };
    vec![ServerFrame::agent(text)]
}
