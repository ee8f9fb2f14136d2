//! A provider's final refusal of a submission: the session fails and, for a refund, the
//! order's hold is released (by the transition out of `submitted`).

use serde_json::json;

use super::frames::ServerFrame;
use super::{Step, Workflow};
use crate::domain::machine::Event;
use crate::domain::{Actor, SessionId, SessionState};

impl Workflow {
    /// Fails a submitted session the provider refused for good.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub async fn provider_refused(&self, id: SessionId, why: &str) {
        let _lock = self.hub.lock(id).await;
        let Ok(ctx) = self.load(id).await else {
            return;
        };
        if ctx.session.state != SessionState::Submitted {
            return;
        }
        let text = ctx.session.draft.lang.say(
            "The payment provider could not complete it. Nothing was moved.",
            "支付机构未能完成，未进行任何操作。",
        );
        let step = Step::new(Actor::Provider, json!({ "refused": why }))
            .saying(vec![ServerFrame::agent(text)]);
        let failed = self
            .commit(&ctx, Event::SettlementFailed, step, |_| {})
            .await;
        if let Err(e) = failed {
            tracing::error!(session_id = %id, code = e.code(), "could not fail a refused submission");
        }
    }
}
