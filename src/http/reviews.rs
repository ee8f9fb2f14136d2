//! The manual review queue and the outbox's dead letters, for the merchant's operators.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::MerchantAuth;
use super::error::{AppError, Result};
use super::json::JsonBody;
use crate::app::AppState;
use crate::domain::{EventKind, SessionId, SessionState};
use crate::store::SubmissionState;
use crate::workflow::review::Reviewer;
use crate::workflow::{Error as FlowError, ReviewDecision};

const QUEUE_LIMIT: i64 = 200;

/// `GET /v1/reviews`: sessions waiting for a decision, oldest first, with the risk check's
/// score and rule codes, and what the session has cost so far.
pub async fn queue(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
) -> Result<Json<Value>> {
    let waiting = app
        .store
        .sessions_in_state(&merchant.id, SessionState::ManualReview, QUEUE_LIMIT)
        .await?;
    let mut reviews = Vec::with_capacity(waiting.len());
    for s in waiting {
        let events = app.store.events(s.id).await?;
        let risk = events
            .iter()
            .rev()
            .find(|e| e.kind == EventKind::RiskScored)
            .map(|e| e.payload.clone());
        let risk = risk.unwrap_or(Value::Null);
        let calls = app.store.model_calls(s.id).await?;
        let cost = super::models::session_cost(&app, s.id, &calls).await?;
        reviews.push(json!({
            "session_id": s.id,
            "user_id": s.user_id,
            "action": s.proposed_action,
            "score": risk["score"],
            "codes": risk["codes"],
            "since": s.updated_at,
            "cost": cost,
        }));
    }
    Ok(Json(json!({ "reviews": reviews })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    decision: ReviewDecision,
    /// Who at the merchant decided, as they name themselves; the key is recorded anyway.
    reviewer: Option<String>,
    note: Option<String>,
}

/// `POST /v1/reviews/{session_id}`: approve or decline, recorded with who decided.
pub async fn decide(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<Decision>,
) -> Result<Json<Value>> {
    let reviewer = req.reviewer.as_deref().map(str::trim);
    if reviewer.is_some_and(|r| r.is_empty() || r.chars().count() > 100) {
        return Err(AppError::invalid(
            "reviewer: 1-100 characters naming who decided",
        ));
    }
    if req.note.as_ref().is_some_and(|n| n.chars().count() > 1000) {
        return Err(AppError::invalid("note: at most 1000 characters"));
    }
    let not_found = || AppError::not_found("session");
    let id = SessionId::parse(&id).map_err(|_| not_found())?;
    let session = app.store.session(id).await?.ok_or_else(not_found)?;
    if session.merchant_id != merchant.id {
        return Err(not_found());
    }
    let by = Reviewer {
        merchant: &merchant.id,
        name: reviewer,
        note: req.note.as_deref(),
    };
    let saved = app
        .flow
        .decide_review(id, req.decision, by)
        .await
        .map_err(|e| match e {
            FlowError::Insufficient => {
                let message = format!("{e}; the session was declined");
                AppError::new(StatusCode::CONFLICT, e.code(), message)
            }
            e => e.into(),
        })?;
    Ok(Json(
        json!({ "session_id": saved.id, "state": saved.state }),
    ))
}

#[derive(Deserialize)]
pub struct StateQuery {
    state: Option<String>,
}

/// `GET /v1/submissions?state=dead`: outbox rows by state; dead letters by default.
pub async fn submissions(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Query(q): Query<StateQuery>,
) -> Result<Json<Value>> {
    let wanted = q.state.as_deref().unwrap_or("dead");
    let state = SubmissionState::parse(wanted).ok_or_else(|| {
        AppError::bad_request("invalid_query", "state: one of pending, sent, done, dead")
    })?;
    let rows = app
        .store
        .submissions(&merchant.id, state, QUEUE_LIMIT)
        .await?;
    let rows: Vec<Value> = rows
        .into_iter()
        .map(|s| {
            json!({
                "idempotency_key": s.idempotency_key,
                "session_id": s.session_id,
                "provider": s.provider,
                "action": s.action,
                "amount": s.amount,
                "state": s.state,
                "attempts": s.attempts,
                "provider_reference": s.provider_reference,
                "last_error": s.last_error,
                "updated_at": s.updated_at,
            })
        })
        .collect();
    Ok(Json(json!({ "submissions": rows })))
}
