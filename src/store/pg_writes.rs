//! Postgres writes a session's transition as one statement: a data-modifying CTE that moves
//! the session (version-guarded), appends its event, stores and announces its frames, and,
//! when the transition brings them, writes the outbox row, the order's accounting, the
//! submission's end and the webhook's inbox row. One round trip, one implicit transaction,
//! no `BEGIN`/`COMMIT`. A guard that fails leaves the statement without a row, and the
//! cause is read afterwards (the rare path).

use std::sync::LazyLock;

use sqlx::postgres::{PgPool, Postgres};
use sqlx::types::Json;

use super::db::{Bind, Q};
use super::sessions::{columns, move_session};
use super::{
    Commit, FRAMES_CHANNEL, InboxEntry, NewEvent, NewSession, OrderEffect, Result, Session,
    StoreError, audit, inbox, rows, sessions, unique_as_duplicate,
};
use crate::domain::SessionId;

/// Parameters: $1 session, $2 expected version, $3–$13 the change (`sessions::bind_change`),
/// $14–$16 the event, $17 the frames as a JSON array, $18 the announcing store, $19–$24 the
/// outbox row, $25–$28 the order effect, $29 whether the submission ends, $30 the model
/// calls, $31 the outbox row's lease, $32 the event's hash (the chain's new head); with an
/// inbox row, $33–$40.
fn transition_sql(inbox: bool) -> String {
    let (inbox_guard, inbox_insert) = if inbox {
        (
            " AND NOT EXISTS (SELECT 1 FROM webhook_inbox \
             WHERE merchant_id = $33 AND event_id = $34)",
            ", inboxed AS (INSERT INTO webhook_inbox (merchant_id, event_id, session_id, kind, \
             idempotency_key, outcome, payload, received_at) \
             SELECT $33, $34, $35, $36, $37, $38, $39, $40 FROM moved)",
        )
    } else {
        ("", "")
    };
    format!(
        "WITH moved AS ({move_session} \
         AND EXISTS (SELECT 1 FROM session_events WHERE session_id = $1 AND seq = $2) \
         AND ($25::text IS DISTINCT FROM 'reserve' OR EXISTS (SELECT 1 FROM orders \
           WHERE merchant_id = $26 AND order_id = $27 \
           AND refunded_minor + reserved_minor + $28 <= amount_minor)){inbox_guard} \
         RETURNING {cols}), \
         event AS (INSERT INTO session_events \
         (session_id, seq, from_state, to_state, kind, actor, payload, at, hash) \
         SELECT $1, $2 + 1, e.to_state, $3, $14, $15, $16, $10, $32 \
         FROM moved, session_events e WHERE e.session_id = $1 AND e.seq = $2), \
         framed AS (INSERT INTO session_frames (session_id, seq, frame, at) \
         SELECT $1, moved.frame_seq - $13 + f.n, f.frame, $10 \
         FROM moved, jsonb_array_elements($17) WITH ORDINALITY AS f(frame, n)), \
         announced AS ({announce} FROM moved WHERE $13 > 0 AND {others}), \
         submitted AS (INSERT INTO submissions (idempotency_key, session_id, merchant_id, \
         provider, action, currency, amount_minor, state, attempts, next_attempt_at, \
         locked_until, created_at, updated_at) SELECT $19, $1, $20, $21, $22, $23, $24, \
         'pending', CASE WHEN $31::timestamptz IS NULL THEN 0 ELSE 1 END, $10, $31, $10, $10 \
         FROM moved WHERE $19::text IS NOT NULL), \
         held AS (UPDATE orders SET reserved_minor = reserved_minor + \
         CASE WHEN $25 = 'reserve' THEN $28 ELSE -$28 END, \
         refunded_minor = refunded_minor + CASE WHEN $25 = 'settle' THEN $28 ELSE 0 END \
         WHERE merchant_id = $26 AND order_id = $27 AND EXISTS (SELECT 1 FROM moved) \
         AND ($25 = 'reserve' OR reserved_minor >= $28) RETURNING 1), \
         finished AS (UPDATE submissions SET state = 'done', locked_until = NULL, \
         updated_at = $10 WHERE session_id = $1 AND $29 AND EXISTS (SELECT 1 FROM moved)), \
         {audited}{inbox_insert} \
         SELECT {cols}, (SELECT count(*) FROM held) AS held, \
         (SELECT count(*) FROM announced) AS announced FROM moved",
        move_session = move_session!("$32"),
        cols = columns!(),
        audited = audit::PG_WITH_TRANSITION,
        announce = announce("$13", "$18"),
        others = others("$18"),
    )
}

static TRANSITION: LazyLock<String> = LazyLock::new(|| transition_sql(false));
static TRANSITION_WITH_INBOX: LazyLock<String> = LazyLock::new(|| transition_sql(true));

/// A new session (`sessions::INSERT`, $1–$11, the last the `opened` event's hash), that
/// event as seq 1 ($12–$14) and its first frames ($15). Nobody can be listening yet:
/// nothing is announced.
static OPEN: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH opened AS ({insert} RETURNING {cols}), \
         event AS (INSERT INTO session_events \
         (session_id, seq, from_state, to_state, kind, actor, payload, at, hash) \
         SELECT id, 1, NULL, state, $12, $13, $14, created_at, event_hash FROM opened), \
         framed AS (INSERT INTO session_frames (session_id, seq, frame, at) \
         SELECT id, f.n, f.frame, created_at \
         FROM opened, jsonb_array_elements($15) WITH ORDINALITY AS f(frame, n)) \
         SELECT {cols} FROM opened",
        insert = sessions::INSERT,
        cols = columns!(),
    )
});

/// Frames with no state change: numbered after the session's last, stored and announced.
static APPEND: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH numbered AS (UPDATE sessions SET frame_seq = frame_seq + $2 \
         WHERE id = $1 RETURNING frame_seq), \
         framed AS (INSERT INTO session_frames (session_id, seq, frame, at) \
         SELECT $1, numbered.frame_seq - $2 + f.n, f.frame, $3 \
         FROM numbered, jsonb_array_elements($4) WITH ORDINALITY AS f(frame, n)), \
         announced AS ({announce} FROM numbered WHERE {others}) \
         SELECT frame_seq, (SELECT count(*) FROM announced) AS announced FROM numbered",
        announce = announce("$2", "$5"),
        others = others("$5")
    )
});

/// How long an instance counts as there after its last heartbeat (`PgStore::frame_feed`
/// beats every `HEARTBEAT`).
pub(super) const PRESENCE: std::time::Duration = std::time::Duration::from_secs(15);

/// Announces on `FRAMES_CHANNEL` the last `count` frames of session `$1`, up to the row's
/// `frame_seq`, as coming from `origin` (both parameters): the payload
/// `parse_announcement` reads.
pub(super) fn announce(count: &str, origin: &str) -> String {
    format!(
        "SELECT pg_notify('{FRAMES_CHANNEL}', $1 || ' ' || (frame_seq - {count} + 1) || ' ' \
         || frame_seq || ' ' || {origin})"
    )
}

/// Whether an instance other than `origin` (a parameter) has been seen within `PRESENCE`:
/// only then are frames announced.
pub(super) fn others(origin: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM instances WHERE origin <> {origin} \
         AND seen_at > now() - interval '{} seconds')",
        PRESENCE.as_secs()
    )
}

pub(super) async fn open(pool: &PgPool, s: &NewSession, opened: &NewEvent) -> Result<Session> {
    let row = sessions::bind_new(sqlx::query::<Postgres>(&OPEN), s)
        .arg(sessions::opening_hash(s, opened))
        .arg(opened.kind.as_str())
        .arg(opened.actor.as_str())
        .arg(Json(&opened.payload))
        .arg(Json(&s.frames))
        .fetch_one(pool)
        .await
        .map_err(unique_as_duplicate)?;
    rows::session::<Postgres>(&row)
}

pub(super) async fn append(
    pool: &PgPool,
    origin: &str,
    id: SessionId,
    frames: &[serde_json::Value],
) -> Result<i64> {
    let row = sqlx::query::<Postgres>(&APPEND)
        .arg(id.to_string())
        .arg(frames.len() as i64)
        .arg(crate::clock::now())
        .arg(Json(frames))
        .arg(origin)
        .fetch_optional(pool)
        .await?
        .ok_or(StoreError::NotFound)?;
    Ok(sqlx::Row::try_get(&row, "frame_seq")?)
}

/// Writes `commit` (and `entry`, the inbox row that brings it) if the session is still at
/// `expected`. `None` when the inbox had `entry` already and nothing was written.
pub(super) async fn transition(
    pool: &PgPool,
    origin: &str,
    id: SessionId,
    expected: i64,
    commit: &Commit,
    entry: Option<&InboxEntry>,
) -> Result<Option<Session>> {
    let sql = match entry {
        Some(_) => TRANSITION_WITH_INBOX.as_str(),
        None => TRANSITION.as_str(),
    };
    let mut q = sqlx::query::<Postgres>(sql)
        .arg(id.to_string())
        .arg(expected);
    q = sessions::bind_change(q, commit);
    q = bind_rest(q, commit, origin);
    q = q.arg(sessions::transition_hash(id, expected, commit));
    if let Some(e) = entry {
        q = inbox::bind(q, e);
    }
    let row = match q.fetch_optional(pool).await {
        Ok(row) => row,
        Err(e) if entry.is_some() => return duplicate_entry(statement_error(e)),
        Err(e) => return Err(statement_error(e)),
    };
    match row {
        Some(row) => {
            let held: i64 = sqlx::Row::try_get(&row, "held")?;
            if commit.order.is_some() && held == 0 {
                tracing::warn!(session_id = %id, "order accounting did not match its reservation");
            }
            rows::session::<Postgres>(&row).map(Some)
        }
        None => why_not(pool, id, expected, commit, entry).await,
    }
}

/// The event, frames, announcement, outbox row, order effect, submission end, model calls
/// and the outbox row's lease, $14–$31.
fn bind_rest<'q>(q: Q<'q, Postgres>, commit: &'q Commit, origin: &'q str) -> Q<'q, Postgres> {
    let e = &commit.event;
    let q = q
        .arg(e.kind.as_str())
        .arg(e.actor.as_str())
        .arg(Json(&e.payload))
        .arg(Json(&commit.frames))
        .arg(origin);
    let sub = commit.submission.as_ref();
    let q = q
        .arg(sub.map(|s| s.idempotency_key.as_str()))
        .arg(sub.map(|s| s.merchant_id.as_str()))
        .arg(sub.map(|s| s.provider.as_str()))
        .arg(sub.map(|s| Json(&s.action)))
        .arg(sub.map(|s| s.amount.currency().code()))
        .arg(sub.map(|s| s.amount.minor()));
    let (kind, merchant, order, minor) = match &commit.order {
        Some(OrderEffect::Reserve {
            merchant_id,
            order_id,
            minor,
        }) => (
            Some("reserve"),
            Some(merchant_id),
            Some(order_id),
            Some(*minor),
        ),
        Some(OrderEffect::Settle {
            merchant_id,
            order_id,
            minor,
        }) => (
            Some("settle"),
            Some(merchant_id),
            Some(order_id),
            Some(*minor),
        ),
        Some(OrderEffect::Release {
            merchant_id,
            order_id,
            minor,
        }) => (
            Some("release"),
            Some(merchant_id),
            Some(order_id),
            Some(*minor),
        ),
        None => (None, None, None, None),
    };
    q.arg(kind)
        .arg(merchant.map(|m| m.as_str()))
        .arg(order.map(|o| o.as_str()))
        .arg(minor)
        .arg(commit.finish_submission)
        .arg(Json(&commit.model_calls))
        .arg(sub.and_then(|s| s.leased_until))
}

/// A statement error in domain terms: a key taken is `Duplicate`, an order pushed past its
/// amount (two refunds racing for the same money) is `Insufficient`.
fn statement_error(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        let on_orders = db.constraint().is_some_and(|c| c.starts_with("orders_"));
        if db.is_check_violation() && on_orders {
            return StoreError::Insufficient;
        }
    }
    unique_as_duplicate(e)
}

/// With an inbox row, a duplicate key is the same event arriving twice at once: the other
/// copy wrote it, so this one writes nothing.
fn duplicate_entry(e: StoreError) -> Result<Option<Session>> {
    match e {
        StoreError::Duplicate => Ok(None),
        e => Err(e),
    }
}

/// Why a transition wrote nothing: the event was in the inbox already, the session moved
/// on or is not there, or the order cannot hold the refund.
async fn why_not(
    pool: &PgPool,
    id: SessionId,
    expected: i64,
    commit: &Commit,
    entry: Option<&InboxEntry>,
) -> Result<Option<Session>> {
    if let Some(e) = entry
        && inbox::has(pool, &e.merchant_id, &e.event_id).await?
    {
        return Ok(None);
    }
    match sessions::by_id(pool, id).await? {
        None => Err(StoreError::NotFound),
        Some(s) if s.version != expected => Err(StoreError::Conflict),
        Some(_) if matches!(commit.order, Some(OrderEffect::Reserve { .. })) => {
            Err(StoreError::Insufficient)
        }
        Some(_) => Err(StoreError::Corrupt(format!("{id} has no event {expected}"))),
    }
}
