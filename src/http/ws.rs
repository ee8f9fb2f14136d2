//! `GET /v1/sessions/{id}/ws`: the dialogue over a WebSocket, for the session's client token
//! (`Authorization: Bearer` or `?token=` for browsers).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt, future};
use serde::Deserialize;

use super::auth::is_client_of;
use super::error::{AppError, Result};
use crate::app::AppState;
use crate::dialogue::socket::{self, Inbound};
use crate::domain::SessionId;

/// Messages above this close the socket; those above the 16 KiB frame cap but below it get
/// an error frame and the socket stays open.
const HARD_LIMIT_BYTES: usize = 1 << 20;
const READ_BUFFER_BYTES: usize = 4 * 1024;

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

fn presented(headers: &HeaderMap, query: &TokenQuery) -> Option<String> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let bearer = header.and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    bearer.map(str::to_owned).or_else(|| query.token.clone())
}

pub async fn upgrade(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response> {
    let token = presented(&headers, &query).ok_or_else(AppError::unauthorized)?;
    let id = SessionId::parse(&id).map_err(|_| AppError::not_found("session"))?;
    let session = app
        .store
        .session(id)
        .await?
        .ok_or_else(|| AppError::not_found("session"))?;
    if !is_client_of(&token, &session) {
        return Err(AppError::not_found("session"));
    }
    // The read buffer grows to a frame when it must; starting small keeps idle sockets
    // cheap (the default is 128 KiB each).
    let ws = ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(HARD_LIMIT_BYTES)
        .max_frame_size(HARD_LIMIT_BYTES);
    Ok(ws.on_upgrade(move |socket| serve(app, id, socket)))
}

async fn serve(app: AppState, id: SessionId, socket: WebSocket) {
    let (sink, stream) = socket.split();
    let tx =
        sink.with(|text: String| future::ready(Ok::<_, axum::Error>(Message::Text(text.into()))));
    let rx = stream.filter_map(|m| {
        future::ready(match m {
            Ok(Message::Text(t)) => Some(Inbound::Text(t.to_string())),
            Ok(Message::Binary(_)) => Some(Inbound::Binary),
            _ => None,
        })
    });
    socket::run(app, id, Box::pin(tx), Box::pin(rx)).await;
}
