//! Countersign links: what a proposal made through MCP hands on to the shopper.

use chrono::{DateTime, Utc};
use sqlx::Executor;

use super::db::{Bind, Columns, Db};
use super::{CountersignLink, Result, rows, unique_as_duplicate};
use crate::domain::{MerchantId, UserId};

const INSERT: &str = "INSERT INTO countersign_links \
     (session_id, merchant_id, user_id, secret_hash, expires_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6)";
const BY_HASH: &str = "SELECT session_id, merchant_id, user_id, secret_hash, expires_at, \
     created_at FROM countersign_links WHERE secret_hash = $1";
/// Proposals still waiting for the shopper: linked sessions awaiting confirmation whose
/// confirmation has not run out.
const OPEN: &str = "SELECT COUNT(*) AS open FROM countersign_links l \
     JOIN sessions s ON s.id = l.session_id \
     WHERE l.merchant_id = $1 AND l.user_id = $2 AND s.state = 'awaiting_confirmation' \
     AND s.confirmation_expires_at > $3";

pub(super) async fn create<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    link: &CountersignLink,
) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(link.session_id.to_string())
        .arg(link.merchant_id.as_str())
        .arg(link.user_id.as_str())
        .arg(link.secret_hash.as_str())
        .arg(link.expires_at)
        .arg(link.created_at)
        .execute(ex)
        .await
        .map_err(unique_as_duplicate)?;
    Ok(())
}

pub(super) async fn by_hash<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    hash: &str,
) -> Result<Option<CountersignLink>> {
    let row = sqlx::query::<DB>(BY_HASH)
        .arg(hash)
        .fetch_optional(ex)
        .await?;
    let Some(r) = row else { return Ok(None) };
    Ok(Some(CountersignLink {
        session_id: rows::session_id(&r.col::<String>("session_id")?)?,
        merchant_id: rows::merchant_id(&r.col::<String>("merchant_id")?)?,
        user_id: rows::user_id(&r.col::<String>("user_id")?)?,
        secret_hash: r.col("secret_hash")?,
        expires_at: r.col("expires_at")?,
        created_at: r.col("created_at")?,
    }))
}

pub(super) async fn open<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query::<DB>(OPEN)
        .arg(merchant.as_str())
        .arg(user.as_str())
        .arg(now)
        .fetch_one(ex)
        .await?;
    Ok(row.col("open")?)
}
