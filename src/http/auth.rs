//! Who is calling: a merchant (API key `csk_…`) or a shopper holding a session's client
//! token (`cst_…`). Both arrive as `Authorization: Bearer`; only hashes are stored.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use subtle::ConstantTimeEq;

use super::error::AppError;
use crate::app::AppState;
use crate::secrets::hash_credential;
use crate::store::{Merchant, Session};

pub const MERCHANT_KEY_PREFIX: &str = "csk_";
pub const CLIENT_TOKEN_PREFIX: &str = "cst_";

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A request made with a merchant API key.
pub struct MerchantAuth(pub Merchant);

impl FromRequestParts<AppState> for MerchantAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, AppError> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::Merchant(m) => Ok(MerchantAuth(*m)),
            Caller::Shopper(_) => Err(AppError::unauthorized()),
        }
    }
}

/// A merchant, or a shopper whose token still has to be checked against the session.
pub enum Caller {
    Merchant(Box<Merchant>),
    Shopper(String),
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, AppError> {
        let token = bearer(parts).ok_or_else(AppError::unauthorized)?;
        if token.starts_with(CLIENT_TOKEN_PREFIX) {
            return Ok(Caller::Shopper(token.to_owned()));
        }
        if !token.starts_with(MERCHANT_KEY_PREFIX) {
            return Err(AppError::unauthorized());
        }
        let merchant = app
            .flow
            .merchants
            .by_key_hash(app.store.as_ref(), &hash_credential(token))
            .await?;
        merchant
            .map(|m| Caller::Merchant(Box::new(m)))
            .ok_or_else(AppError::unauthorized)
    }
}

/// Whether `token` is this session's client token (constant-time on the hashes).
pub fn is_client_of(token: &str, session: &Session) -> bool {
    let presented = hash_credential(token);
    presented
        .as_bytes()
        .ct_eq(session.client_token_hash.as_bytes())
        .into()
}

impl Caller {
    /// May this caller see `session`? Another merchant's session is simply not found.
    pub fn may_see(&self, session: &Session) -> bool {
        match self {
            Caller::Merchant(m) => m.id == session.merchant_id,
            Caller::Shopper(token) => is_client_of(token, session),
        }
    }
}
