//! The service's evidence signing keys: the newest signs, all are published.

use sqlx::Executor;

use super::db::{Bind, Columns, Db};
use super::{EvidenceKey, Result, unique_as_duplicate};

const INSERT: &str = "INSERT INTO evidence_keys (kid, public_key, private_sealed, created_at) \
     VALUES ($1, $2, $3, $4)";
const ALL: &str = "SELECT kid, public_key, private_sealed, created_at FROM evidence_keys \
     ORDER BY created_at DESC, kid DESC";

pub(super) async fn insert<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    k: &EvidenceKey,
) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(&k.kid)
        .arg(&k.public_key)
        .arg(&k.private_sealed)
        .arg(k.created_at)
        .execute(ex)
        .await
        .map_err(unique_as_duplicate)?;
    Ok(())
}

/// Every key, newest first.
pub(super) async fn all<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
) -> Result<Vec<EvidenceKey>> {
    let rows = sqlx::query::<DB>(ALL).fetch_all(ex).await?;
    rows.iter()
        .map(|r| {
            Ok(EvidenceKey {
                kid: r.col("kid")?,
                public_key: r.col("public_key")?,
                private_sealed: r.col("private_sealed")?,
                created_at: r.col("created_at")?,
            })
        })
        .collect()
}
