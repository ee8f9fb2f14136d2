//! The webhook inbox: every verified settlement notification, once per event id.

use sqlx::Executor;
use sqlx::types::Json;

use super::db::{Bind, Db, Q};
use super::{InboxEntry, Result};
use crate::domain::MerchantId;

const INSERT: &str = "INSERT INTO webhook_inbox (merchant_id, event_id, session_id, kind, \
     idempotency_key, outcome, payload, received_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (merchant_id, event_id) DO NOTHING";
const HAS: &str = "SELECT 1 AS found FROM webhook_inbox WHERE merchant_id = $1 AND event_id = $2";

/// Stores `e`; `false` (and nothing written) when the event id was seen before.
pub(super) async fn insert<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    e: &InboxEntry,
) -> Result<bool> {
    let inserted = bind(sqlx::query::<DB>(INSERT), e).execute(ex).await?;
    Ok(DB::rows_affected(&inserted) == 1)
}

/// Binds the entry's eight columns, in the order `INSERT` names them.
pub(super) fn bind<'q, DB: Db>(q: Q<'q, DB>, e: &'q InboxEntry) -> Q<'q, DB> {
    q.arg(e.merchant_id.as_str())
        .arg(&e.event_id)
        .arg(&e.session_id)
        .arg(&e.kind)
        .arg(&e.idempotency_key)
        .arg(e.outcome.as_str())
        .arg(Json(&e.payload))
        .arg(e.received_at)
}

pub(super) async fn has<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    event_id: &str,
) -> Result<bool> {
    let row = sqlx::query::<DB>(HAS)
        .arg(merchant.as_str())
        .arg(event_id)
        .fetch_optional(ex)
        .await?;
    Ok(row.is_some())
}
