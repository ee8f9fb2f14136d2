//! Proposals an agent makes for a shopper (the MCP tools): the draft the agent filled in is
//! checked by the same disposal as a chat's, and an allowed one is signed and committed
//! exactly as in chat, on a session of its own that waits for the shopper to countersign.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::dispose::{self, Decision, Question};
use super::turn::{Conversation, ShopperBook};
use super::{Dialogue, Error};
use crate::domain::draft::{Draft, Field};
use crate::domain::{Action, Actor, EventKind, Mode, Policy, SessionId, UserId};
use crate::secrets::{hash_credential, random_token};
use crate::store::{CountersignLink, Merchant, NewEvent, NewSession};
use crate::workflow;

/// What an agent asks for: a draft with its goal and targets filled in.
pub struct AgentProposal<'a> {
    pub merchant: &'a Merchant,
    pub user_id: UserId,
    pub draft: Draft,
    /// The hash of the countersign link's secret, and how long the link lasts.
    pub link_hash: String,
    pub link_ttl: chrono::TimeDelta,
    /// Proposals the shopper may have waiting at once, this one included.
    pub max_open: i64,
}

/// A proposal waiting for the shopper's countersignature.
pub struct Proposed {
    pub session_id: SessionId,
    pub action: Action,
    pub summary: String,
    pub expires_at: DateTime<Utc>,
}

/// Why nothing was proposed; `code` is stable, `text` says what was refused and what may be
/// asked for instead.
pub struct Refused {
    pub code: &'static str,
    pub text: String,
}

impl Dialogue {
    /// Checks `p` against the merchant's policy and the shopper's book; when allowed, opens
    /// a session, links it, and issues the signed summary. A refusal writes nothing.
    #[tracing::instrument(name = "agent_proposal", skip_all, fields(merchant_id = %p.merchant.id))]
    pub async fn propose_for_agent(
        &self,
        p: AgentProposal<'_>,
    ) -> Result<Result<Proposed, Refused>, Error> {
        let policy: Policy = p
            .merchant
            .policy
            .parse()
            .map_err(workflow::Error::internal)?;
        let book = self.book_of(p.merchant, &p.user_id).await?;
        let mut draft = p.draft.clone();
        let (action, payee) = match dispose::next_step(&mut draft, &policy, &book.view()) {
            Decision::Propose { action, payee } => (action, payee),
            Decision::Refuse { code, text } => return Ok(Err(Refused { code, text })),
            Decision::Clarify(q) => return Ok(Err(missing(&p.draft, q))),
            Decision::Answer(_) | Decision::Cancel => {
                return Err(workflow::Error::internal("a draft with a goal was answered").into());
            }
        };
        let now = self.flow.clock.now();
        let open = self
            .flow
            .store
            .open_proposals(&p.merchant.id, &p.user_id, now)
            .await?;
        if open >= p.max_open {
            let text = format!(
                "This shopper already has {open} proposals waiting for their countersignature \
                 (at most {}). Ask them to confirm or cancel one, or wait until one expires.",
                p.max_open
            );
            return Ok(Err(Refused {
                code: "too_many_open_proposals",
                text,
            }));
        }
        let id = self.open_linked(&p, draft, now).await?;
        let _lock = self.flow.hub.lock(id).await;
        let mut c = Conversation {
            ctx: self.flow.load(id).await?,
            book,
            model_down: false,
        };
        let summary = action.summary(c.ctx.session.draft.lang, payee.as_deref());
        self.propose(&mut c, action.clone(), payee).await?;
        let expires_at = c
            .ctx
            .session
            .confirmation_expires_at
            .ok_or_else(|| workflow::Error::internal("a proposal without an expiry"))?;
        Ok(Ok(Proposed {
            session_id: id,
            action,
            summary,
            expires_at,
        }))
    }

    /// The shopper's orders and contacts, as a chat turn reads them.
    pub async fn book_of(&self, merchant: &Merchant, user: &UserId) -> Result<ShopperBook, Error> {
        let store = &self.flow.store;
        Ok(ShopperBook {
            orders: store
                .orders_for_user(&merchant.id, user, super::turn::BOOK_ORDERS)
                .await?,
            contacts: store.contacts_for_user(&merchant.id, user).await?,
            now: self.flow.clock.now(),
        })
    }

    /// Opens the session the proposal is made on, and its countersign link. Its client
    /// token is drawn and forgotten: nobody chats on it; the link is the only way in.
    async fn open_linked(
        &self,
        p: &AgentProposal<'_>,
        draft: Draft,
        now: DateTime<Utc>,
    ) -> Result<SessionId, Error> {
        let new = NewSession {
            id: SessionId::new(),
            merchant_id: p.merchant.id.clone(),
            user_id: p.user_id.clone(),
            channel: Mode::Chat,
            device: Some("mcp".into()),
            client_token_hash: hash_credential(random_token("cst_").expose()),
            created_at: now,
            draft,
            frames: Vec::new(),
        };
        let opened = NewEvent {
            kind: EventKind::Opened,
            actor: Actor::Merchant,
            payload: json!({ "channel": Mode::Chat, "via": "mcp", "text": null }),
        };
        let session = self.flow.store.create_session(&new, &opened).await?;
        let link = CountersignLink {
            session_id: session.id,
            merchant_id: session.merchant_id.clone(),
            user_id: session.user_id.clone(),
            secret_hash: p.link_hash.clone(),
            expires_at: now + p.link_ttl,
            created_at: now,
        };
        self.flow.store.create_link(&link).await?;
        tracing::info!(session_id = %session.id, "agent proposal opened");
        Ok(session.id)
    }
}

/// A draft the book cannot complete: the order or payee is not the shopper's, or the
/// policy needs a reason.
fn missing(draft: &Draft, q: Question) -> Refused {
    let offers: Vec<String> = q
        .candidates
        .iter()
        .map(|c| format!("{} ({})", c.id, c.label))
        .collect();
    let offers = match offers.is_empty() {
        true => "none".to_owned(),
        false => offers.join("; "),
    };
    match q.field {
        Field::Order => Refused {
            code: "unknown_order",
            text: format!(
                "Order {} is not one of this shopper's orders with money left to refund. \
                 Their refundable orders: {offers}.",
                draft.order_id.as_ref().map(|o| o.as_str()).unwrap_or("-")
            ),
        },
        Field::Contact => Refused {
            code: "unknown_contact",
            text: format!(
                "Contact {} is not one of this shopper's payees. Their payees: {offers}.",
                draft.contact_id.as_ref().map(|c| c.as_str()).unwrap_or("-")
            ),
        },
        Field::Reason => Refused {
            code: "reason_required",
            text: "This merchant's policy needs a reason for a refund: ask the shopper for \
                   one and propose again with `reason`."
                .into(),
        },
        Field::Amount | Field::Intent => Refused {
            code: "amount_required",
            text: format!("An amount is needed. {}", q.text),
        },
    }
}
