//! `GET/POST /v1/sessions/{id}/menu`: the menu over plain HTTP, for clients that cannot hold
//! a socket. POST takes the same frames as the socket (`menu_select`, `confirm`, `cancel`,
//! `user_message`) and answers with the frames it produced and the current view.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::auth::{Caller, is_client_of};
use super::error::{AppError, Result};
use super::json::RawJson;
use crate::app::AppState;
use crate::dialogue::{Conversation, menu};
use crate::domain::{SessionId, SessionState, Transport};
use crate::workflow::frames::{ClientFrame, Numbered};

/// The session, for its shopper only.
async fn shoppers(app: &AppState, caller: &Caller, id: &str) -> Result<SessionId> {
    let not_found = || AppError::not_found("session");
    let id = SessionId::parse(id).map_err(|_| not_found())?;
    let session = app.store.session(id).await?.ok_or_else(not_found)?;
    match caller {
        Caller::Shopper(token) if is_client_of(token, &session) => Ok(id),
        Caller::Shopper(_) => Err(not_found()),
        Caller::Merchant(_) => Err(AppError::unauthorized()),
    }
}

/// Frames read from storage at once.
const PAGE: i64 = 500;

/// The frames since `after`, with their seq.
async fn frames_since(app: &AppState, id: SessionId, mut after: i64) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    loop {
        let page = app.store.frames_after(id, after, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        for f in page {
            after = f.seq;
            out.push(numbered(f.seq, f.frame));
        }
        if !full {
            return Ok(out);
        }
    }
}

fn numbered(seq: i64, frame: Value) -> Value {
    serde_json::from_str(&Numbered { seq, frame }.to_text()).unwrap_or(Value::Null)
}

/// What the shopper should see now: the menu, or the confirmation waiting for consent.
async fn view(app: &AppState, c: &Conversation) -> Result<Value> {
    let s = &c.ctx.session;
    let menu = (s.state == SessionState::Collecting)
        .then(|| menu::view(&c.ctx.session.draft, &c.ctx.policy, &c.book.view()).to_json());
    let confirmation = if s.state == SessionState::AwaitingConfirmation {
        let latest = app
            .store
            .latest_frame(s.id, "confirmation_required")
            .await?;
        latest.map(|f| f.frame)
    } else {
        None
    };
    Ok(json!({
        "session_id": s.id,
        "state": s.state,
        "mode": s.mode,
        "last_seq": s.frame_seq,
        "menu": menu,
        "confirmation": confirmation,
    }))
}

#[derive(serde::Deserialize)]
pub struct After {
    after: Option<i64>,
}

/// `GET /v1/sessions/{id}/menu[?after=SEQ]`: the view, and the frames after `after`
/// (all of them when it is 0), so a client without a socket sees what was said.
pub async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<After>,
) -> Result<Json<Value>> {
    let id = shoppers(&app, &caller, &id).await?;
    app.dialogue.start(id).await?;
    let conversation = app.dialogue.conversation(id).await?;
    let mut answer = view(&app, &conversation).await?;
    if let Some(after) = q.after {
        answer["frames"] = Value::Array(frames_since(&app, id, after.max(0)).await?);
    }
    Ok(Json(answer))
}

/// `POST /v1/sessions/{id}/menu`
pub async fn choose(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    RawJson(body): RawJson,
) -> Result<Json<Value>> {
    let id = shoppers(&app, &caller, &id).await?;
    // The same per-session cap as the socket's: every POST may cost a model call.
    if !app.limiter.allows(id) {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests on this session; slow down",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| AppError::bad_request("malformed_json", "the body is not UTF-8"))?;
    let frame = ClientFrame::parse(text)?;
    if matches!(frame, ClientFrame::Resume { .. } | ClientFrame::Ping) {
        return Err(AppError::invalid(
            "type: use menu_select, confirm, cancel or user_message here",
        ));
    }
    app.dialogue.start(id).await?;
    let not_found = || AppError::not_found("session");
    let before = app
        .store
        .session(id)
        .await?
        .ok_or_else(not_found)?
        .frame_seq;
    app.dialogue.handle_over(id, frame, Transport::Http).await?;
    let conversation = app.dialogue.conversation(id).await?;
    let mut answer = view(&app, &conversation).await?;
    answer["frames"] = Value::Array(frames_since(&app, id, before).await?);
    Ok(Json(answer))
}
