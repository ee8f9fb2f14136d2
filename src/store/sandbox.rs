//! The built-in sandbox provider's own books: what it accepted and the webhooks it owes.

use chrono::{DateTime, Utc};
use sqlx::Executor;

use super::db::{Bind, Db};
use super::{Result, SandboxPayment, rows};

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "idempotency_key, merchant_id, session_id, reference, currency, amount_minor, \
         succeeds, requests, deliver_at"
    };
}

/// A repeated idempotency key counts the request and returns the payment first recorded.
const ACCEPT: &str = concat!(
    "INSERT INTO sandbox_payments (idempotency_key, merchant_id, session_id, reference, \
     currency, amount_minor, succeeds, requests, deliver_at, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9) \
     ON CONFLICT (idempotency_key) DO UPDATE SET requests = sandbox_payments.requests + 1 \
     RETURNING ",
    columns!()
);
const DUE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM sandbox_payments WHERE delivered_at IS NULL AND deliver_at <= $1 \
     ORDER BY deliver_at LIMIT $2"
);
const DELIVERED: &str = "UPDATE sandbox_payments SET delivered_at = $2 WHERE idempotency_key = $1";
const POSTPONE: &str = "UPDATE sandbox_payments SET deliver_at = $2 WHERE idempotency_key = $1";

pub(super) async fn accept<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    p: &SandboxPayment,
) -> Result<SandboxPayment> {
    let row = sqlx::query::<DB>(ACCEPT)
        .arg(&p.idempotency_key)
        .arg(p.merchant_id.as_str())
        .arg(p.session_id.to_string())
        .arg(&p.reference)
        .arg(p.amount.currency().code())
        .arg(p.amount.minor())
        .arg(p.succeeds)
        .arg(p.deliver_at)
        .arg(crate::clock::now())
        .fetch_one(ex)
        .await?;
    rows::sandbox_payment::<DB>(&row)
}

/// Payments whose webhook is due by `now` and not yet delivered.
pub(super) async fn due<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<SandboxPayment>> {
    let rows = sqlx::query::<DB>(DUE)
        .arg(now)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::sandbox_payment::<DB>).collect()
}

pub(super) async fn delivered<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(DELIVERED)
        .arg(key)
        .arg(at)
        .execute(ex)
        .await?;
    Ok(())
}

pub(super) async fn postpone<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(POSTPONE)
        .arg(key)
        .arg(at)
        .execute(ex)
        .await?;
    Ok(())
}
