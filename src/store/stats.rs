//! Counts: what the risk rules know of a shopper's history, and what the metrics report.

use chrono::{DateTime, Utc};
use sqlx::Executor;

use super::db::{Bind, Columns, Db};
use super::{OutboxStats, Result, RiskFacts, RiskQuery, RiskStats, rows};
use crate::domain::{MerchantId, SessionState};

/// What the risk rules know of a shopper, in one statement over the `sessions_by_shopper`
/// index: consents by shopper `$3` since `$2`, counted up to `$4` (beyond it the rules
/// decide the same); whether the shopper has other sessions than `$5`, and one from device
/// `$6`; and order `$7`'s columns (NULL when there is no such order, or no `$7`).
const RISK: &str = "SELECT o.*, \
     (SELECT COUNT(*) FROM (SELECT 1 FROM sessions \
        WHERE merchant_id = $1 AND user_id = $3 AND consented_at >= $2 LIMIT $4) AS s) AS shopper, \
     EXISTS (SELECT 1 FROM sessions \
        WHERE merchant_id = $1 AND user_id = $3 AND id <> $5) AS returning_shopper, \
     EXISTS (SELECT 1 FROM sessions \
        WHERE merchant_id = $1 AND user_id = $3 AND id <> $5 AND device = $6) AS device_known \
     FROM (SELECT 1 AS one) AS one LEFT JOIN orders o ON o.merchant_id = $1 AND o.order_id = $7";
/// Consents across merchant `$1` since `$2`, over the `sessions_by_consent` index, counted
/// up to `$3`.
const MERCHANT_CONSENTS: &str = "SELECT COUNT(*) AS n FROM (SELECT 1 FROM sessions \
     WHERE merchant_id = $1 AND consented_at >= $2 LIMIT $3) AS m";
const BY_STATE: &str = "SELECT state, COUNT(*) AS n FROM sessions GROUP BY state";
const OUTBOX: &str = "SELECT \
     COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
     COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0) AS dead FROM submissions";
const OLDEST_PENDING: &str = "SELECT created_at FROM submissions WHERE state = 'pending' \
     ORDER BY created_at LIMIT 1";

/// What the risk rules count, and the refund's order.
pub(super) async fn risk<'c, DB: Db, E>(ex: E, q: &RiskQuery<'_>) -> Result<RiskFacts>
where
    E: Executor<'c, Database = DB>,
{
    let row = sqlx::query::<DB>(RISK)
        .arg(q.merchant.as_str())
        .arg(q.shopper_since)
        .arg(q.user.as_str())
        .arg(RiskStats::COUNT_CAP)
        .arg(q.session.to_string())
        .arg(q.device)
        .arg(q.order.map(|o| o.as_str()))
        .fetch_one(ex)
        .await?;
    let found = row.col::<Option<String>>("order_id")?.is_some();
    Ok(RiskFacts {
        shopper_recent: row.col("shopper")?,
        device_known: row.col("device_known")?,
        returning: row.col("returning_shopper")?,
        order: found.then(|| rows::order::<DB>(&row)).transpose()?,
    })
}

/// Consents across the merchant since `since`, up to `RiskStats::COUNT_CAP`.
pub(super) async fn merchant_consents<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    since: DateTime<Utc>,
) -> Result<i64> {
    let row = sqlx::query::<DB>(MERCHANT_CONSENTS)
        .arg(merchant.as_str())
        .arg(since)
        .arg(RiskStats::COUNT_CAP)
        .fetch_one(ex)
        .await?;
    Ok(row.col("n")?)
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
