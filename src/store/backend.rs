//! `Store` and `Payments` for both backends, written once over [`Backend`]: each method
//! runs the shared SQL on the pool or in the write transaction the backend gives it.

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{Pool, Transaction};

use super::db::Db;
use super::*;
use crate::domain::{ContactId, MerchantId, OrderId, SessionId, SessionState, UserId};
use crate::understanding::audit::ModelCall;

/// A store on one database: what `postgres.rs` and `sqlite.rs` each provide.
pub(super) trait Backend: Notifications + Send + Sync + 'static {
    type Db: Db;

    /// `"postgres"` or `"sqlite"`.
    const NAME: &'static str;

    /// The pool writes and the colder reads use.
    fn pool(&self) -> &Pool<Self::Db>;

    /// The pool the hot reads use.
    fn read_pool(&self) -> &Pool<Self::Db>;

    fn run_migrations(&self) -> impl Future<Output = Result<()>> + Send;

    /// Starts a transaction for a write that takes more than one statement.
    fn write_tx(&self) -> impl Future<Output = Result<Transaction<'static, Self::Db>>> + Send;

    /// Creates a session with its `opened` event as seq 1.
    fn open(
        &self,
        s: &NewSession,
        opened: &NewEvent,
    ) -> impl Future<Output = Result<Session>> + Send;

    /// Stores frames that change nothing else; returns the last one's seq.
    fn append(&self, id: SessionId, frames: &[Value]) -> impl Future<Output = Result<i64>> + Send;

    /// Writes `commit` atomically if the session is still at `expected`, with `entry`, the
    /// inbox row that brings it, when there is one: `None` (nothing written) when the inbox
    /// had that event already.
    fn transition(
        &self,
        id: SessionId,
        expected: i64,
        commit: &Commit,
        entry: Option<&InboxEntry>,
    ) -> impl Future<Output = Result<Option<Session>>> + Send;

    /// Applies a settlement from its submission without reading the session first.
    fn direct(&self, s: &DirectSettlement<'_>) -> impl Future<Output = Result<Direct>> + Send;

    fn writer(&self) -> <Self::Db as Db>::Pooled<'_> {
        Self::Db::pooled(self.pool())
    }

    fn reader(&self) -> <Self::Db as Db>::Pooled<'_> {
        Self::Db::pooled(self.read_pool())
    }
}

#[async_trait]
impl<B: Backend> Store for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn migrate(&self) -> Result<()> {
        self.run_migrations().await
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query::<B::Db>("SELECT 1")
            .execute(self.writer())
            .await?;
        Ok(())
    }

    async fn create_merchant(&self, m: &Merchant) -> Result<()> {
        merchants::create(self.writer(), m).await
    }

    async fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>> {
        merchants::by_id(self.reader(), id).await
    }

    async fn merchant_by_key_hash(&self, hash: &str) -> Result<Option<Merchant>> {
        merchants::by_key_hash(self.reader(), hash).await
    }

    async fn merchant_count(&self) -> Result<i64> {
        merchants::count(self.writer()).await
    }

    async fn rotate_merchant_key(&self, r: &KeyRotation) -> Result<bool> {
        merchants::rotate(self.writer(), r).await
    }

    async fn put_order(&self, order: &Order) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let created = orders::put(&mut tx, order).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn order(&self, merchant: &MerchantId, id: &OrderId) -> Result<Option<Order>> {
        orders::by_id(self.reader(), merchant, id).await
    }

    async fn orders_for_user(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        limit: i64,
    ) -> Result<Vec<Order>> {
        orders::for_user(self.reader(), merchant, user, limit).await
    }

    async fn put_contact(&self, contact: &Contact) -> Result<bool> {
        let mut tx = self.write_tx().await?;
        let created = contacts::put(&mut tx, contact).await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn contact(&self, merchant: &MerchantId, id: &ContactId) -> Result<Option<Contact>> {
        contacts::by_id(self.reader(), merchant, id).await
    }

    async fn contacts_for_user(
        &self,
        merchant: &MerchantId,
        user: &UserId,
    ) -> Result<Vec<Contact>> {
        contacts::for_user(self.reader(), merchant, user).await
    }

    async fn create_session(&self, s: &NewSession, opened: &NewEvent) -> Result<Session> {
        self.open(s, opened).await
    }

    async fn session(&self, id: SessionId) -> Result<Option<Session>> {
        sessions::by_id(self.reader(), id).await
    }

    async fn apply(&self, id: SessionId, expected: i64, commit: &Commit) -> Result<Session> {
        let saved = self.transition(id, expected, commit, None).await?;
        saved.ok_or_else(|| StoreError::Corrupt(format!("{id}: a transition without an inbox row")))
    }

    async fn events(&self, id: SessionId) -> Result<Vec<EventRecord>> {
        sessions::events(self.reader(), id).await
    }

    async fn session_ids_after(&self, after: &str, limit: i64) -> Result<Vec<SessionId>> {
        sessions::ids_after(self.reader(), after, limit).await
    }

    async fn add_evidence_key(&self, key: &EvidenceKey) -> Result<()> {
        evidence_keys::insert(self.writer(), key).await
    }

    async fn evidence_keys(&self) -> Result<Vec<EvidenceKey>> {
        evidence_keys::all(self.writer()).await
    }

    async fn append_frames(&self, id: SessionId, frames: &[Value]) -> Result<i64> {
        self.append(id, frames).await
    }

    async fn frames_after(
        &self,
        id: SessionId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredFrame>> {
        frames::after(self.reader(), id, after, limit).await
    }

    async fn latest_frame(&self, id: SessionId, kind: &str) -> Result<Option<StoredFrame>> {
        frames::latest(self.reader(), id, kind).await
    }

    async fn record_model_call(&self, call: &ModelCall) -> Result<()> {
        audit::record(self.writer(), call).await
    }

    async fn create_link(&self, link: &CountersignLink) -> Result<()> {
        links::create(self.writer(), link).await
    }

    async fn link_by_hash(&self, hash: &str) -> Result<Option<CountersignLink>> {
        links::by_hash(self.reader(), hash).await
    }

    async fn open_proposals(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        links::open(self.writer(), merchant, user, now).await
    }

    async fn model_calls(&self, id: SessionId) -> Result<Vec<ModelCallRecord>> {
        audit::for_session(self.reader(), id).await
    }

    async fn expiring(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SessionId>> {
        sessions::expiring(self.writer(), now, limit).await
    }

    async fn idempotency_begin(&self, claim: &IdempotencyClaim) -> Result<IdempotencyBegin> {
        let mut tx = self.write_tx().await?;
        let answer = idempotency::claim(&mut tx, claim).await?;
        tx.commit().await?;
        Ok(answer)
    }

    async fn idempotency_complete(
        &self,
        merchant: &MerchantId,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        idempotency::complete(self.writer(), merchant, key, status, body).await
    }

    async fn idempotency_release(&self, merchant: &MerchantId, key: &str) -> Result<()> {
        idempotency::release(self.writer(), merchant, key).await
    }

    async fn idempotency_purge(&self, now: DateTime<Utc>) -> Result<u64> {
        idempotency::purge(self.writer(), now).await
    }
}

#[async_trait]
impl<B: Backend> Payments for B {
    async fn record_webhook(&self, entry: &InboxEntry) -> Result<bool> {
        inbox::insert(self.writer(), entry).await
    }

    async fn settle_webhook(
        &self,
        entry: &InboxEntry,
        id: SessionId,
        expected: i64,
        commit: &Commit,
    ) -> Result<Option<Session>> {
        self.transition(id, expected, commit, Some(entry)).await
    }

    async fn settle_direct(&self, s: &DirectSettlement<'_>) -> Result<Direct> {
        self.direct(s).await
    }

    async fn inbox_has(&self, merchant: &MerchantId, event_id: &str) -> Result<bool> {
        inbox::has(self.reader(), merchant, event_id).await
    }

    async fn claim_submissions(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Submission>> {
        outbox::claim(self.writer(), now, lease_until, limit).await
    }

    async fn submission_sent(&self, key: &str, reference: &str, now: DateTime<Utc>) -> Result<()> {
        outbox::sent(self.writer(), key, reference, now).await
    }

    async fn submission_retry(
        &self,
        key: &str,
        next_at: DateTime<Utc>,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        outbox::retry(self.writer(), key, next_at, error, now).await
    }

    async fn submission_dead(&self, key: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
        outbox::dead(self.writer(), key, error, now).await
    }

    async fn submission_for_session(&self, id: SessionId) -> Result<Option<Submission>> {
        outbox::for_session(self.reader(), id).await
    }

    async fn submission_by_key(&self, key: &str) -> Result<Option<Submission>> {
        outbox::by_key(self.reader(), key).await
    }

    async fn submissions(
        &self,
        merchant: &MerchantId,
        state: SubmissionState,
        limit: i64,
    ) -> Result<Vec<Submission>> {
        outbox::in_state(self.writer(), merchant, state, limit).await
    }

    async fn risk_facts(&self, q: &RiskQuery<'_>) -> Result<RiskFacts> {
        stats::risk(self.reader(), q).await
    }

    async fn merchant_consents(&self, merchant: &MerchantId, since: DateTime<Utc>) -> Result<i64> {
        stats::merchant_consents(self.reader(), merchant, since).await
    }

    async fn sessions_in_state(
        &self,
        merchant: &MerchantId,
        state: SessionState,
        limit: i64,
    ) -> Result<Vec<Session>> {
        sessions::in_state(self.writer(), merchant, state, limit).await
    }

    async fn stalled(
        &self,
        state: SessionState,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<SessionId>> {
        sessions::stalled(self.writer(), state, before, limit).await
    }

    async fn sessions_by_state(&self) -> Result<Vec<(SessionState, i64)>> {
        stats::sessions_by_state(self.writer()).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        stats::outbox(self.writer()).await
    }

    async fn sandbox_accept(&self, p: &SandboxPayment) -> Result<SandboxPayment> {
        sandbox::accept(self.writer(), p).await
    }

    async fn sandbox_due(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SandboxPayment>> {
        sandbox::due(self.writer(), now, limit).await
    }

    async fn sandbox_delivered(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
        sandbox::delivered(self.writer(), key, at).await
    }

    async fn sandbox_postpone(&self, key: &str, at: DateTime<Utc>) -> Result<()> {
        sandbox::postpone(self.writer(), key, at).await
    }
}
