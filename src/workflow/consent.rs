//! The shopper's answer to a signed summary: a countersignature, a cancel, or silence
//! until it expires.

use serde_json::json;
use subtle::ConstantTimeEq;

use super::frames::ServerFrame;
use super::{Error, SessionContext, Step, Workflow};
use crate::confirmation;
use crate::domain::machine::Event;
use crate::domain::{Actor, SessionId, SessionState, Transport};
use crate::merchants::API_SECRET_CONTEXT;
use crate::secrets::hash_credential;
use crate::store::Merchant;

impl Workflow {
    /// Records consent when `token` is this session's current, unexpired confirmation;
    /// the risk check follows as the transition's effect. `via` is how the token came, kept
    /// with the consent.
    pub async fn confirm(
        &self,
        ctx: &SessionContext,
        token: &str,
        via: Transport,
    ) -> Result<(), Error> {
        let s = &ctx.session;
        if s.state != SessionState::AwaitingConfirmation {
            return Err(Error::NotAwaitingConfirmation(s.state));
        }
        let merchant = self.signer_of(ctx, token).await?;
        let secret = self
            .keys
            .open(API_SECRET_CONTEXT, &merchant.api_secret_sealed)
            .map_err(Error::internal)?;
        let now = self.clock.now();
        let verified = confirmation::verify(token, |k| {
            merchant
                .accepts_kid(k, now)
                .then(|| confirmation::key_for(secret.expose(), k))
        });
        let Ok(payload) = verified else {
            let text = ctx.session.draft.lang.say(
                "That confirmation was altered, so nothing was moved and this session is closed.",
                "该确认信息被篡改，未进行任何操作，本次会话已关闭。",
            );
            let step = Step::new(Actor::Shopper, json!({})).saying(vec![ServerFrame::agent(text)]);
            self.commit(ctx, Event::ConfirmationTampered, step, |_| {})
                .await?;
            return Err(Error::ConfirmationTampered);
        };
        if payload.session_id != s.id.to_string() {
            return Err(Error::ConfirmationMismatch);
        }
        let current = s.confirmation_hash.as_deref().unwrap_or_default();
        if !bool::from(hash_credential(token).as_bytes().ct_eq(current.as_bytes())) {
            return Err(Error::ConfirmationStale);
        }
        if self.clock.now().timestamp() >= payload.expires_at {
            self.expire(ctx).await?;
            return Err(Error::ConfirmationExpired);
        }
        let record = json!({
            "action": payload.action, "summary": payload.summary, "nonce": payload.nonce,
            "via": via, "device": s.device,
        });
        let step = Step::new(Actor::Shopper, record);
        self.commit(ctx, Event::Confirmed, step, |_| {}).await?;
        Ok(())
    }

    /// The merchant as it stands for `token`: the kept copy, or a fresh read when the
    /// token names a kid the copy does not know (another instance may have rotated the key
    /// since the copy was read).
    async fn signer_of(&self, ctx: &SessionContext, token: &str) -> Result<Merchant, Error> {
        let kept = &ctx.merchant;
        let known = confirmation::kid_of(token)
            .is_none_or(|kid| kid == kept.signing_kid || kept.previous_kid.as_ref() == Some(&kid));
        if known {
            return Ok(kept.clone());
        }
        let fresh = self.merchants.reread(self.store.as_ref(), &kept.id).await?;
        Ok(fresh.unwrap_or_else(|| kept.clone()))
    }

    /// The shopper gave up; nothing moves. While the payment is held for the risk check
    /// or a review this withdraws the consent (`cancelled`, reason `withdrawn`); once it is
    /// submitted it cannot be withdrawn, and nothing changes.
    pub async fn cancel(&self, ctx: &SessionContext) -> Result<(), Error> {
        let s = &ctx.session;
        if matches!(s.state, SessionState::Submitted | SessionState::Settled) {
            return Err(Error::AlreadySubmitted);
        }
        let held = matches!(
            s.state,
            SessionState::PendingRiskCheck | SessionState::ManualReview
        );
        let lang = s.draft.lang;
        let (text, payload) = if held {
            let text = lang.say(
                "Withdrawn. Your consent is taken back and nothing was moved.",
                "已撤回授权，未进行任何操作。",
            );
            (text, json!({ "withdrawn_from": s.state }))
        } else {
            (
                lang.say("Cancelled. Nothing was moved.", "已取消，未进行任何操作。"),
                json!({}),
            )
        };
        let step = Step::new(Actor::Shopper, payload).saying(vec![ServerFrame::agent(text)]);
        self.commit(ctx, Event::Cancelled, step, |_| {}).await?;
        Ok(())
    }

    /// Moves a session whose confirmation ran out to `expired`.
    async fn expire(&self, ctx: &SessionContext) -> Result<(), Error> {
        let text = ctx.session.draft.lang.say(
            "The confirmation expired, so nothing was moved.",
            "确认已过期，未进行任何操作。",
        );
        let step = Step::new(Actor::System, json!({})).saying(vec![ServerFrame::agent(text)]);
        self.commit(ctx, Event::ConfirmationExpired, step, |_| {})
            .await?;
        Ok(())
    }

    /// Expires `id` if it is still waiting on a confirmation that has run out.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub async fn expire_if_due(&self, id: SessionId) -> Result<(), Error> {
        let _lock = self.hub.lock(id).await;
        let ctx = self.load(id).await?;
        let due = ctx
            .session
            .confirmation_expires_at
            .is_some_and(|at| at <= self.clock.now());
        if ctx.session.state == SessionState::AwaitingConfirmation && due {
            self.expire(&ctx).await?;
        }
        Ok(())
    }
}
