//! Language-model calls, kept for audit.

use sqlx::Executor;
use sqlx::types::Json;

use super::Result;
use super::db::{Bind, Db};
use crate::understanding::audit::ModelCall;

const INSERT: &str = "INSERT INTO model_calls (session_id, endpoint, model, purpose, outcome, \
     latency_ms, prompt_tokens, completion_tokens, request, response, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// The Postgres CTE that stores `$30`, a JSON array of calls, beside a transition's
/// `moved` session.
pub(super) const PG_WITH_TRANSITION: &str = "audited AS (INSERT INTO model_calls (session_id, \
     endpoint, model, purpose, outcome, latency_ms, prompt_tokens, completion_tokens, \
     request, response, at) SELECT c.session_id, c.endpoint, c.model, c.purpose, c.outcome, \
     c.latency_ms, c.prompt_tokens, c.completion_tokens, c.request, c.response, c.at \
     FROM moved, jsonb_to_recordset($30) AS c(session_id text, endpoint text, model text, \
     purpose text, outcome text, latency_ms bigint, prompt_tokens bigint, \
     completion_tokens bigint, request jsonb, response text, at timestamptz))";

pub(super) async fn record<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    c: &ModelCall,
) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(&c.session_id)
        .arg(&c.endpoint)
        .arg(&c.model)
        .arg(c.purpose.as_str())
        .arg(c.outcome.as_str())
        .arg(c.latency_ms)
        .arg(c.prompt_tokens)
        .arg(c.completion_tokens)
        .arg(Json(&c.request))
        .arg(&c.response)
        .arg(c.at)
        .execute(ex)
        .await?;
    Ok(())
}
