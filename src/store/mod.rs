//! Storage: one trait, a Postgres and a SQLite implementation, and one conformance suite
//! (tests/it/store/, a file per concern) run against both.
//!
//! The SQL is written once, in a module per table (`orders`, `sessions`, …), as functions
//! generic over [`db::Db`]; `postgres.rs` and `sqlite.rs` hold what differs (connecting,
//! starting a write transaction, locking clauses, learning whether an upsert inserted) and
//! implement `Store` and `Payments` by calling those functions. `rows` turns rows into
//! records, parsing every column once.

mod audit;
mod backend;
mod contacts;
mod db;
mod evidence_keys;
mod frames;
mod idempotency;
mod inbox;
mod links;
mod merchants;
mod migrations;
mod orders;
mod outbox;
mod payments;
mod pg_settle;
mod pg_writes;
mod postgres;
mod records;
mod rows;
mod sandbox;
mod sessions;
mod sqlite;
mod stats;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ContactId, MerchantId, OrderId, SessionId, UserId};

pub use audit::ModelCallRecord;
pub use payments::Payments;
pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A row with this key exists already.
    #[error("already exists")]
    Duplicate,
    /// Someone else changed the row first (optimistic concurrency).
    #[error("the session changed concurrently")]
    Conflict,
    #[error("not found")]
    NotFound,
    /// The order no longer has that much left to refund.
    #[error("not enough left to refund on the order")]
    Insufficient,
    /// Stored data that no longer parses: a bug or a hand edit, never user input.
    #[error("corrupt row: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx_core::migrate::MigrateError),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-key violation to the domain answer `Duplicate`.
fn unique_as_duplicate(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate,
        _ => StoreError::Database(e),
    }
}

#[async_trait]
pub trait Store: Payments + Notifications + Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;
    async fn migrate(&self) -> Result<()>;
    async fn ping(&self) -> Result<()>;

    async fn create_merchant(&self, m: &Merchant) -> Result<()>;
    async fn merchant(&self, id: &MerchantId) -> Result<Option<Merchant>>;
    async fn merchant_by_key_hash(&self, api_key_hash: &str) -> Result<Option<Merchant>>;
    async fn merchant_count(&self) -> Result<i64>;
    /// Applies `r` if the merchant still signs under `r.previous_kid`; `false` otherwise.
    async fn rotate_merchant_key(&self, r: &KeyRotation) -> Result<bool>;

    /// Inserts or replaces an order; `true` when it was new.
    async fn put_order(&self, order: &Order) -> Result<bool>;
    async fn order(&self, merchant: &MerchantId, id: &OrderId) -> Result<Option<Order>>;
    /// A shopper's orders, most recently placed first.
    async fn orders_for_user(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        limit: i64,
    ) -> Result<Vec<Order>>;
    /// Inserts or replaces a contact; `true` when it was new.
    async fn put_contact(&self, contact: &Contact) -> Result<bool>;
    async fn contact(&self, merchant: &MerchantId, id: &ContactId) -> Result<Option<Contact>>;
    async fn contacts_for_user(&self, merchant: &MerchantId, user: &UserId)
    -> Result<Vec<Contact>>;

    /// Creates the session at version 1 with its `opened` event as seq 1, in one transaction.
    async fn create_session(&self, s: &NewSession, opened: &NewEvent) -> Result<Session>;
    async fn session(&self, id: SessionId) -> Result<Option<Session>>;
    /// Writes the commit (session change, event, frames, outbox row, order accounting) in
    /// one transaction, if the session is still at `expected_version`; otherwise `Conflict`
    /// and nothing is written. The frames end at the returned session's `frame_seq`.
    async fn apply(&self, id: SessionId, expected_version: i64, commit: &Commit)
    -> Result<Session>;
    async fn events(&self, id: SessionId) -> Result<Vec<EventRecord>>;
    /// Up to `limit` session ids greater than `after` (`""` for the first), in order.
    async fn session_ids_after(&self, after: &str, limit: i64) -> Result<Vec<SessionId>>;

    /// Adds an evidence signing key.
    async fn add_evidence_key(&self, key: &EvidenceKey) -> Result<()>;
    /// Every evidence signing key, newest first.
    async fn evidence_keys(&self) -> Result<Vec<EvidenceKey>>;

    /// Stores frames that come with no state change; returns the seq of the last one.
    async fn append_frames(&self, id: SessionId, frames: &[serde_json::Value]) -> Result<i64>;
    /// Stored frames with a seq above `after`, oldest first.
    async fn frames_after(&self, id: SessionId, after: i64, limit: i64)
    -> Result<Vec<StoredFrame>>;
    /// The newest stored frame of this `type`.
    async fn latest_frame(&self, id: SessionId, kind: &str) -> Result<Option<StoredFrame>>;
    /// Keeps one language-model call for audit.
    async fn record_model_call(&self, call: &crate::understanding::audit::ModelCall) -> Result<()>;
    /// The language-model calls a session made, oldest first.
    async fn model_calls(&self, id: SessionId) -> Result<Vec<ModelCallRecord>>;
    /// Sessions whose confirmation expired by `now`.
    async fn expiring(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<SessionId>>;

    /// Stores the link to a session's countersign page; `Duplicate` when the session or the
    /// secret has one already.
    async fn create_link(&self, link: &CountersignLink) -> Result<()>;
    /// The link whose secret hashes to `hash`.
    async fn link_by_hash(&self, hash: &str) -> Result<Option<CountersignLink>>;
    /// How many of this shopper's linked proposals still wait for the shopper at `now`.
    async fn open_proposals(
        &self,
        merchant: &MerchantId,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> Result<i64>;

    /// Claims `key` for a request with body hash `request_hash`.
    async fn idempotency_begin(&self, claim: &IdempotencyClaim) -> Result<IdempotencyBegin>;
    /// Stores the response for a claimed key.
    async fn idempotency_complete(
        &self,
        merchant: &MerchantId,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()>;
    /// Forgets a claimed key (the request failed in a way not worth replaying).
    async fn idempotency_release(&self, merchant: &MerchantId, key: &str) -> Result<()>;
    /// Deletes expired keys; returns how many.
    async fn idempotency_purge(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// The Postgres channel that announces committed frames.
pub const FRAMES_CHANNEL: &str = "countersign_frames";

/// Frames another instance committed: session, first seq, last seq.
pub type Announcement = (SessionId, i64, i64);
pub type FrameFeed = std::pin::Pin<Box<dyn futures_util::Stream<Item = Announcement> + Send>>;

/// Announcements of frames committed by other instances sharing the database.
#[async_trait]
pub trait Notifications: Send + Sync {
    /// `None` where no other instance can write (the embedded database).
    async fn frame_feed(&self) -> Result<Option<FrameFeed>> {
        Ok(None)
    }
}

/// Reads `"<session> <first> <last> <origin>"`: the announcement and the store it came from.
pub(crate) fn parse_announcement(payload: &str) -> Option<(Announcement, &str)> {
    let mut parts = payload.split(' ');
    let id = SessionId::parse(parts.next()?).ok()?;
    let first = parts.next()?.parse().ok()?;
    let last = parts.next()?.parse().ok()?;
    let origin = parts.next().unwrap_or_default();
    Some(((id, first, last), origin))
}

/// Opens the store `url` names (`postgres://…` or `sqlite://…`) and migrates it.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Arc::new(PgStore::connect(url).await?)
        } else if url.starts_with("sqlite:") {
            Arc::new(SqliteStore::connect(url).await?)
        } else {
            anyhow::bail!("DATABASE_URL must start with postgres:// or sqlite:");
        };
    store.migrate().await?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_names_its_frames_and_the_store_that_wrote_them() {
        let id = SessionId::new();
        let payload = format!("{id} 3 5 abc");
        let ((session, first, last), origin) = parse_announcement(&payload).unwrap();
        assert_eq!((session, first, last, origin), (id, 3, 5, "abc"));
        assert_eq!(parse_announcement(&format!("{id} 3 5")).unwrap().1, "");
        assert!(parse_announcement("not-a-session 3 5 abc").is_none());
        assert!(parse_announcement(&format!("{id} x 5 abc")).is_none());
    }
}
