//! Counts: what the risk rules know of a shopper's history, and what the metrics report.

use chrono::{DateTime, Utc};
use sqlx::Executor;

use super::db::{Bind, Columns, Db};
use super::{OutboxStats, Result, RiskStats, SessionId, rows};
use crate::domain::{MerchantId, SessionState, UserId};

/// Consents by the merchant's shoppers since `$2`, counted up to `$3` (beyond it the rules
/// decide the same).
const MERCHANT_CONSENTS: &str = "SELECT COUNT(*) AS n FROM (SELECT 1 FROM sessions \
     WHERE merchant_id = $1 AND consented_at >= $2 LIMIT $3) AS recent";
/// Consents by shopper `$4` since `$2`, counted up to `$3`.
const SHOPPER_CONSENTS: &str = "SELECT COUNT(*) AS n FROM (SELECT 1 FROM sessions \
     WHERE merchant_id = $1 AND consented_at >= $2 AND user_id = $4 LIMIT $3) AS recent";
/// The devices of the shopper's other sessions.
const EARLIER_DEVICES: &str = "SELECT device FROM sessions \
     WHERE merchant_id = $1 AND user_id = $2 AND id <> $3 LIMIT 200";
const BY_STATE: &str = "SELECT state, COUNT(*) AS n FROM sessions GROUP BY state";
const OUTBOX: &str = "SELECT \
     COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
     COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS dead FROM submissions";
const OLDEST_PENDING: &str = "SELECT created_at FROM submissions WHERE state = 'pending' \
     ORDER BY created_at LIMIT 1";

/// What the risk rules count: consents by this shopper since `shopper_since`, by the
/// merchant's shoppers since `merchant_since`, and whether the device is known.
pub(super) async fn risk<'c, DB: Db, E>(
    ex: E,
    merchant: &MerchantId,
    user: &UserId,
    device: Option<&str>,
    session: SessionId,
    (shopper_since, merchant_since): (DateTime<Utc>, DateTime<Utc>),
) -> Result<RiskStats>
where
    E: Executor<'c, Database = DB> + Copy,
{
    let shopper = sqlx::query::<DB>(SHOPPER_CONSENTS)
        .arg(merchant.as_str())
        .arg(shopper_since)
        .arg(RiskStats::COUNT_CAP)
        .arg(user.as_str())
        .fetch_one(ex)
        .await?;
    let whole = sqlx::query::<DB>(MERCHANT_CONSENTS)
        .arg(merchant.as_str())
        .arg(merchant_since)
        .arg(RiskStats::COUNT_CAP)
        .fetch_one(ex)
        .await?;
    let earlier = sqlx::query::<DB>(EARLIER_DEVICES)
        .arg(merchant.as_str())
        .arg(user.as_str())
        .arg(session.to_string())
        .fetch_all(ex)
        .await?;
    let earlier: Vec<Option<String>> = earlier
        .iter()
        .map(|r| r.col("device"))
        .collect::<sqlx::Result<_>>()?;
    let device_known = device.is_some_and(|d| earlier.iter().any(|e| e.as_deref() == Some(d)));
    Ok(RiskStats {
        shopper_recent: shopper.col("n")?,
        merchant_recent: whole.col("n")?,
        device_known,
        returning: !earlier.is_empty(),
    })
}

/// How many sessions are in each state.
pub(super) async fn sessions_by_state<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
) -> Result<Vec<(SessionState, i64)>> {
    let rows = sqlx::query::<DB>(BY_STATE).fetch_all(ex).await?;
    rows.iter()
        .map(|r| Ok((rows::state(&r.col::<String>("state")?)?, r.col("n")?)))
        .collect()
}

/// The outbox's depth and its oldest undelivered row.
pub(super) async fn outbox<'c, DB: Db, E>(ex: E) -> Result<OutboxStats>
where
    E: Executor<'c, Database = DB> + Copy,
{
    let counts = sqlx::query::<DB>(OUTBOX).fetch_one(ex).await?;
    let oldest = sqlx::query::<DB>(OLDEST_PENDING).fetch_optional(ex).await?;
    Ok(OutboxStats {
        pending: counts.col("pending")?,
        dead: counts.col("dead")?,
        oldest_pending: oldest.map(|r| r.col("created_at")).transpose()?,
    })
}
