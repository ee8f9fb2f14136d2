//! What the store says after a chaos run. The sandbox provider keeps its books in the
//! shared database (`sandbox_payments`, one row per idempotency key, with a count of the
//! requests that carried it), so what it accepted is counted there, whichever instance's
//! dispatcher asked; the outbox (`submissions`), the inbox (`webhook_inbox`) and the
//! session's events say the rest.

use std::time::{Duration, Instant};

use anyhow::Result;
use sqlx::PgPool;

use countersign::domain::SessionState;

/// The terminal states, as SQL.
const ENDS: &str = "('settled', 'failed', 'declined', 'cancelled', 'expired')";
/// How often the drain looks again.
const POLL: Duration = Duration::from_millis(200);

/// The merchant's sessions, as the store left them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Audit {
    pub sessions: usize,
    /// Settled, with one ending, one provider payment under the outbox's key and one
    /// applied notification.
    pub settled: usize,
    /// More than one ending, outbox row, provider payment or applied notification.
    pub doubled: usize,
    /// Not in a terminal state.
    pub stuck: usize,
    /// Provider payments asked for more than once under their key (a dispatcher killed
    /// between the provider's answer and recording it); the provider moved them once.
    pub resubmitted: usize,
}

/// One session's counts, in the order `audit` selects them.
struct Row {
    state: String,
    endings: i64,
    submissions: i64,
    payments: i64,
    keyed: i64,
    applied: i64,
    requests: i32,
}

type Columns = (String, i64, i64, i64, i64, i64, i32);

impl From<Columns> for Row {
    fn from(c: Columns) -> Row {
        let (state, endings, submissions, payments, keyed, applied, requests) = c;
        Row {
            state,
            endings,
            submissions,
            payments,
            keyed,
            applied,
            requests,
        }
    }
}

/// The last frame seq the store holds for `session`.
pub async fn frame_seq(db: &PgPool, session: &str) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT frame_seq FROM sessions WHERE id = $1")
            .bind(session)
            .fetch_one(db)
            .await?,
    )
}

async fn unfinished(db: &PgPool, merchant: &str) -> Result<i64> {
    let sql =
        format!("SELECT COUNT(*) FROM sessions WHERE merchant_id = $1 AND state NOT IN {ENDS}");
    Ok(sqlx::query_scalar(&sql)
        .bind(merchant)
        .fetch_one(db)
        .await?)
}

/// Waits up to `within` for every session of `merchant` to reach a terminal state.
pub async fn drain(db: &PgPool, merchant: &str, within: Duration) -> Result<()> {
    let until = Instant::now() + within;
    while unfinished(db, merchant).await? > 0 && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

pub async fn audit(db: &PgPool, merchant: &str) -> Result<Audit> {
    let sql = format!(
        "SELECT s.state, \
         (SELECT COUNT(*) FROM session_events e WHERE e.session_id = s.id \
            AND e.to_state IN {ENDS} AND e.from_state IS DISTINCT FROM e.to_state) AS endings, \
         (SELECT COUNT(*) FROM submissions u WHERE u.session_id = s.id) AS submissions, \
         (SELECT COUNT(*) FROM sandbox_payments p WHERE p.session_id = s.id) AS payments, \
         (SELECT COUNT(*) FROM sandbox_payments p JOIN submissions u \
            ON u.idempotency_key = p.idempotency_key AND u.session_id = p.session_id \
            WHERE p.session_id = s.id) AS keyed, \
         (SELECT COUNT(*) FROM webhook_inbox w WHERE w.session_id = s.id \
            AND w.outcome = 'applied') AS applied, \
         (SELECT COALESCE(MAX(p.requests), 0) FROM sandbox_payments p \
            WHERE p.session_id = s.id) AS requests \
         FROM sessions s WHERE s.merchant_id = $1"
    );
    let rows: Vec<Columns> = sqlx::query_as(&sql).bind(merchant).fetch_all(db).await?;
    let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
    let mut audit = Audit {
        sessions: rows.len(),
        ..Audit::default()
    };
    for r in rows {
        let once = [r.endings, r.payments, r.keyed, r.applied] == [1; 4];
        audit.settled += usize::from(r.state == "settled" && once);
        let twice = [r.endings, r.submissions, r.payments, r.applied];
        audit.doubled += usize::from(twice.iter().any(|&n| n > 1));
        let ended = SessionState::parse(&r.state).is_some_and(SessionState::is_terminal);
        audit.stuck += usize::from(!ended);
        audit.resubmitted += usize::from(r.requests > 1);
    }
    Ok(audit)
}
