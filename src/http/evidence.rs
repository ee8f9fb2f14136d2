//! Signed dispute evidence and the public keys that check it.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

use super::auth::{Caller, MerchantAuth};
use super::error::{AppError, Result};
use super::sessions::visible;
use crate::app::AppState;
use crate::evidence::{self, keys};

/// `GET /v1/sessions/{id}/evidence`: the session's evidence, signed (merchant only).
pub async fn show(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let s = visible(&app, &Caller::Merchant(Box::new(merchant)), &id).await?;
    let signer = keys::Signer::newest(app.store.as_ref(), &app.keys)
        .await?
        .ok_or_else(|| AppError::internal("no evidence signing key"))?;
    let now = app.config.clock.now();
    Ok(Json(
        evidence::pack(app.store.as_ref(), &signer, &s, now).await?,
    ))
}

/// `GET /.well-known/countersign/jwks.json`: every evidence key's public half.
pub async fn jwks(State(app): State<AppState>) -> Result<impl IntoResponse> {
    let set = keys::jwks(app.store.as_ref()).await?;
    Ok((
        [
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        Json(set),
    ))
}
