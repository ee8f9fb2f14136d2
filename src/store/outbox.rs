//! The outbox: at most one money movement per session, written with the session's move to
//! `submitted` and leased to one dispatcher at a time until the provider has it.

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, Transaction};

use super::db::{Bind, Db};
use super::{NewSubmission, Result, SessionId, Submission, SubmissionState, rows};
use crate::domain::MerchantId;

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "idempotency_key, session_id, merchant_id, provider, action, currency, amount_minor, \
         state, attempts, next_attempt_at, provider_reference, last_error, created_at, \
         updated_at"
    };
}

/// A row written leased (`$9`) counts its first attempt.
const INSERT: &str = "INSERT INTO submissions (idempotency_key, session_id, merchant_id, \
     provider, action, currency, amount_minor, state, attempts, next_attempt_at, \
     locked_until, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', \
     CASE WHEN $9 IS NULL THEN 0 ELSE 1 END, $8, $9, $8, $8)";
const FINISH: &str = "UPDATE submissions SET state = 'done', locked_until = NULL, \
     updated_at = $2 WHERE session_id = $1";
/// Leases due rows until `$2` and counts the attempt; completed with the backend's
/// `SKIP_LOCKED` and `RETURNING` the columns. The session is read again in the same
/// statement: only a row whose session is `submitted` is handed on, so nothing is sent for
/// a session that ended otherwise (a withdrawal can only win before the row exists).
const CLAIM: &str = "UPDATE submissions SET locked_until = $2, attempts = attempts + 1, \
     updated_at = $1 WHERE idempotency_key IN (SELECT idempotency_key FROM submissions \
     WHERE state = 'pending' AND next_attempt_at <= $1 \
     AND (locked_until IS NULL OR locked_until <= $1) \
     AND EXISTS (SELECT 1 FROM sessions WHERE sessions.id = submissions.session_id \
     AND sessions.state = 'submitted') ORDER BY next_attempt_at LIMIT $3";
const SENT: &str = "UPDATE submissions SET state = 'sent', provider_reference = $2, \
     locked_until = NULL, last_error = NULL, updated_at = $3 \
     WHERE idempotency_key = $1 AND state = 'pending'";
const RETRY: &str = "UPDATE submissions SET next_attempt_at = $2, last_error = $3, \
     locked_until = NULL, updated_at = $4 WHERE idempotency_key = $1 AND state = 'pending'";
const DEAD: &str = "UPDATE submissions SET state = 'dead', last_error = $2, \
     locked_until = NULL, updated_at = $3 WHERE idempotency_key = $1 AND state = 'pending'";
const FOR_SESSION: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM submissions WHERE session_id = $1"
);
const BY_KEY: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM submissions WHERE idempotency_key = $1"
);
const IN_STATE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM submissions WHERE merchant_id = $1 AND state = $2 ORDER BY updated_at LIMIT $3"
);

/// Writes the outbox row; a session that has one already is `Duplicate`.
pub(super) async fn insert<DB: Db>(tx: &mut Transaction<'_, DB>, s: &NewSubmission) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(&s.idempotency_key)
        .arg(s.session_id.to_string())
        .arg(s.merchant_id.as_str())
        .arg(&s.provider)
        .arg(Json(&s.action))
        .arg(s.amount.currency().code())
        .arg(s.amount.minor())
        .arg(s.at)
        .arg(s.leased_until)
        .execute(DB::conn(tx))
        .await
        .map_err(super::unique_as_duplicate)?;
    Ok(())
}

/// The session's submission is finished: settled or failed by the provider.
pub(super) async fn finish<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    id: SessionId,
    at: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(FINISH)
        .arg(id.to_string())
        .arg(at)
        .execute(DB::conn(tx))
        .await?;
    Ok(())
}

/// Leases up to `limit` due rows until `lease_until`, in one statement.
pub(super) async fn claim<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Submission>> {
    let sql = format!("{CLAIM}{}) RETURNING {}", DB::SKIP_LOCKED, columns!());
    let rows = sqlx::query::<DB>(&sql)
        .arg(now)
        .arg(lease_until)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::submission::<DB>).collect()
}

/// The provider accepted it.
pub(super) async fn sent<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
    reference: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(SENT)
        .arg(key)
        .arg(reference)
        .arg(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// The attempt failed; try again at `next_at`.
pub(super) async fn retry<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
    next_at: DateTime<Utc>,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(RETRY)
        .arg(key)
        .arg(next_at)
        .arg(error)
        .arg(now)
        .execute(ex)
        .await?;
    Ok(())
}

/// No more attempts.
pub(super) async fn dead<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
    error: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query::<DB>(DEAD)
        .arg(key)
        .arg(error)
        .arg(now)
        .execute(ex)
        .await?;
    Ok(())
}

pub(super) async fn for_session<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
) -> Result<Option<Submission>> {
    let row = sqlx::query::<DB>(FOR_SESSION)
        .arg(id.to_string())
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::submission::<DB>).transpose()
}

pub(super) async fn by_key<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    key: &str,
) -> Result<Option<Submission>> {
    let row = sqlx::query::<DB>(BY_KEY)
        .arg(key)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::submission::<DB>).transpose()
}

/// A merchant's submissions in `state`, least recently changed first.
pub(super) async fn in_state<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    state: SubmissionState,
    limit: i64,
) -> Result<Vec<Submission>> {
    let rows = sqlx::query::<DB>(IN_STATE)
        .arg(merchant.as_str())
        .arg(state.as_str())
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::submission::<DB>).collect()
}
