//! `Idempotency-Key` for POSTs: the same key and body replay the first answer; a different
//! body is refused; a retry while the first is running is told to wait. Keys are per
//! merchant, kept 24 hours; stored answers are sealed because they may carry credentials.

use std::future::Future;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::TimeDelta;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{AppError, Result};
use crate::app::AppState;
use crate::domain::{IdempotencyKey, MerchantId};
use crate::store::{IdempotencyBegin, IdempotencyClaim};

pub const HEADER: &str = "idempotency-key";
const KEEP_FOR: TimeDelta = TimeDelta::hours(24);
/// A claim this old was left by a request that died; a retry may take it over.
const ABANDONED_AFTER: TimeDelta = TimeDelta::seconds(60);
const MAX_STORED_BODY: usize = 1 << 20;

/// The key a request carries, if any.
pub fn key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    let text = value.to_str().map_err(|_| bad_key())?;
    IdempotencyKey::parse(text).map(Some).map_err(|_| bad_key())
}

fn bad_key() -> AppError {
    AppError::bad_request(
        "invalid_idempotency_key",
        "Idempotency-Key must be 1-255 visible ASCII characters",
    )
}

/// JSON with object keys sorted, so the same body in another key order matches.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Hash of the route and the body (canonical JSON when it parses, raw bytes otherwise).
fn fingerprint(route: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(route.as_bytes());
    h.update(b"\n");
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => h.update(canonical(&v).to_string().as_bytes()),
        Err(_) => h.update(body),
    }
    hex::encode(h.finalize())
}

/// Runs `work` at most once per (merchant, key); retries get its stored answer.
/// `work` runs in its own task, so a client hanging up does not leave the key half-done.
pub async fn once<Fut>(
    app: &AppState,
    merchant: &MerchantId,
    key: IdempotencyKey,
    route: &str,
    body: &[u8],
    work: Fut,
) -> Result<Response>
where
    Fut: Future<Output = Response> + Send + 'static,
{
    let now = app.flow.clock.now();
    let claim = IdempotencyClaim {
        merchant_id: merchant.clone(),
        key: key.as_str().to_owned(),
        request_hash: fingerprint(route, body),
        now,
        expires_at: now + KEEP_FOR,
        stale_before: now - ABANDONED_AFTER,
    };
    let context = format!("idempotency/{merchant}/{}", key.as_str());
    match app.store.idempotency_begin(&claim).await? {
        IdempotencyBegin::Claimed => {}
        IdempotencyBegin::InFlight => {
            return Err(AppError::conflict(
                "idempotency_in_flight",
                "a request with this Idempotency-Key is still being processed",
            )
            .retry_after(1));
        }
        IdempotencyBegin::Mismatch => {
            return Err(AppError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                "this Idempotency-Key was used with a different request body",
            ));
        }
        IdempotencyBegin::Replay { status, body } => {
            let body = app.keys.open(&context, &body).map_err(AppError::internal)?;
            return Ok(replayed(status, body.expose().clone()));
        }
    }
    let response = tokio::spawn(work).await.map_err(AppError::internal);
    let response = match response {
        Ok(r) if !r.status().is_server_error() => r,
        other => {
            app.store
                .idempotency_release(merchant, key.as_str())
                .await?;
            return other;
        }
    };
    let status = response.status();
    let bytes = to_bytes(response.into_body(), MAX_STORED_BODY)
        .await
        .map_err(AppError::internal)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let sealed = app.keys.seal(&context, &text);
    app.store
        .idempotency_complete(merchant, key.as_str(), status.as_u16(), &sealed)
        .await?;
    Ok(json_response(status, text))
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn replayed(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut r = json_response(status, body).into_response();
    r.headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_ignores_key_order_and_whitespace_but_not_content() {
        let a = fingerprint("POST /v1/sessions", br#"{"user_id":"u1","channel":"chat"}"#);
        let b = fingerprint(
            "POST /v1/sessions",
            br#"{ "channel": "chat", "user_id": "u1" }"#,
        );
        let c = fingerprint("POST /v1/sessions", br#"{"user_id":"u2","channel":"chat"}"#);
        let d = fingerprint("POST /v1/other", br#"{"user_id":"u1","channel":"chat"}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }
}
