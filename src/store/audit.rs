//! Language-model calls, kept for audit, and read back for the merchant.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Executor;
use sqlx::types::Json;

use super::db::{Bind, Columns, Db};
use super::{Result, SessionId, StoreError};
use crate::domain::{Charge, Cost, Currency};
use crate::understanding::audit::{ModelCall, Outcome, Purpose};

const INSERT: &str = "INSERT INTO model_calls (session_id, endpoint, model, reported_model, \
     system_fingerprint, purpose, outcome, latency_ms, prompt_tokens, completion_tokens, \
     cost, cost_currency, request, response, at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

/// The Postgres CTE that stores `$30`, a JSON array of calls, beside a transition's
/// `moved` session.
pub(super) const PG_WITH_TRANSITION: &str = "audited AS (INSERT INTO model_calls (session_id, \
     endpoint, model, reported_model, system_fingerprint, purpose, outcome, latency_ms, \
     prompt_tokens, completion_tokens, cost, cost_currency, request, response, at) \
     SELECT c.session_id, c.endpoint, c.model, c.reported_model, c.system_fingerprint, \
     c.purpose, c.outcome, c.latency_ms, c.prompt_tokens, c.completion_tokens, c.cost, \
     c.cost_currency, c.request, c.response, c.at \
     FROM moved, jsonb_to_recordset($30) AS c(session_id text, endpoint text, model text, \
     reported_model text, system_fingerprint text, purpose text, outcome text, \
     latency_ms bigint, prompt_tokens bigint, completion_tokens bigint, cost text, \
     cost_currency text, request jsonb, response text, at timestamptz))";

const FOR_SESSION: &str = "SELECT id, endpoint, model, reported_model, system_fingerprint, \
     purpose, outcome, latency_ms, prompt_tokens, completion_tokens, cost, cost_currency, at \
     FROM model_calls WHERE session_id = $1 ORDER BY at, id";

/// One stored call as the merchant reads it: no request or response bodies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCallRecord {
    pub id: i64,
    pub endpoint: String,
    pub model: String,
    pub reported_model: Option<String>,
    pub system_fingerprint: Option<String>,
    pub purpose: Purpose,
    pub outcome: Outcome,
    pub latency_ms: i64,
    pub prompt_tokens: Option<i64>,
    pub completion_tokens: Option<i64>,
    pub cost: Option<Charge>,
    pub at: DateTime<Utc>,
}

pub(super) async fn record<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    c: &ModelCall,
) -> Result<()> {
    sqlx::query::<DB>(INSERT)
        .arg(&c.session_id)
        .arg(&c.endpoint)
        .arg(&c.model)
        .arg(&c.reported_model)
        .arg(&c.system_fingerprint)
        .arg(c.purpose.as_str())
        .arg(c.outcome.as_str())
        .arg(c.latency_ms)
        .arg(c.prompt_tokens)
        .arg(c.completion_tokens)
        .arg(c.cost.map(|c| c.to_string()))
        .arg(c.cost_currency.map(|c| c.code()))
        .arg(Json(&c.request))
        .arg(&c.response)
        .arg(c.at)
        .execute(ex)
        .await?;
    Ok(())
}

/// Every call a session made, oldest first.
pub(super) async fn for_session<'c, DB: Db>(
    ex: impl Executor<'c, Database = DB>,
    id: SessionId,
) -> Result<Vec<ModelCallRecord>> {
    let rows = sqlx::query::<DB>(FOR_SESSION)
        .arg(id.to_string())
        .fetch_all(ex)
        .await?;
    rows.iter().map(read::<DB>).collect()
}

fn read<DB: Db>(r: &DB::Row) -> Result<ModelCallRecord> {
    let corrupt = |what: &str, v: &str| StoreError::Corrupt(format!("model call {what} {v:?}"));
    let purpose: String = r.col("purpose")?;
    let outcome: String = r.col("outcome")?;
    let cost: Option<String> = r.col("cost")?;
    let currency: Option<String> = r.col("cost_currency")?;
    let cost = match (cost, currency) {
        (Some(value), Some(code)) => Some(Charge {
            value: Cost::parse(&value).ok_or_else(|| corrupt("cost", &value))?,
            currency: Currency::parse(&code).map_err(|_| corrupt("currency", &code))?,
        }),
        _ => None,
    };
    Ok(ModelCallRecord {
        id: r.col("id")?,
        endpoint: r.col("endpoint")?,
        model: r.col("model")?,
        reported_model: r.col("reported_model")?,
        system_fingerprint: r.col("system_fingerprint")?,
        purpose: Purpose::parse(&purpose).ok_or_else(|| corrupt("purpose", &purpose))?,
        outcome: Outcome::parse(&outcome).ok_or_else(|| corrupt("outcome", &outcome))?,
        latency_ms: r.col("latency_ms")?,
        prompt_tokens: r.col("prompt_tokens")?,
        completion_tokens: r.col("completion_tokens")?,
        cost,
        at: r.col("at")?,
    })
}
