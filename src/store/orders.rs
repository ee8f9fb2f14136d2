//! The merchant's orders and the refund accounting on them.
//!
//! An order's `refunded_minor + reserved_minor` never exceeds its `amount_minor` (a CHECK in
//! the schema); a write that would break that is `StoreError::Insufficient`.

use sqlx::{Executor, Transaction};

use super::db::{Bind, Db, Q, Upsert};
use super::{Order, OrderEffect, Result, StoreError, rows};
use crate::domain::{AlipayTradeNo, MerchantId, OrderId, UserId};

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "merchant_id, order_id, user_id, currency, amount_minor, refunded_minor, \
         reserved_minor, description, alipay_trade_no, placed_at, updated_at"
    };
}

/// The merchant's figures replace the order's; the reservation is the service's own and is
/// kept (a new order has none).
const PUT: Upsert = Upsert {
    insert: "INSERT INTO orders (merchant_id, order_id, user_id, currency, amount_minor, \
             refunded_minor, description, placed_at, updated_at, alipay_trade_no) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (merchant_id, order_id)",
    update: "DO UPDATE SET user_id = excluded.user_id, currency = excluded.currency, \
             amount_minor = excluded.amount_minor, refunded_minor = excluded.refunded_minor, \
             description = excluded.description, placed_at = excluded.placed_at, \
             updated_at = excluded.updated_at, alipay_trade_no = excluded.alipay_trade_no",
};
const BY_ID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM orders WHERE merchant_id = $1 AND order_id = $2"
);
const FOR_USER: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM orders WHERE merchant_id = $1 AND user_id = $2 \
     ORDER BY placed_at DESC, order_id DESC LIMIT $3"
);
/// Holds refund money, if the order still has that much.
const RESERVE: &str = "UPDATE orders SET reserved_minor = reserved_minor + $3 \
     WHERE merchant_id = $1 AND order_id = $2 \
     AND refunded_minor + reserved_minor + $3 <= amount_minor";
const SETTLE: &str = "UPDATE orders SET reserved_minor = reserved_minor - $3, \
     refunded_minor = refunded_minor + $3 \
     WHERE merchant_id = $1 AND order_id = $2 AND reserved_minor >= $3";
const RELEASE: &str = "UPDATE orders SET reserved_minor = reserved_minor - $3 \
     WHERE merchant_id = $1 AND order_id = $2 AND reserved_minor >= $3";

/// Maps a CHECK violation on the orders table to `Insufficient`: the write would have
/// refunded or held more than the order's amount.
fn check_as_insufficient(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_check_violation() => StoreError::Insufficient,
        _ => StoreError::Database(e),
    }
}

fn bind_put<'q, DB: Db>(q: Q<'q, DB>, o: &'q Order) -> Q<'q, DB> {
    q.arg(o.merchant_id.as_str())
        .arg(o.order_id.as_str())
        .arg(o.user_id.as_str())
        .arg(o.amount.currency().code())
        .arg(o.amount.minor())
        .arg(o.refunded.minor())
        .arg(&o.description)
        .arg(o.placed_at)
        .arg(o.updated_at)
        .arg(o.alipay_trade_no.as_ref().map(AlipayTradeNo::as_str))
}

/// Inserts or replaces an order; `true` when it was new.
pub(super) async fn put<DB: Db>(tx: &mut Transaction<'_, DB>, o: &Order) -> Result<bool> {
    DB::upsert(tx, &PUT, o, bind_put::<DB>)
        .await
        .map_err(check_as_insufficient)
}

pub(super) async fn by_id<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    id: &OrderId,
) -> Result<Option<Order>> {
    let row = sqlx::query::<DB>(BY_ID)
        .arg(merchant.as_str())
        .arg(id.as_str())
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::order::<DB>).transpose()
}

pub(super) async fn for_user<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    user: &UserId,
    limit: i64,
) -> Result<Vec<Order>> {
    let rows = sqlx::query::<DB>(FOR_USER)
        .arg(merchant.as_str())
        .arg(user.as_str())
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::order::<DB>).collect()
}

/// Moves refund money between refundable, reserved and refunded on an order. A hold the
/// order cannot cover is `Insufficient`; a settlement or release that finds less held than
/// it names is logged and skipped.
pub(super) async fn apply_effect<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    effect: &OrderEffect,
) -> Result<()> {
    let (sql, merchant, order, minor, guarded) = match effect {
        OrderEffect::Reserve {
            merchant_id,
            order_id,
            minor,
        } => (RESERVE, merchant_id, order_id, *minor, true),
        OrderEffect::Settle {
            merchant_id,
            order_id,
            minor,
        } => (SETTLE, merchant_id, order_id, *minor, false),
        OrderEffect::Release {
            merchant_id,
            order_id,
            minor,
        } => (RELEASE, merchant_id, order_id, *minor, false),
    };
    let done = sqlx::query::<DB>(sql)
        .arg(merchant.as_str())
        .arg(order.as_str())
        .arg(minor)
        .execute(DB::conn(tx))
        .await
        .map_err(check_as_insufficient)?;
    match DB::rows_affected(&done) {
        1 => Ok(()),
        _ if guarded => Err(StoreError::Insufficient),
        _ => {
            tracing::warn!(order_id = %order, "order accounting did not match its reservation");
            Ok(())
        }
    }
}
