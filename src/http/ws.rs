//! `GET /v1/sessions/{id}/ws`: the dialogue over a WebSocket, for the session's client token
//! (`Authorization: Bearer` or `?token=` for browsers).

pub mod socket;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt, future};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::{PollSendError, PollSender};

use super::auth::is_client_of;
use super::error::{AppError, Result};
use super::server::ReadClock;
use super::sockets::Admitted;
use crate::app::AppState;
use crate::config::Limits;
use crate::domain::SessionId;
use crate::workflow::frames::MAX_FRAME_BYTES;
use crate::workflow::hub::Subscription;
use watch::Watch;

/// The read buffer grows to a frame when it must; starting small keeps idle sockets cheap
/// (the default is 128 KiB each).
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
    clock: Option<Extension<Arc<ReadClock>>>,
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
    let Some(place) = app.sockets.admit(id) else {
        metrics::counter!(crate::metrics::REFUSED, "what" => "socket").increment(1);
        return Err(AppError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many sockets open; retry shortly",
        )
        .retry_after(1));
    };
    // A frame or message over the cap is refused as soon as its header announces it.
    let ws = ws
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES);
    let clock = clock.map(|Extension(clock)| clock);
    // Listening starts before the client hears it is connected.
    let live = app.flow.hub.subscribe(id);
    app.flow.hub.remember(&session);
    Ok(ws.on_upgrade(move |socket| serve(app, id, live, socket, place, clock)))
}

async fn serve(
    app: AppState,
    id: SessionId,
    live: Subscription,
    socket: WebSocket,
    place: Admitted,
    clock: Option<Arc<ReadClock>>,
) {
    let limits = app.config.limits.clone();
    let (sink, stream) = socket.split();
    let (out, queued) = mpsc::channel::<Message>(8);
    let writer = tokio::spawn(write(sink, queued, Limits::ms(limits.write_timeout_ms)));
    let tx = PollSender::new(out.clone()).with(|text: String| {
        future::ready(Ok::<_, PollSendError<Message>>(Message::Text(text.into())))
    });
    let watch = Watch::new(stream, &limits, clock, place.replaced.clone(), out.clone());
    let ended = watch.ended.clone();
    socket::run(app, id, live, Box::pin(tx), Box::pin(watch.into_stream())).await;
    let close = ended.get().cloned();
    let _ = out.send(Message::Close(close)).await;
    let _ = writer.await;
    drop(place);
}

/// Sends what the socket queues; a client that does not take a frame in time is cut off.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    timeout: Duration,
) {
    while let Some(message) = queued.recv().await {
        let closing = matches!(message, Message::Close(_));
        let sent = tokio::time::timeout(timeout, sink.send(message)).await;
        if closing || !matches!(sent, Ok(Ok(()))) {
            if sent.is_err() {
                metrics::counter!(crate::metrics::REFUSED, "what" => "slow_reader").increment(1);
            }
            break;
        }
    }
    let _ = tokio::time::timeout(timeout, sink.close()).await;
}
