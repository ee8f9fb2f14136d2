//! Opening and reading sessions.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::{Caller, MerchantAuth};
use super::error::{AppError, Result};
use super::{idempotency, json};
use crate::app::AppState;
use crate::dialogue::Dialogue;
use crate::domain::{Actor, EventKind, Lang, Mode, SessionId, SessionState, UserId};
use crate::secrets::{hash_credential, random_token};
use crate::store::{EventRecord, Merchant, NewSession, Session};

const MAX_TEXT_CHARS: usize = 4000;
const MAX_DEVICE_CHARS: usize = 200;
/// Language ranges of `Accept-Language` looked at; the rest are ignored.
const MAX_LANGUAGE_RANGES: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenSession {
    user_id: UserId,
    #[serde(default = "chat")]
    channel: Mode,
    text: Option<String>,
    device: Option<String>,
    /// The shopper's language, when the client knows it; else the opening text's, else
    /// the request's `Accept-Language`.
    lang: Option<Lang>,
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
    let accepted = accepted_lang(&headers);
    let Some(key) = idempotency::key(&headers)? else {
        return Ok(open_session(app, merchant, body.to_vec(), accepted).await);
    };
    let merchant_id = merchant.id.clone();
    let work = open_session(app.clone(), merchant, body.to_vec(), accepted);
    idempotency::once(&app, &merchant_id, key, "POST /v1/sessions", &body, work).await
}

async fn open_session(
    app: AppState,
    merchant: Merchant,
    body: Vec<u8>,
    accepted: Option<Lang>,
) -> Response {
    match try_open(&app, &merchant, &body, accepted).await {
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

async fn try_open(
    app: &AppState,
    merchant: &Merchant,
    body: &[u8],
    accepted: Option<Lang>,
) -> Result<Opened> {
    create(app, merchant, json::parse(body)?, accepted).await
}

/// The first language of `Accept-Language`, by preference, that the service speaks.
fn accepted_lang(headers: &HeaderMap) -> Option<Lang> {
    let value = headers.get(ACCEPT_LANGUAGE)?.to_str().ok()?;
    let mut ranges: Vec<(u16, Lang)> = value
        .split(',')
        .take(MAX_LANGUAGE_RANGES)
        .filter_map(|range| {
            let mut parts = range.split(';');
            let tag = parts.next()?.trim().to_ascii_lowercase();
            let lang = match tag.split('-').next()? {
                "en" => Lang::En,
                "zh" => Lang::Zh,
                _ => return None,
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), thousandths)?;
            (q > 0).then_some((q, lang))
        })
        .collect();
    // Stable: of equal weights, the first written wins.
    ranges.sort_by_key(|(q, _)| std::cmp::Reverse(*q));
    ranges.first().map(|(_, lang)| *lang)
}

/// A quality value ("0.8", "1", "0.125") in thousandths.
fn thousandths(q: &str) -> Option<u16> {
    let (whole, fraction) = q.split_once('.').unwrap_or((q, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u16 = match whole {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    let fraction: u16 = format!("{fraction:0<3}").parse().ok()?;
    let q = whole + fraction;
    (q <= 1000).then_some(q)
}

async fn create(
    app: &AppState,
    merchant: &Merchant,
    req: OpenSession,
    accepted: Option<Lang>,
) -> Result<Opened> {
    let text = checked_text("text", req.text, MAX_TEXT_CHARS)?;
    let device = checked_text("device", req.device, MAX_DEVICE_CHARS)?;
    let client_token = random_token(super::auth::CLIENT_TOKEN_PREFIX);
    let lang = req
        .lang
        .or_else(|| text.as_deref().map(Lang::of))
        .or(accepted)
        .unwrap_or_default();
    let opening = Dialogue::opening(req.channel, text.as_deref(), lang);
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
    lang: Option<Lang>,
}

/// `POST /v1/demo/sessions`: a session for the demo shopper, without a key. Only where the
/// embedded database was seeded with the demo merchant; elsewhere the route is not found.
pub async fn open_demo(
    State(app): State<AppState>,
    headers: HeaderMap,
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
            lang: req.lang,
        },
        accepted_lang(&headers),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(opened)).into_response())
}

/// Loads a session the caller may see; anything else is simply not found.
pub(super) async fn visible(app: &AppState, caller: &Caller, id: &str) -> Result<Session> {
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
    let cost = match is_merchant {
        true => {
            let calls = app.store.model_calls(s.id).await?;
            Some(super::models::session_cost(&app, s.id, &calls).await?)
        }
        false => None,
    };
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
        "cost": cost,
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
    /// `SHA-256(previous hash ‖ canonical event)`, hex; `null` before events were chained.
    hash: Option<String>,
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
            hash: e.hash,
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
    Ok(Json(
        json!({ "session_id": s.id, "event_hash": s.event_hash, "events": events }),
    ))
}
