//! The shoppers' contacts: who a transfer may go to.

use sqlx::types::Json;
use sqlx::{Executor, Transaction};

use super::db::{Bind, Db, Q, Upsert};
use super::{Contact, Result, rows};
use crate::domain::{ContactId, MerchantId, UserId};

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "merchant_id, contact_id, user_id, name, aliases, verified, alipay_payee, created_at, \
         updated_at"
    };
}

/// A replaced contact keeps the `created_at` of when it was first added.
const PUT: Upsert = Upsert {
    insert: "INSERT INTO contacts (merchant_id, contact_id, user_id, name, aliases, verified, \
             updated_at, alipay_payee, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (merchant_id, contact_id)",
    update: "DO UPDATE SET user_id = excluded.user_id, name = excluded.name, \
             aliases = excluded.aliases, verified = excluded.verified, \
             updated_at = excluded.updated_at, alipay_payee = excluded.alipay_payee",
};
const BY_ID: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM contacts WHERE merchant_id = $1 AND contact_id = $2"
);
const FOR_USER: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM contacts WHERE merchant_id = $1 AND user_id = $2 ORDER BY contact_id"
);

fn bind_put<'q, DB: Db>(q: Q<'q, DB>, c: &'q Contact) -> Q<'q, DB> {
    q.arg(c.merchant_id.as_str())
        .arg(c.contact_id.as_str())
        .arg(c.user_id.as_str())
        .arg(&c.name)
        .arg(Json(&c.aliases))
        .arg(c.verified)
        .arg(c.updated_at)
        .arg(c.alipay.as_ref().map(Json))
        .arg(c.created_at)
}

/// Inserts or replaces a contact; `true` when it was new.
pub(super) async fn put<DB: Db>(tx: &mut Transaction<'_, DB>, c: &Contact) -> Result<bool> {
    Ok(DB::upsert(tx, &PUT, c, bind_put::<DB>).await?)
}

pub(super) async fn by_id<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    id: &ContactId,
) -> Result<Option<Contact>> {
    let row = sqlx::query::<DB>(BY_ID)
        .arg(merchant.as_str())
        .arg(id.as_str())
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::contact::<DB>).transpose()
}

pub(super) async fn for_user<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    user: &UserId,
) -> Result<Vec<Contact>> {
    let rows = sqlx::query::<DB>(FOR_USER)
        .arg(merchant.as_str())
        .arg(user.as_str())
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::contact::<DB>).collect()
}
