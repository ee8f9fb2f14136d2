//! What the store reads and writes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::{
    Actor, ContactId, EndReason, EventKind, MerchantId, Mode, Money, OrderId, PolicyDoc, SessionId,
    SessionState, UserId,
};

/// A merchant as stored: credentials hashed or sealed, never in the clear.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMerchant {
    pub id: MerchantId,
    pub api_key_hash: String,
    pub api_secret_sealed: String,
    pub webhook_secret_sealed: String,
    pub signing_kid: String,
    pub policy: PolicyDoc,
    pub created_at: DateTime<Utc>,
}

pub type Merchant = NewMerchant;

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub merchant_id: MerchantId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    pub refunded: Money,
    pub description: Option<String>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// What can still be refunded.
    pub fn refundable(&self) -> Money {
        self.amount
            .checked_sub(self.refunded)
            .unwrap_or_else(|| Money::zero(self.amount.currency()))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub merchant_id: MerchantId,
    pub contact_id: ContactId,
    pub user_id: UserId,
    pub name: String,
    pub aliases: Vec<String>,
    pub verified: bool,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewSession {
    pub id: SessionId,
    pub merchant_id: MerchantId,
    pub user_id: UserId,
    pub channel: Mode,
    pub device: Option<String>,
    pub client_token_hash: String,
    pub created_at: DateTime<Utc>,
}

/// The mutable part of a session; `apply` writes all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionChange {
    pub state: SessionState,
    pub mode: Mode,
    pub reason: Option<EndReason>,
    pub proposed_action: Option<Value>,
    pub confirmation_hash: Option<String>,
    pub confirmation_expires_at: Option<DateTime<Utc>>,
    pub clarifications: i32,
    /// What the dialogue has gathered so far (see `dialogue::Draft`).
    pub draft: Value,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id: SessionId,
    pub merchant_id: MerchantId,
    pub user_id: UserId,
    pub channel: Mode,
    pub device: Option<String>,
    pub client_token_hash: String,
    pub state: SessionState,
    pub mode: Mode,
    pub reason: Option<EndReason>,
    pub proposed_action: Option<Value>,
    pub confirmation_hash: Option<String>,
    pub confirmation_expires_at: Option<DateTime<Utc>>,
    pub clarifications: i32,
    pub draft: Value,
    /// The seq of the last frame stored for this session's sockets.
    pub frame_seq: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Session {
    /// The current mutable part, to be edited and passed to `apply`.
    pub fn change(&self, at: DateTime<Utc>) -> SessionChange {
        SessionChange {
            state: self.state,
            mode: self.mode,
            reason: self.reason,
            proposed_action: self.proposed_action.clone(),
            confirmation_hash: self.confirmation_hash.clone(),
            confirmation_expires_at: self.confirmation_expires_at,
            clarifications: self.clarifications,
            draft: self.draft.clone(),
            at,
        }
    }
}

/// An event to append; `from`/`to` and `seq` come from the session change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub actor: Actor,
    pub payload: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub session_id: SessionId,
    pub seq: i64,
    pub from: Option<SessionState>,
    pub to: SessionState,
    pub kind: EventKind,
    pub actor: Actor,
    pub payload: Value,
    pub at: DateTime<Utc>,
}

/// A request to claim an idempotency key.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub merchant_id: MerchantId,
    pub key: String,
    pub request_hash: String,
    pub now: DateTime<Utc>,
    /// Until when the completed response is kept.
    pub expires_at: DateTime<Utc>,
    /// An in-flight claim older than this was abandoned (its holder crashed) and may be taken over.
    pub stale_before: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IdempotencyBegin {
    /// The caller owns the key and must complete or release it.
    Claimed,
    /// Another request with this key is still running.
    InFlight,
    /// The key was used with a different body.
    Mismatch,
    /// The key was used with this body; here is what was answered.
    Replay { status: u16, body: String },
}

/// A frame stored for a session's sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFrame {
    pub seq: i64,
    pub frame: Value,
}
