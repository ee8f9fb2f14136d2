//! A settlement notification applied in one statement, from the submission it names: the
//! session is found by the outbox row's key and amount rather than read first. The statement
//! applies only when the session is `submitted` with that submission and the inbox lacks the
//! event; otherwise it writes nothing and says whether the inbox had the event.

use std::sync::LazyLock;

use sqlx::Row;
use sqlx::postgres::{PgPool, Postgres};
use sqlx::types::Json;

use super::db::Bind;
use super::pg_writes::{announce, others};
use super::sessions::columns;
use super::{Direct, DirectSettlement, Result, StoreError, inbox, rows, unique_as_duplicate};
use crate::chain::Link;
use crate::domain::SessionState;

/// Parameters: $1 session, $2 merchant, $3 key, $4 amount (minor units), $5 currency,
/// $6 state to, $7 reason, $8 time, $9 frame count, $10–$12 the event, $13 and $14 the
/// frames in English and Chinese, $15 whether a refund settled, $16 the announcing store,
/// $17–$24 the inbox row, $25 and $26 the event's canonical text before and after its seq
/// (`chain::Halves`): the statement learns the seq as it writes, and chains the event's
/// hash to the session's head there.
static SETTLE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH seen AS (SELECT 1 FROM webhook_inbox WHERE merchant_id = $17 AND event_id = $18), \
         target AS (SELECT s.id AS target_id, s.version AS target_version, \
           s.draft ->> 'lang' AS lang, sub.action AS action \
           FROM sessions s JOIN submissions sub ON sub.session_id = s.id \
           WHERE s.id = $1 AND s.merchant_id = $2 AND s.state = 'submitted' \
           AND sub.idempotency_key = $3 AND sub.amount_minor = $4 AND sub.currency = $5 \
           AND NOT EXISTS (SELECT 1 FROM seen)), \
         moved AS (UPDATE sessions SET state = $6, reason = $7, version = version + 1, \
           updated_at = $8, frame_seq = frame_seq + $9, \
           event_hash = encode(sha256(decode(event_hash, 'hex') \
             || convert_to($25::text || (version + 1)::text || $26::text, 'UTF8')), 'hex') \
           FROM target WHERE id = target_id AND version = target_version \
           RETURNING {cols}, lang, action), \
         event AS (INSERT INTO session_events \
           (session_id, seq, from_state, to_state, kind, actor, payload, at, hash) \
           SELECT $1, version, 'submitted', $6, $10, $11, $12, $8, event_hash FROM moved), \
         framed AS (INSERT INTO session_frames (session_id, seq, frame, at) \
           SELECT $1, moved.frame_seq - $9 + f.n, f.frame, $8 FROM moved, \
           jsonb_array_elements(CASE WHEN moved.lang = 'zh' THEN $14::jsonb ELSE $13::jsonb END) \
           WITH ORDINALITY AS f(frame, n)), \
         announced AS ({announce} FROM moved WHERE {others}), \
         held AS (UPDATE orders SET reserved_minor = reserved_minor - $4, \
           refunded_minor = refunded_minor + CASE WHEN $15 THEN $4 ELSE 0 END \
           FROM moved WHERE orders.merchant_id = $2 \
           AND moved.action ->> 'kind' = 'refund' \
           AND orders.order_id = moved.action ->> 'order_id' \
           AND orders.reserved_minor >= $4 RETURNING 1), \
         finished AS (UPDATE submissions SET state = 'done', locked_until = NULL, \
           updated_at = $8 WHERE session_id = $1 AND EXISTS (SELECT 1 FROM moved)), \
         inboxed AS (INSERT INTO webhook_inbox (merchant_id, event_id, session_id, kind, \
           idempotency_key, outcome, payload, received_at) \
           SELECT $17, $18, $19, $20, $21, $22, $23, $24 FROM moved) \
         SELECT {cols}, EXISTS (SELECT 1 FROM seen) AS seen, \
           (SELECT count(*) FROM held) AS held, (SELECT count(*) FROM announced) AS announced \
         FROM (SELECT 1 AS one) AS one LEFT JOIN moved ON true",
        cols = columns!(),
        announce = announce("$9", "$16"),
        others = others("$16"),
    )
});

pub(super) async fn direct(
    pool: &PgPool,
    origin: &str,
    s: &DirectSettlement<'_>,
) -> Result<Direct> {
    let q = sqlx::query::<Postgres>(&SETTLE)
        .arg(s.session_id.to_string())
        .arg(s.entry.merchant_id.as_str())
        .arg(s.idempotency_key)
        .arg(s.amount.minor())
        .arg(s.amount.currency().code())
        .arg(s.to.as_str())
        .arg(s.reason.map(|r| r.as_str()))
        .arg(s.at)
        .arg(s.frames[0].len() as i64)
        .arg(s.event.kind.as_str())
        .arg(s.event.actor.as_str())
        .arg(Json(&s.event.payload))
        .arg(Json(s.frames[0]))
        .arg(Json(s.frames[1]))
        .arg(s.settled)
        .arg(origin);
    let halves = Link {
        session_id: s.session_id,
        seq: 0,
        from: Some(SessionState::Submitted.as_str()),
        to: s.to.as_str(),
        kind: s.event.kind.as_str(),
        actor: s.event.actor.as_str(),
        payload: &s.event.payload,
        at: s.at,
    }
    .halves();
    let q = inbox::bind(q, s.entry)
        .arg(halves.prefix)
        .arg(halves.suffix);
    let row = match q.fetch_one(pool).await {
        Ok(row) => row,
        // The same event, stored by a copy that arrived at the same moment.
        Err(e) => match unique_as_duplicate(e) {
            StoreError::Duplicate => return Ok(Direct::Seen),
            e => return Err(e),
        },
    };
    if row.try_get::<bool, _>("seen")? {
        return Ok(Direct::Seen);
    }
    if row.try_get::<Option<String>, _>("id")?.is_none() {
        return Ok(Direct::Undecided);
    }
    if row.try_get::<i64, _>("held")? == 0 {
        tracing::debug!(session_id = %s.session_id, "no order hold to settle: a transfer, or a mismatch logged by the order");
    }
    Ok(Direct::Applied(Box::new(rows::session::<Postgres>(&row)?)))
}
