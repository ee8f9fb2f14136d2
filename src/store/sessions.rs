//! Sessions and their append-only event log. On SQLite a session moves only through
//! `apply_in`, which writes the whole transition (session row, event, frames, outbox row,
//! order accounting) in the caller's transaction; Postgres writes the same in one statement
//! (`pg_writes`).

use chrono::{DateTime, Utc};
use sqlx::types::Json;
use sqlx::{Executor, Transaction};

use super::db::{Bind, Columns, Db, Q};
use super::{
    Commit, EventRecord, NewEvent, NewSession, Result, Session, StoreError, audit, frames, orders,
    outbox, rows, unique_as_duplicate,
};
use crate::chain::{self, Link};
use crate::domain::{EventKind, MerchantId, SessionId, SessionState};

/// The columns a record is read from; a macro, so that `concat!` can build whole
/// statements with it.
macro_rules! columns {
    () => {
        "id, merchant_id, user_id, channel, device, client_token_hash, state, mode, reason, \
         proposed_action, confirmation_hash, confirmation_expires_at, clarifications, draft, \
         frame_seq, version, event_hash, created_at, updated_at"
    };
}
pub(super) use columns;

/// The session's move from version `$2`, without `RETURNING`: it sets the fields
/// `bind_change` binds ($3–$13), bumps the version, numbers the frames and sets the event
/// chain's head to the parameter `$hash` names. A macro, so that `concat!` can build whole
/// statements with it.
macro_rules! move_session {
    ($hash:literal) => {
        concat!(
            "UPDATE sessions SET state = $3, mode = $4, reason = $5, proposed_action = $6, \
             confirmation_hash = $7, confirmation_expires_at = $8, clarifications = $9, \
             draft = $11, version = version + 1, updated_at = $10, \
             consented_at = CASE WHEN $12 THEN $10 ELSE consented_at END, \
             frame_seq = frame_seq + $13, event_hash = ",
            $hash,
            " WHERE id = $1 AND version = $2"
        )
    };
}
pub(super) use move_session;

/// A new session: collecting, at version 1, with its first draft and first frames, and the
/// hash of its `opened` event as the chain's head ($11).
pub(super) const INSERT: &str = "INSERT INTO sessions (id, merchant_id, user_id, channel, \
     mode, state, clarifications, draft, frame_seq, device, client_token_hash, version, \
     created_at, updated_at, event_hash) \
     VALUES ($1, $2, $3, $4, $4, $5, 0, $9, $10, $6, $7, 1, $8, $8, $11)";
const BY_ID: &str = concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1");
/// One statement moves the session, bumps its version and numbers its frames; the row lock
/// it takes orders concurrent writers. `consented_at` is set by the consent itself.
const MOVE: &str = concat!(move_session!("$14"), " RETURNING ", columns!());
const IN_STATE: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM sessions WHERE merchant_id = $1 AND state = $2 ORDER BY updated_at LIMIT $3"
);
const EXPIRING: &str = "SELECT id FROM sessions WHERE state = 'awaiting_confirmation' \
     AND confirmation_expires_at <= $1 ORDER BY confirmation_expires_at LIMIT $2";
const STALLED: &str =
    "SELECT id FROM sessions WHERE state = $1 AND updated_at < $2 ORDER BY updated_at LIMIT $3";

const INSERT_EVENT: &str = "INSERT INTO session_events \
     (session_id, seq, from_state, to_state, kind, actor, payload, at, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
/// The event of the transition from version `$2`: its `from_state` is the state the
/// previous event led to (an event's seq is the version it made).
const INSERT_TRANSITION: &str = "INSERT INTO session_events \
     (session_id, seq, from_state, to_state, kind, actor, payload, at, hash) \
     SELECT $1, $2 + 1, to_state, $3, $4, $5, $6, $7, $8 FROM session_events \
     WHERE session_id = $1 AND seq = $2";
const EVENTS: &str = "SELECT session_id, seq, from_state, to_state, kind, actor, payload, at, \
     hash FROM session_events WHERE session_id = $1 ORDER BY seq";
const IDS_AFTER: &str = "SELECT id FROM sessions WHERE id > $1 ORDER BY id LIMIT $2";

/// Binds `INSERT`'s parameters.
pub(super) fn bind_new<'q, DB: Db>(q: Q<'q, DB>, s: &'q NewSession) -> Q<'q, DB> {
    q.arg(s.id.to_string())
        .arg(s.merchant_id.as_str())
        .arg(s.user_id.as_str())
        .arg(s.channel.as_str())
        .arg(SessionState::Collecting.as_str())
        .arg(&s.device)
        .arg(&s.client_token_hash)
        .arg(s.created_at)
        .arg(Json(&s.draft))
        .arg(s.frames.len() as i64)
}

/// Creates the session with its `opened` event as seq 1 and its first frames.
pub(super) async fn create<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    s: &NewSession,
    opened: &NewEvent,
) -> Result<Session> {
    let initial = SessionState::Collecting;
    let hash = opening_hash(s, opened);
    bind_new(sqlx::query::<DB>(INSERT), s)
        .arg(&hash)
        .execute(DB::conn(tx))
        .await
        .map_err(unique_as_duplicate)?;
    frames::store(tx, s.id, 1, &s.frames, s.created_at).await?;
    sqlx::query::<DB>(INSERT_EVENT)
        .arg(s.id.to_string())
        .arg(1_i64)
        .arg(None::<&str>)
        .arg(initial.as_str())
        .arg(opened.kind.as_str())
        .arg(opened.actor.as_str())
        .arg(Json(&opened.payload))
        .arg(s.created_at)
        .arg(&hash)
        .execute(DB::conn(tx))
        .await?;
    by_id(DB::conn(tx), s.id).await?.ok_or(StoreError::NotFound)
}

pub(super) async fn by_id<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
) -> Result<Option<Session>> {
    let row = sqlx::query::<DB>(BY_ID)
        .arg(id.to_string())
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(rows::session::<DB>).transpose()
}

/// Writes `commit` if the session is still at `expected`: `Conflict` if it moved on,
/// `NotFound` if there is no such session.
pub(super) async fn apply_in<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    id: SessionId,
    expected: i64,
    commit: &Commit,
) -> Result<Session> {
    let c = &commit.change;
    let hash = transition_hash(id, expected, commit);
    let moved = sqlx::query::<DB>(MOVE).arg(id.to_string()).arg(expected);
    let updated = bind_change(moved, commit)
        .arg(&hash)
        .fetch_optional(DB::conn(tx))
        .await?;
    let Some(row) = updated else {
        return Err(match by_id(DB::conn(tx), id).await? {
            Some(_) => StoreError::Conflict,
            None => StoreError::NotFound,
        });
    };
    let session = rows::session::<DB>(&row)?;
    let event = Appended {
        from_version: expected,
        to: c.state,
        event: &commit.event,
        at: c.at,
        hash: hash.as_deref(),
    };
    insert_transition(tx, id, &event).await?;
    let first = session.frame_seq - commit.frames.len() as i64 + 1;
    frames::store(tx, id, first, &commit.frames, c.at).await?;
    if let Some(sub) = &commit.submission {
        outbox::insert(tx, sub).await?;
    }
    if let Some(effect) = &commit.order {
        orders::apply_effect(tx, effect).await?;
    }
    if commit.finish_submission {
        outbox::finish(tx, id, c.at).await?;
    }
    for call in &commit.model_calls {
        audit::record(DB::conn(tx), call).await?;
    }
    Ok(session)
}

/// Binds the session's fields of `commit`, $3–$13 of `move_session!`.
pub(super) fn bind_change<'q, DB: Db>(q: Q<'q, DB>, commit: &'q Commit) -> Q<'q, DB> {
    let c = &commit.change;
    q.arg(c.state.as_str())
        .arg(c.mode.as_str())
        .arg(c.reason.map(|r| r.as_str()))
        .arg(c.proposed_action.as_ref().map(Json))
        .arg(&c.confirmation_hash)
        .arg(c.confirmation_expires_at)
        .arg(c.clarifications)
        .arg(c.at)
        .arg(Json(&c.draft))
        .arg(commit.event.kind == EventKind::Confirmed)
        .arg(commit.frames.len() as i64)
}

/// The event of a transition, as `insert_transition` appends it.
struct Appended<'a> {
    from_version: i64,
    to: SessionState,
    event: &'a NewEvent,
    at: DateTime<Utc>,
    hash: Option<&'a str>,
}

async fn insert_transition<DB: Db>(
    tx: &mut Transaction<'_, DB>,
    id: SessionId,
    a: &Appended<'_>,
) -> Result<()> {
    let done = sqlx::query::<DB>(INSERT_TRANSITION)
        .arg(id.to_string())
        .arg(a.from_version)
        .arg(a.to.as_str())
        .arg(a.event.kind.as_str())
        .arg(a.event.actor.as_str())
        .arg(Json(&a.event.payload))
        .arg(a.at)
        .arg(a.hash)
        .execute(DB::conn(tx))
        .await?;
    match DB::rows_affected(&done) {
        1 => Ok(()),
        _ => Err(StoreError::Corrupt(format!(
            "{id} has no event {}",
            a.from_version
        ))),
    }
}

/// The hash of a new session's `opened` event (seq 1), chained to `chain::GENESIS`.
pub(super) fn opening_hash(s: &NewSession, opened: &NewEvent) -> String {
    let link = Link {
        session_id: s.id,
        seq: 1,
        from: None,
        to: SessionState::Collecting.as_str(),
        kind: opened.kind.as_str(),
        actor: opened.actor.as_str(),
        payload: &opened.payload,
        at: s.created_at,
    };
    link.hash(chain::GENESIS).expect("the genesis is a hash")
}

/// The hash of `commit`'s event, the move from version `expected`, chained to the head the
/// session had then; `None` for a session stored before events were chained.
pub(super) fn transition_hash(id: SessionId, expected: i64, commit: &Commit) -> Option<String> {
    let c = &commit.change;
    let link = Link {
        session_id: id,
        seq: expected + 1,
        from: Some(c.prior.state.as_str()),
        to: c.state.as_str(),
        kind: commit.event.kind.as_str(),
        actor: commit.event.actor.as_str(),
        payload: &commit.event.payload,
        at: c.at,
    };
    link.hash(c.prior.hash.as_deref()?)
}

/// Up to `limit` session ids after `after` (all of them from `""`), in id order.
pub(super) async fn ids_after<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    after: &str,
    limit: i64,
) -> Result<Vec<SessionId>> {
    let rows = sqlx::query::<DB>(IDS_AFTER)
        .arg(after)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| rows::session_id(&r.col::<String>("id")?))
        .collect()
}

pub(super) async fn events<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
) -> Result<Vec<EventRecord>> {
    let rows = sqlx::query::<DB>(EVENTS)
        .arg(id.to_string())
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::event::<DB>).collect()
}

/// Sessions whose confirmation expired by `now`.
pub(super) async fn expiring<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<SessionId>> {
    let rows = sqlx::query::<DB>(EXPIRING)
        .arg(now)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| rows::session_id(&r.col::<String>("id")?))
        .collect()
}

/// Sessions in `state` unchanged since `before`.
pub(super) async fn stalled<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    state: SessionState,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<SessionId>> {
    let rows = sqlx::query::<DB>(STALLED)
        .arg(state.as_str())
        .arg(before)
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter()
        .map(|r| rows::session_id(&r.col::<String>("id")?))
        .collect()
}

/// A merchant's sessions in `state`, least recently changed first.
pub(super) async fn in_state<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    merchant: &MerchantId,
    state: SessionState,
    limit: i64,
) -> Result<Vec<Session>> {
    let rows = sqlx::query::<DB>(IN_STATE)
        .arg(merchant.as_str())
        .arg(state.as_str())
        .arg(limit)
        .fetch_all(ex)
        .await?;
    rows.iter().map(rows::session::<DB>).collect()
}
