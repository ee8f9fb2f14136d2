//! What the store reads and writes.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::domain::draft::Draft;
use crate::domain::state::text_enum;
use crate::domain::{
    Action, Actor, AlipayPayee, AlipayTradeNo, ContactId, EndReason, EventKind, InboxOutcome,
    MerchantId, Mode, Money, OrderId, PolicyDoc, SessionId, SessionState, UserId,
};
use crate::understanding::audit::ModelCall;

/// A merchant as stored, and as created: credentials hashed or sealed, never in the clear.
#[derive(Debug, Clone, PartialEq)]
pub struct Merchant {
    pub id: MerchantId,
    pub api_key_hash: String,
    pub api_secret_sealed: String,
    pub webhook_secret_sealed: String,
    /// The kid new confirmations are signed under.
    pub signing_kid: String,
    /// The kid before it, and when its tokens stop verifying (`merchant rotate-key`).
    pub previous_kid: Option<String>,
    pub previous_kid_retires_at: Option<DateTime<Utc>>,
    pub policy: PolicyDoc,
    pub created_at: DateTime<Utc>,
}

impl Merchant {
    /// Whether tokens signed under `kid` verify at `now`: the current kid, or the previous
    /// one until it retires.
    pub fn accepts_kid(&self, kid: &str, now: DateTime<Utc>) -> bool {
        kid == self.signing_kid
            || (self.previous_kid.as_deref() == Some(kid)
                && self.previous_kid_retires_at.is_some_and(|at| now < at))
    }
}

/// One of the service's Ed25519 keys for evidence packs.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceKey {
    pub kid: String,
    /// The public key, base64url without padding (a JWK's `x`).
    pub public_key: String,
    /// The PKCS#8 private key, sealed under the master key.
    pub private_sealed: String,
    pub created_at: DateTime<Utc>,
}

/// A merchant's confirmation key moved on: the new kid and the one it replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRotation {
    pub merchant_id: MerchantId,
    pub kid: String,
    pub previous_kid: String,
    pub previous_kid_retires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub merchant_id: MerchantId,
    pub order_id: OrderId,
    pub user_id: UserId,
    pub amount: Money,
    pub refunded: Money,
    /// Refunds submitted to the provider and not yet settled or failed. Kept by the
    /// service, never set by the merchant.
    pub reserved: Money,
    pub description: Option<String>,
    /// Alipay's number for the payment; refunds name it when known.
    pub alipay_trade_no: Option<AlipayTradeNo>,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// What can still be refunded: neither refunded nor on its way.
    pub fn refundable(&self) -> Money {
        let zero = Money::zero(self.amount.currency());
        let left = self.amount.checked_sub(self.refunded).unwrap_or(zero);
        left.checked_sub(self.reserved).unwrap_or(zero)
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
    /// Where an Alipay transfer to this contact goes.
    pub alipay: Option<AlipayPayee>,
    /// When the contact was first added; kept when it is replaced.
    pub created_at: DateTime<Utc>,
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
    /// The draft it starts with.
    pub draft: Draft,
    /// Frames for its sockets, stored with it (the greeting), numbered from 1.
    pub frames: Vec<Value>,
}

/// The mutable part of a session; `apply` writes all of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionChange {
    pub state: SessionState,
    pub mode: Mode,
    pub reason: Option<EndReason>,
    pub proposed_action: Option<Action>,
    pub confirmation_hash: Option<String>,
    pub confirmation_expires_at: Option<DateTime<Utc>>,
    pub clarifications: i32,
    /// What the dialogue has gathered so far.
    pub draft: Draft,
    pub at: DateTime<Utc>,
    /// Where the event chain stood before this change; the change's event links to it.
    pub prior: Prior,
}

/// The state a session's last event led to and that event's hash (`None` for a session
/// stored before events were chained).
#[derive(Debug, Clone, PartialEq)]
pub struct Prior {
    pub state: SessionState,
    pub hash: Option<String>,
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
    pub proposed_action: Option<Action>,
    pub confirmation_hash: Option<String>,
    pub confirmation_expires_at: Option<DateTime<Utc>>,
    pub clarifications: i32,
    pub draft: Draft,
    /// The seq of the last frame stored for this session's sockets.
    pub frame_seq: i64,
    pub version: i64,
    /// The hash of the last event (the head of the event chain).
    pub event_hash: Option<String>,
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
            prior: Prior {
                state: self.state,
                hash: self.event_hash.clone(),
            },
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
    /// `SHA-256(previous hash ‖ canonical event)`, hex (`crate::chain`).
    pub hash: Option<String>,
}

impl EventRecord {
    /// The event as its hash covers it.
    pub fn link(&self) -> crate::chain::Link<'_> {
        crate::chain::Link {
            session_id: self.session_id,
            seq: self.seq,
            from: self.from.map(|s| s.as_str()),
            to: self.to.as_str(),
            kind: self.kind.as_str(),
            actor: self.actor.as_str(),
            payload: &self.payload,
            at: self.at,
        }
    }
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

/// Everything one transition writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub change: SessionChange,
    pub event: NewEvent,
    /// Frames for the session's sockets; they end at the saved session's `frame_seq`.
    pub frames: Vec<Value>,
    /// The outbox row, when the session enters `submitted`.
    pub submission: Option<NewSubmission>,
    /// What the transition does to an order's refund accounting.
    pub order: Option<OrderEffect>,
    /// The session's submission is finished (settled or failed by the provider).
    pub finish_submission: bool,
    /// Model calls whose answers led to this transition, stored with it.
    pub model_calls: Vec<ModelCall>,
}

impl Commit {
    pub fn new(change: SessionChange, event: NewEvent, frames: Vec<Value>) -> Self {
        Commit {
            change,
            event,
            frames,
            submission: None,
            order: None,
            finish_submission: false,
            model_calls: Vec::new(),
        }
    }
}

/// Refund accounting on an order, in minor units of its currency.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderEffect {
    /// A refund goes to the provider: hold it so no other refund can take the same money.
    Reserve {
        merchant_id: MerchantId,
        order_id: OrderId,
        minor: i64,
    },
    /// The provider settled it.
    Settle {
        merchant_id: MerchantId,
        order_id: OrderId,
        minor: i64,
    },
    /// The provider failed it: the money is refundable again.
    Release {
        merchant_id: MerchantId,
        order_id: OrderId,
        minor: i64,
    },
}

text_enum!(
    /// Where an outbox row is.
    SubmissionState {
        Pending => "pending",
        Sent => "sent",
        Done => "done",
        Dead => "dead",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct NewSubmission {
    pub idempotency_key: String,
    pub session_id: SessionId,
    pub merchant_id: MerchantId,
    pub provider: String,
    pub action: Action,
    pub amount: Money,
    pub at: DateTime<Utc>,
    /// Written already leased to the instance that delivers it at once, as its first
    /// attempt; `None` leaves it to whichever dispatcher claims it first.
    pub leased_until: Option<DateTime<Utc>>,
}

impl NewSubmission {
    /// The row as written, for the instance that holds its lease.
    pub fn as_claimed(&self) -> Submission {
        Submission {
            idempotency_key: self.idempotency_key.clone(),
            session_id: self.session_id,
            merchant_id: self.merchant_id.clone(),
            provider: self.provider.clone(),
            action: self.action.clone(),
            amount: self.amount,
            state: SubmissionState::Pending,
            attempts: 1,
            next_attempt_at: self.at,
            provider_reference: None,
            last_error: None,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub idempotency_key: String,
    pub session_id: SessionId,
    pub merchant_id: MerchantId,
    pub provider: String,
    pub action: Action,
    pub amount: Money,
    pub state: SubmissionState,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub provider_reference: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What a risk check asks the store.
#[derive(Debug, Clone, Copy)]
pub struct RiskQuery<'a> {
    pub merchant: &'a MerchantId,
    pub user: &'a UserId,
    pub device: Option<&'a str>,
    /// The session being checked, left out of the shopper's history.
    pub session: SessionId,
    pub shopper_since: DateTime<Utc>,
    /// The order a refund comes from.
    pub order: Option<&'a OrderId>,
}

/// The shopper's recent history and the refund's order, read in one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskFacts {
    /// Movements this shopper consented to since `shopper_since`, up to `COUNT_CAP`.
    pub shopper_recent: i64,
    /// Whether this shopper used this device in an earlier session.
    pub device_known: bool,
    /// Whether this shopper had any earlier session.
    pub returning: bool,
    pub order: Option<Order>,
}

/// What the risk rules need to know about a shopper's recent history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RiskStats {
    /// Movements this shopper consented to inside the shopper window.
    pub shopper_recent: i64,
    /// Movements the merchant's shoppers consented to inside the merchant window.
    pub merchant_recent: i64,
    /// Whether this shopper used this device in an earlier session.
    pub device_known: bool,
    /// Whether this shopper had any earlier session.
    pub returning: bool,
}

impl RiskStats {
    /// Where the consent counts stop: a count is exact below this and this at or above it.
    /// The risk rules look at no threshold higher.
    pub const COUNT_CAP: i64 = 10_000;
}

/// How the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboxStats {
    pub pending: i64,
    pub dead: i64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// A settlement notification applied from the submission it names, without reading the
/// session first: it applies only to a session of `entry`'s merchant that is `submitted`
/// with a submission of this key and amount, and whose inbox lacks the event.
#[derive(Debug, Clone)]
pub struct DirectSettlement<'a> {
    pub entry: &'a InboxEntry,
    pub session_id: SessionId,
    pub idempotency_key: &'a str,
    pub amount: Money,
    /// Where the state machine takes a `submitted` session on this notification.
    pub to: SessionState,
    pub reason: Option<EndReason>,
    pub event: &'a NewEvent,
    /// What the shopper is told, in English and in Chinese: the session's language picks.
    pub frames: [&'a [Value]; 2],
    /// The refund settled (its hold becomes refunded money) rather than failed (released).
    pub settled: bool,
    pub at: DateTime<Utc>,
}

/// What became of a `DirectSettlement`.
#[derive(Debug, Clone, PartialEq)]
pub enum Direct {
    /// Stored with its transition: the session as saved.
    Applied(Box<Session>),
    /// The inbox had the event already; nothing was written.
    Seen,
    /// Not applied: the session is not as the notification says, or this store settles
    /// only through the general path. The caller reads the session and decides.
    Undecided,
}

/// A verified settlement notification, as stored in the inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxEntry {
    pub merchant_id: MerchantId,
    pub event_id: String,
    pub session_id: String,
    pub kind: String,
    pub idempotency_key: String,
    pub outcome: InboxOutcome,
    pub payload: Value,
    pub received_at: DateTime<Utc>,
}

/// A payment the sandbox provider accepted, and the webhook it owes.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxPayment {
    pub idempotency_key: String,
    pub merchant_id: MerchantId,
    pub session_id: SessionId,
    pub reference: String,
    pub amount: Money,
    pub succeeds: bool,
    pub requests: i32,
    pub deliver_at: DateTime<Utc>,
}

/// The link that opens one session's countersign page: only its secret's hash is kept.
#[derive(Debug, Clone, PartialEq)]
pub struct CountersignLink {
    pub session_id: SessionId,
    pub merchant_id: MerchantId,
    pub user_id: UserId,
    pub secret_hash: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}
