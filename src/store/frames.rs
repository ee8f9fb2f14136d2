//! The frames a session's sockets were sent, numbered per session, for `resume`. (On
//! Postgres, `pg_writes` stores them within the transition's statement and announces them
//! to other instances sharing the database.)

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{Executor, Transaction};

use super::db::{Bind, Columns, Db};
use super::{Result, SessionId, StoreError, StoredFrame, rows};

/// Reserves seqs for `$2` frames; returns the last.
const NUMBER: &str =
    "UPDATE sessions SET frame_seq = frame_seq + $2 WHERE id = $1 RETURNING frame_seq";
const AFTER: &str = "SELECT seq, frame FROM session_frames WHERE session_id = $1 AND seq > $2 \
     ORDER BY seq LIMIT $3";
const LATEST: &str = "SELECT seq, frame FROM session_frames \
     WHERE session_id = $1 AND frame ->> 'type' = $2 ORDER BY seq DESC LIMIT 1";

/// Numbers `frames` after the session's last frame and stores them; returns the last seq.
pub(super) async fn append<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    id: SessionId,
    frames: &[Value],
    at: DateTime<Utc>,
) -> Result<i64> {
    let count = frames.len() as i64;
    let row = sqlx::query::<DB>(NUMBER)
        .arg(id.to_string())
        .arg(count)
        .fetch_optional(DB::conn(tx))
        .await?
        .ok_or(StoreError::NotFound)?;
    let last: i64 = row.col("frame_seq")?;
    store(tx, id, last - count + 1, frames, at).await?;
    Ok(last)
}

/// Stores `frames` numbered from `first`, in one statement: a turn often writes several.
pub(super) async fn store<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    id: SessionId,
    first: i64,
    frames: &[Value],
    at: DateTime<Utc>,
) -> Result<()> {
    if frames.is_empty() {
        return Ok(());
    }
    // $1 is the session, $2 the time; each frame adds its seq and itself.
    let rows: Vec<String> = (0..frames.len())
        .map(|i| format!("($1, ${}, ${}, $2)", 3 + 2 * i, 4 + 2 * i))
        .collect();
    let sql = format!(
        "INSERT INTO session_frames (session_id, seq, frame, at) VALUES {}",
        rows.join(", ")
    );
    let mut query = sqlx::query::<DB>(&sql).arg(id.to_string()).arg(at);
    for (seq, frame) in (first..).zip(frames) {
        query = query.arg(seq).arg(Json(frame));
    }
    query.execute(DB::conn(tx)).await?;
    Ok(())
}

/// Stored frames with a seq above `after`, oldest first.
pub(super) async fn after<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredFrame>> {
    let rows = sqlx::query::<DB>(AFTER)
        .arg(id.to_string())
        .arg(after)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::frame::<DB>).collect()
}

/// The newest stored frame whose `type` is `kind`.
pub(super) async fn latest<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
    kind: &str,
) -> Result<Option<StoredFrame>> {
    let row = sqlx::query::<DB>(LATEST)
        .arg(id.to_string())
        .arg(kind)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::frame::<DB>).transpose()
}
