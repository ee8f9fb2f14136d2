//! Storage for the money side: the outbox, the webhook inbox, risk history, the review
//! queue and the sandbox provider's books.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    Commit, Direct, DirectSettlement, InboxEntry, OutboxStats, Result, RiskFacts, RiskQuery,
    SandboxPayment, Session, Submission, SubmissionState,
};
use crate::domain::{MerchantId, SessionId, SessionState};

#[async_trait]
pub trait Payments: Send + Sync {
    /// Stores a verified notification that moves no session. `false` (and nothing written)
    /// when the event id was seen before.
    async fn record_webhook(&self, entry: &InboxEntry) -> Result<bool>;
    /// Stores a verified notification with the commit it brings to session `id`, atomically
    /// (one statement on Postgres), if the session is still at `expected_version`: the saved
    /// session, or `None` (nothing written) when the event id was seen before.
    async fn settle_webhook(
        &self,
        entry: &InboxEntry,
        id: SessionId,
        expected_version: i64,
        commit: &Commit,
    ) -> Result<Option<Session>>;
    /// Applies a notification straight from its submission, in one statement on Postgres;
    /// SQLite answers `Undecided` (an embedded read costs no round trip).
    async fn settle_direct(&self, s: &DirectSettlement<'_>) -> Result<Direct>;
    /// Whether a notification with this event id is already in the merchant's inbox.
    async fn inbox_has(&self, merchant: &MerchantId, event_id: &str) -> Result<bool>;

    /// Leases up to `limit` due outbox rows until `lease_until` and counts the attempt.
    async fn claim_submissions(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Submission>>;
    /// The provider accepted it; now the settlement webhook is awaited.
    async fn submission_sent(&self, key: &str, reference: &str, now: DateTime<Utc>) -> Result<()>;
    /// The attempt failed; try again at `next_at`.
    async fn submission_retry(
        &self,
        key: &str,
        next_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()>;
    /// No more attempts: an operator must look at it.
    async fn submission_dead(&self, key: &str, error: &str, now: DateTime<Utc>) -> Result<()>;
    async fn submission_for_session(&self, id: SessionId) -> Result<Option<Submission>>;
    /// The submission sent under this idempotency key (how a provider names it back).
    async fn submission_by_key(&self, key: &str) -> Result<Option<Submission>>;
    async fn submissions(
        &self,
        merchant: &MerchantId,
        state: SubmissionState,
        limit: i64,
    ) -> Result<Vec<Submission>>;

    /// What the risk rules count (consents by this shopper and by the merchant's shoppers
    /// in their windows, whether the shopper and the device are known) and the refund's
    /// order, in one statement.
    async fn risk_facts(&self, q: &RiskQuery<'_>) -> Result<RiskFacts>;
    /// Consents across the merchant's shoppers since `since`, up to `RiskStats::COUNT_CAP`.
    async fn merchant_consents(&self, merchant: &MerchantId, since: DateTime<Utc>) -> Result<i64>;
    /// A merchant's sessions in `state`, least recently changed first.
    async fn sessions_in_state(
        &self,
        merchant: &MerchantId,
        state: SessionState,
        limit: i64,
    ) -> Result<Vec<Session>>;
    /// Sessions in `state` that have not changed since `before` (work that was interrupted).
    async fn stalled(
        &self,
        state: SessionState,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SessionId>>;

    /// How many sessions are in each state.
    async fn sessions_by_state(&self) -> Result<Vec<(SessionState, i64)>>;
    /// The outbox's depth and its oldest undelivered row.
    async fn outbox_stats(&self) -> Result<OutboxStats>;

    /// Records a payment request at the sandbox; a repeated idempotency key returns the
    /// payment first recorded, with its request count raised.
    async fn sandbox_accept(&self, p: &SandboxPayment) -> Result<SandboxPayment>;
    /// Payments whose webhook is due and not yet delivered.
    async fn sandbox_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SandboxPayment>>;
    async fn sandbox_delivered(&self, key: &str, at: DateTime<Utc>) -> Result<()>;
    /// Moves a payment's webhook to `at` (after a failed delivery).
    async fn sandbox_postpone(&self, key: &str, at: DateTime<Utc>) -> Result<()>;
}
