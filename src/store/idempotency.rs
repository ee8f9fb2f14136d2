//! Idempotency keys: a request claims its key, and completes it with the response to
//! replay, or releases it.

use chrono::{DateTime, Utc};
use sqlx::{Executor, Transaction};

use super::db::{Bind, Columns, Db};
use super::{IdempotencyBegin, IdempotencyClaim, Result};
use crate::domain::MerchantId;

/// Claims a key: inserts it, or takes over the row that is there when that row expired, or
/// is a claim of the same request abandoned before `$6` (its holder crashed). Returns a row
/// only when the key was claimed.
const CLAIM: &str = "INSERT INTO idempotency_keys \
     (merchant_id, key, request_hash, state, locked_at, expires_at) \
     VALUES ($1, $2, $3, 'in_flight', $4, $5) \
     ON CONFLICT (merchant_id, key) DO UPDATE SET request_hash = excluded.request_hash, \
     state = 'in_flight', response_status = NULL, response_body = NULL, \
     locked_at = excluded.locked_at, expires_at = excluded.expires_at \
     WHERE idempotency_keys.expires_at <= excluded.locked_at \
     OR (idempotency_keys.state = 'in_flight' \
     AND idempotency_keys.request_hash = excluded.request_hash \
     AND idempotency_keys.locked_at < $6) \
     RETURNING state";
/// The row a claim did not take.
const HELD: &str = "SELECT request_hash, state, response_status, response_body \
     FROM idempotency_keys WHERE merchant_id = $1 AND key = $2";
const COMPLETE: &str = "UPDATE idempotency_keys SET state = 'completed', response_status = $3, \
     response_body = $4 WHERE merchant_id = $1 AND key = $2";
const RELEASE: &str =
    "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 AND state = 'in_flight'";
const PURGE: &str = "DELETE FROM idempotency_keys WHERE expires_at <= $1";

/// Claims `c.key`, or says why not from the row that holds it.
pub(super) async fn claim<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    c: &IdempotencyClaim,
) -> Result<IdempotencyBegin> {
    let claimed = sqlx::query::<DB>(CLAIM)
        .arg(c.merchant_id.as_str())
        .arg(&c.key)
        .arg(&c.request_hash)
        .arg(c.now)
        .arg(c.expires_at)
        .arg(c.stale_before)
        .fetch_optional(DB::conn(tx))
        .await?;
    if claimed.is_some() {
        return Ok(IdempotencyBegin::Claimed);
    }
    // The claim's conflict locked the row that is there, so it is still as it was.
    let Some(held) = sqlx::query::<DB>(HELD)
        .arg(c.merchant_id.as_str())
        .arg(&c.key)
        .fetch_optional(DB::conn(tx))
        .await?
    else {
        return Ok(IdempotencyBegin::InFlight);
    };
    let hash: String = held.col("request_hash")?;
    if hash != c.request_hash {
        return Ok(IdempotencyBegin::Mismatch);
    }
    let state: String = held.col("state")?;
    let status: Option<i32> = held.col("response_status")?;
    let body: Option<String> = held.col("response_body")?;
    Ok(match (state.as_str(), status, body) {
        ("completed", Some(status), Some(body)) => IdempotencyBegin::Replay {
            status: status as u16,
            body,
        },
        _ => IdempotencyBegin::InFlight,
    })
}

pub(super) async fn complete<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    key: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    sqlx::query::<DB>(COMPLETE)
        .arg(merchant.as_str())
        .arg(key)
        .arg(i32::from(status))
        .arg(body)
        .execute(ex)
        .await?;
    Ok(())
}

pub(super) async fn release<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    key: &str,
) -> Result<()> {
    sqlx::query::<DB>(RELEASE)
        .arg(merchant.as_str())
        .arg(key)
        .execute(ex)
        .await?;
    Ok(())
}

/// Deletes keys expired by `now`; returns how many.
pub(super) async fn purge<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    now: DateTime<Utc>,
) -> Result<u64> {
    let done = sqlx::query::<DB>(PURGE).arg(now).execute(ex).await?;
    Ok(DB::rows_affected(&done))
}
