//! An operator's decision on a session in `manual_review`.

use serde_json::json;

use super::risk::outcome_frames;
use super::{Error, Step, Workflow};
use crate::domain::machine::Event;
use crate::domain::{Actor, MerchantId, SessionId, SessionState};
use crate::store::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewDecision {
    Approve,
    Decline,
}

/// Who decided, and why.
pub struct Reviewer<'a> {
    pub merchant: &'a MerchantId,
    pub name: Option<&'a str>,
    pub note: Option<&'a str>,
}

impl Workflow {
    /// Approves (the session is submitted) or declines a session waiting for review.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub async fn decide_review(
        &self,
        id: SessionId,
        decision: ReviewDecision,
        by: Reviewer<'_>,
    ) -> Result<Session, Error> {
        let _lock = self.hub.lock(id).await;
        let ctx = self.load(id).await?;
        if ctx.session.state != SessionState::ManualReview {
            return Err(Error::NotInReview(ctx.session.state));
        }
        let event = match decision {
            ReviewDecision::Approve => Event::ReviewApproved,
            ReviewDecision::Decline => Event::ReviewDeclined,
        };
        let payload = json!({ "decided_by": by.merchant, "reviewer": by.name, "note": by.note });
        let lang = ctx.session.draft.lang;
        let planned = self.plan(&ctx, event)?;
        let frames = outcome_frames(lang, planned.to());
        let step = Step::new(Actor::Operator, payload.clone()).saying(frames);
        match self.commit_planned(&ctx, planned, step, |_| {}).await {
            // Another refund of the order took the money while this one waited: the
            // approval cannot be carried out, so the session is declined and the shopper told.
            Err(Error::Insufficient) => {
                let mut payload = payload;
                payload["refused"] = json!(Error::Insufficient.code());
                let frames = outcome_frames(lang, SessionState::Declined);
                let step = Step::new(Actor::System, payload).saying(frames);
                self.commit(&ctx, Event::ReviewDeclined, step, |_| {})
                    .await?;
                Err(Error::Insufficient)
            }
            done => done,
        }
    }
}
