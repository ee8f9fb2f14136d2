//! A complete, allowed proposal: signed and shown to the shopper to countersign.

use serde_json::json;

use super::turn::Conversation;
use super::{Dialogue, Error};
use crate::confirmation::Unsigned;
use crate::domain::draft::Role;
use crate::domain::machine::Event;
use crate::domain::{Action, Actor};
use crate::merchants::API_SECRET_CONTEXT;
use crate::workflow::frames::ServerFrame;
use crate::workflow::{self, Step};

impl Dialogue {
    /// Signs the confirmation for `action` and asks the shopper to countersign it.
    pub(super) async fn propose(
        &self,
        c: &mut Conversation,
        action: Action,
        payee: Option<String>,
    ) -> Result<(), Error> {
        let (ctx, flow) = (&mut c.ctx, &self.flow);
        let secret = flow
            .keys
            .open(API_SECRET_CONTEXT, &ctx.merchant.api_secret_sealed)
            .map_err(workflow::Error::internal)?;
        let summary = action.summary(ctx.session.draft.lang, payee.as_deref());
        let issued = Unsigned {
            session_id: &ctx.session.id.to_string(),
            merchant_id: ctx.merchant.id.as_str(),
            action: action.clone(),
            summary: summary.clone(),
            issued_at: flow.clock.now(),
            ttl_seconds: ctx.policy.confirmation_ttl_seconds,
            kid: &ctx.merchant.signing_kid,
        }
        .sign(secret.expose());
        let expires_at = chrono::DateTime::from_timestamp(issued.payload.expires_at, 0)
            .ok_or_else(|| workflow::Error::internal("expiry out of range"))?;
        ctx.session.draft.asking = None;
        ctx.session.draft.remember(Role::Agent, &summary);
        let frame = ServerFrame::ConfirmationRequired {
            expires_at: issued.payload.expires_at,
            token: issued.token,
            payload: Box::new(issued.payload),
        };
        let payload = json!({ "action": action, "summary": summary, "expires_at": expires_at });
        let step = Step::new(Actor::System, payload).saying(vec![frame]);
        ctx.session = flow
            .commit(ctx, Event::ConfirmationIssued, step, |x| {
                x.change.proposed_action = Some(action);
                x.change.confirmation_hash = Some(issued.token_hash);
                x.change.confirmation_expires_at = Some(expires_at);
            })
            .await?;
        Ok(())
    }
}
