//! Opening and reading sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, MerchantAuth};
use super::error::{AppError, Result};
use super::{idempotency, json};
use crate::app::AppState;
use crate::dialogue::Dialogue;
use crate::domain::{Actor, EventKind, Mode, SessionId, SessionState, UserId};
use crate::secrets::{hash_credential, random_token};
use crate::store::{EventRecord, Merchant, NewSession, Session};

const MAX_TEXT_CHARS: usize = 4000;
const MAX_DEVICE_CHARS: usize = 200;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenSession {
    user_id: UserId,
    #[serde(default = "chat")]
    channel: Mode,
    text: Option<String>,
    device: Option<String>,
}

fn chat() -> Mode {
    Mode::Chat
}

#[derive(Serialize)]
struct Opened {
    session_id: SessionId,
    client_token: String,
    state: SessionState,
    mode: Mode,
    ws_url: String,
}

/// `POST /v1/sessions`
pub async fn open(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    headers: HeaderMap,
    json::RawJson(body): json::RawJson,
) -> Result<Response> {
    let Some(key) = idempotency::key(&headers)? else {
        return Ok(open_session(app, merchant, body.to_vec()).await);
    };
    let merchant_id = merchant.id.clone();
    let work = open_session(app.clone(), merchant, body.to_vec());
    idempotency::once(&app, &merchant_id, key, "POST /v1/sessions", &body, work).await
}

async fn open_session(app: AppState, merchant: Merchant, body: Vec<u8>) -> Response {
    match try_open(&app, &merchant, &body).await {
        Ok(opened) => (StatusCode::CREATED, Json(opened)).into_response(),
        Err(e) => e.into_response(),
    }
}

fn checked_text(field: &str, text: Option<String>, max: usize) -> Result<Option<String>> {
    match text {
        Some(t) if t.chars().count() > max => Err(AppError::invalid(format!(
            "{field}: at most {max} characters"
        ))),
        Some(t) if t.chars().any(|c| c.is_control() && c != '\n') => Err(AppError::invalid(
            format!("{field}: control characters are not allowed"),
        )),
        other => Ok(other),
    }
}

async fn try_open(app: &AppState, merchant: &Merchant, body: &[u8]) -> Result<Opened> {
    create(app, merchant, json::parse(body)?).await
}

async fn create(app: &AppState, merchant: &Merchant, req: OpenSession) -> Result<Opened> {
    let text = checked_text("text", req.text, MAX_TEXT_CHARS)?;
    let device = checked_text("device", req.device, MAX_DEVICE_CHARS)?;
    let client_token = random_token(super::auth::CLIENT_TOKEN_PREFIX);
    let opening = Dialogue::opening(req.channel, text.as_deref());
    let new = NewSession {
        id: SessionId::new(),
        merchant_id: merchant.id.clone(),
        user_id: req.user_id,
        channel: req.channel,
        device,
        client_token_hash: hash_credential(client_token.expose()),
        created_at: app.flow.clock.now(),
        draft: opening.draft,
        frames: opening.frames,
    };
    let session = app.store.create_session(&new, &opening.event).await?;
    tracing::info!(session_id = %session.id, merchant_id = %merchant.id, "session opened");
    let ws_url = format!("{}/v1/sessions/{}/ws", app.config.public_url(), session.id)
        .replacen("http", "ws", 1);
    Ok(Opened {
        session_id: session.id,
        client_token: client_token.expose().clone(),
        state: session.state,
        mode: session.mode,
        ws_url,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenDemo {
    #[serde(default = "chat")]
    channel: Mode,
    text: Option<String>,
}

/// `POST /v1/demo/sessions`: a session for the demo shopper, without a key. Only where the
/// embedded database was seeded with the demo merchant; elsewhere the route is not found.
pub async fn open_demo(
    State(app): State<AppState>,
    json::JsonBody(req): json::JsonBody<OpenDemo>,
) -> Result<Response> {
    let demo =
        crate::domain::MerchantId::parse(crate::seed::DEMO_MERCHANT).map_err(AppError::internal)?;
    let enabled = app.config.seed_demo && app.config.is_embedded();
    let merchant = match enabled {
        true => app.store.merchant(&demo).await?,
        false => None,
    };
    let merchant = merchant.ok_or_else(|| AppError::not_found("route"))?;
    let user_id = UserId::parse(crate::seed::DEMO_SHOPPER).map_err(AppError::internal)?;
    let opened = create(
        &app,
        &merchant,
        OpenSession {
            user_id,
            channel: req.channel,
            text: req.text,
            device: None,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(opened)).into_response())
}

/// Loads a session the caller may see; anything else is simply not found.
async fn visible(app: &AppState, caller: &Caller, id: &str) -> Result<Session> {
    let not_found = || AppError::not_found("session");
    let id = SessionId::parse(id).map_err(|_| not_found())?;
    let session = app.store.session(id).await?.ok_or_else(not_found)?;
    if caller.may_see(&session) {
        Ok(session)
    } else {
        Err(not_found())
    }
}

#[derive(Serialize)]
struct Step {
    seq: i64,
    from: Option<SessionState>,
    to: SessionState,
    event: &'static str,
    at: chrono::DateTime<chrono::Utc>,
}

/// `GET /v1/sessions/{id}`: state, mode, proposed action and history. A shopper does not
/// learn why a session was declined.
pub async fn show(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let s = visible(&app, &caller, &id).await?;
    let events = app.store.events(s.id).await?;
    let is_merchant = matches!(caller, Caller::Merchant(_));
    let reason = s
        .reason
        .filter(|_| is_merchant || s.state != SessionState::Declined);
    let history: Vec<Step> = events
        .into_iter()
        .map(|e| Step {
            seq: e.seq,
            from: e.from,
            to: e.to,
            event: if is_merchant || e.to != SessionState::Declined {
                e.kind.as_str()
            } else {
                // The rules and an operator decline alike, as far as the shopper knows.
                "declined"
            },
            at: e.at,
        })
        .collect();
    Ok(Json(json!({
        "session_id": s.id,
        "merchant_id": s.merchant_id,
        "user_id": s.user_id,
        "channel": s.channel,
        "mode": s.mode,
        "state": s.state,
        "reason": reason,
        "proposed_action": s.proposed_action,
        "confirmation_expires_at": s.confirmation_expires_at,
        "version": s.version,
        "created_at": s.created_at,
        "updated_at": s.updated_at,
        "history": history,
    })))
}

#[derive(Serialize)]
struct EventView {
    seq: i64,
    from: Option<SessionState>,
    to: SessionState,
    event: EventKind,
    actor: Actor,
    payload: Value,
    at: chrono::DateTime<chrono::Utc>,
}

impl From<EventRecord> for EventView {
    fn from(e: EventRecord) -> Self {
        EventView {
            seq: e.seq,
            from: e.from,
            to: e.to,
            event: e.kind,
            actor: e.actor,
            payload: e.payload,
            at: e.at,
        }
    }
}

/// `GET /v1/sessions/{id}/events`: the audit log, merchant only.
pub async fn events(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let s = visible(&app, &Caller::Merchant(Box::new(merchant)), &id).await?;
    let events: Vec<EventView> = app
        .store
        .events(s.id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Json(json!({ "session_id": s.id, "events": events })))
}
