//! `POST /v1/webhooks/settlement`: settlement notifications, verified before anything is
//! stored (the format is in the README and `schemas/`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use super::error::{AppError, Result};
use crate::app::AppState;
use crate::domain::MerchantId;
use crate::merchants::WEBHOOK_SECRET_CONTEXT;
use crate::payments::webhook::{self, Notification};
use crate::schema;

fn unauthorized(why: &str) -> AppError {
    AppError::new(StatusCode::UNAUTHORIZED, "invalid_signature", why)
}

pub async fn settlement(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>> {
    let answer = verify_and_settle(&app, &headers, &body).await;
    let result = match &answer {
        Ok(Json(v)) => v["outcome"].as_str().unwrap_or("applied").to_owned(),
        Err(e) => e.code.to_owned(),
    };
    metrics::counter!(crate::metrics::WEBHOOKS, "result" => result).increment(1);
    answer
}

async fn verify_and_settle(
    app: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Json<Value>> {
    let header = headers
        .get(webhook::HEADER)
        .ok_or_else(|| unauthorized("the Countersign-Signature header is missing"))?
        .to_str()
        .map_err(|_| unauthorized("the Countersign-Signature header is not ASCII text"))?;
    let raw: Value =
        serde_json::from_slice(body).map_err(|_| unauthorized("the body cannot be verified"))?;
    let merchant_id = raw["merchant_id"]
        .as_str()
        .and_then(|m| MerchantId::parse(m).ok());
    let merchant = match merchant_id {
        Some(id) => app.flow.merchants.by_id(app.store.as_ref(), &id).await?,
        None => None,
    };
    let merchant = merchant.ok_or_else(|| unauthorized("the body cannot be verified"))?;
    let secret = app
        .keys
        .open(WEBHOOK_SECRET_CONTEXT, &merchant.webhook_secret_sealed)
        .map_err(AppError::internal)?;
    webhook::verify(
        secret.expose(),
        header,
        body,
        app.flow.clock.now().timestamp(),
    )
    .map_err(|e| unauthorized(&e.to_string()))?;
    schema::check(&schema::SETTLEMENT_WEBHOOK, &raw).map_err(AppError::invalid)?;
    let notification: Notification =
        serde_json::from_value(raw.clone()).map_err(|e| AppError::invalid(e.to_string()))?;
    let outcome = app.flow.settle(&notification, raw).await?;
    Ok(Json(
        json!({ "received": true, "outcome": outcome.as_str() }),
    ))
}
