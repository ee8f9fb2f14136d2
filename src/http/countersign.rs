//! `GET/POST /v1/countersign`: the countersign page's calls. The page's link carries a
//! secret (`csl_…`, in the URL's fragment, so it never reaches a server log or a
//! `Referer`); the page sends it as `Authorization: Bearer`. It opens one session, for as
//! long as the link lasts, and allows only this: read the signed summary, confirm it with
//! its token, or cancel.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{AppError, Result};
use super::json::JsonBody;
use crate::app::AppState;
use crate::domain::{SessionId, SessionState};
use crate::secrets::hash_credential;
use crate::workflow::frames::ClientFrame;

pub const LINK_PREFIX: &str = "csl_";

/// The session a valid, unexpired countersign link opens.
pub struct Linked(SessionId);

impl FromRequestParts<AppState> for Linked {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self> {
        let secret = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, secret)| secret.trim())
            .filter(|s| s.starts_with(LINK_PREFIX))
            .ok_or_else(AppError::unauthorized)?;
        let link = app.store.link_by_hash(&hash_credential(secret)).await?;
        let link = link.ok_or_else(|| AppError::not_found("link"))?;
        if link.expires_at <= app.flow.clock.now() {
            return Err(AppError::new(
                StatusCode::GONE,
                "link_expired",
                "this countersign link has expired",
            ));
        }
        Ok(Linked(link.session_id))
    }
}

/// `GET /v1/countersign`: the session's state and, while it waits for consent, the signed
/// summary and its token.
pub async fn show(State(app): State<AppState>, Linked(id): Linked) -> Result<Json<Value>> {
    Ok(Json(view(&app, id).await?))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Answer {
    Confirm { token: String },
    Cancel,
}

/// `POST /v1/countersign`: `{"type":"confirm","token":…}` or `{"type":"cancel"}`, taken as
/// the chat takes them from its socket.
pub async fn answer(
    State(app): State<AppState>,
    Linked(id): Linked,
    JsonBody(answer): JsonBody<Answer>,
) -> Result<Json<Value>> {
    // The same per-session cap as the socket's and the menu's.
    if !app.limiter.allows(id) {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests on this session; slow down",
        ));
    }
    let frame = match answer {
        Answer::Confirm { token } => ClientFrame::Confirm { token },
        Answer::Cancel => ClientFrame::Cancel,
    };
    app.dialogue.handle(id, frame).await?;
    Ok(Json(view(&app, id).await?))
}

async fn view(app: &AppState, id: SessionId) -> Result<Value> {
    let s = app
        .store
        .session(id)
        .await?
        .ok_or_else(|| AppError::not_found("session"))?;
    let confirmation = match s.state {
        SessionState::AwaitingConfirmation => app
            .store
            .latest_frame(id, "confirmation_required")
            .await?
            .map(|f| f.frame),
        _ => None,
    };
    // As on the chat page, the shopper does not learn why a session was declined.
    let reason = s.reason.filter(|_| s.state != SessionState::Declined);
    Ok(json!({
        "session_id": s.id,
        "state": s.state,
        "reason": reason,
        "action": s.proposed_action,
        "confirmation": confirmation,
    }))
}
