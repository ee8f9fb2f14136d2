//! Merchants: created once, read by id or by the hash of their API key.

use sqlx::Executor;
use sqlx::types::Json;

use super::db::{Bind, Columns, Db};
use super::{KeyRotation, Merchant, Result, rows, unique_as_duplicate};
use crate::domain::MerchantId;

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "id, api_key_hash, api_secret_sealed, webhook_secret_sealed, signing_kid, policy, \
         created_at, previous_kid, previous_kid_retires_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO merchants (",
    columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
);
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM merchants WHERE id = $1");
const BY_KEY_HASH: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM merchants WHERE api_key_hash = $1"
);
/// Moves the signing kid on, if it is still `$4`.
const ROTATE: &str = "UPDATE merchants SET previous_kid = signing_kid, signing_kid = $2, \
     previous_kid_retires_at = $3 WHERE id = $1 AND signing_kid = $4";
const COUNT: &str = "SELECT COUNT(*) AS n FROM merchants";

pub(super) async fn create<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    m: &Merchant,
) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(m.id.as_str())
        .arg(&m.api_key_hash)
        .arg(&m.api_secret_sealed)
        .arg(&m.webhook_secret_sealed)
        .arg(&m.signing_kid)
        .arg(Json(&m.policy))
        .arg(m.created_at)
        .arg(&m.previous_kid)
        .arg(m.previous_kid_retires_at)
        .execute(ex)
        .await
        .map_err(unique_as_duplicate)?;
    Ok(())
}

pub(super) async fn by_id<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: &MerchantId,
) -> Result<Option<Merchant>> {
    let row = sqlx::query::<DB>(BY_ID)
        .arg(id.as_str())
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::merchant::<DB>).transpose()
}

pub(super) async fn by_key_hash<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    hash: &str,
) -> Result<Option<Merchant>> {
    let row = sqlx::query::<DB>(BY_KEY_HASH)
        .arg(hash)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::merchant::<DB>).transpose()
}

pub(super) async fn count<'c, DB: Db>(ex: impl Executor<'c, Database = DB>) -> Result<i64> {
    let row = sqlx::query::<DB>(COUNT).fetch_one(ex).await?;
    Ok(row.col("n")?)
}

/// Makes `r.kid` the signing kid and `r.previous_kid` the previous one, if the merchant
/// still signs under `r.previous_kid`; `false` when it does not (or is not there).
pub(super) async fn rotate<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    r: &KeyRotation,
) -> Result<bool> {
    let done = sqlx::query::<DB>(ROTATE)
        .arg(r.merchant_id.as_str())
        .arg(&r.kid)
        .arg(r.previous_kid_retires_at)
        .arg(&r.previous_kid)
        .execute(ex)
        .await?;
    Ok(DB::rows_affected(&done) == 1)
}
