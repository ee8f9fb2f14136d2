//! One client connection, generic over its transport: a stream of inbound frames and a sink
//! of outbound text. Tests drive it with channels; `http::ws` with a WebSocket.

use std::collections::HashSet;
use std::num::NonZeroU32;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{broadcast, mpsc};
use tracing::Instrument;

use crate::app::AppState;
use crate::domain::SessionId;
use crate::workflow::frames::{ClientFrame, FrameError, Numbered, ServerFrame};
use crate::workflow::hub::Subscription;

/// Frames read per replay page.
const REPLAY_PAGE: i64 = 200;

/// What arrives from the client.
#[derive(Debug)]
pub enum Inbound {
    Text(String),
    Binary,
    /// A frame over the size cap, refused by the transport from its header.
    Oversized,
}

/// Caps how fast frames may arrive on one session, over all its sockets.
pub struct FrameLimiter(DefaultKeyedRateLimiter<SessionId>);

impl FrameLimiter {
    pub fn new(per_second: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(per_second.max(1)).expect("non-zero");
        let burst = NonZeroU32::new(burst.max(1)).expect("non-zero");
        FrameLimiter(RateLimiter::keyed(
            Quota::per_second(rate).allow_burst(burst),
        ))
    }

    pub(crate) fn allows(&self, id: SessionId) -> bool {
        self.0.check_key(&id).is_ok()
    }

    /// Forgets sessions that have been quiet long enough to be back at full burst.
    pub fn forget_idle(&self) {
        self.0.retain_recent();
    }
}

/// What the reader asks the writer to send.
enum Out {
    Error(ServerFrame),
    Pong,
    Replay(i64),
}

/// Serves one connection until the client goes away. `live` was subscribed before the
/// client was told it is connected, so no frame committed after that can pass it by.
pub async fn run<Tx, Rx>(app: AppState, id: SessionId, live: Subscription, tx: Tx, rx: Rx)
where
    Tx: Sink<String> + Unpin + Send,
    Rx: Stream<Item = Inbound> + Unpin + Send + 'static,
{
    let span = tracing::info_span!("socket", session_id = %id);
    metrics::gauge!(crate::metrics::SOCKETS).increment(1.0);
    serve(app, id, live, tx, rx).instrument(span).await;
    metrics::gauge!(crate::metrics::SOCKETS).decrement(1.0);
}

async fn serve<Tx, Rx>(app: AppState, id: SessionId, mut live: Subscription, mut tx: Tx, rx: Rx)
where
    Tx: Sink<String> + Unpin + Send,
    Rx: Stream<Item = Inbound> + Unpin + Send + 'static,
{
    let (out_tx, mut out_rx) = mpsc::channel::<Out>(32);
    let reader = tokio::spawn(read(app.clone(), id, rx, out_tx).in_current_span());
    let mut sent = HashSet::new();
    let mut last = 0;
    loop {
        let delivered = tokio::select! {
            out = out_rx.recv() => match out {
                None => break,
                Some(Out::Error(e)) => send_local(&mut tx, last, e).await,
                Some(Out::Pong) => send_local(&mut tx, last, ServerFrame::Pong).await,
                Some(Out::Replay(after)) => replay(&app, id, after, &mut tx, &mut sent, &mut last).await,
            },
            frame = live.recv() => match frame {
                Ok(f) => send_new(&mut tx, &f, &mut sent, &mut last).await,
                Err(broadcast::error::RecvError::Lagged(_)) => replay(&app, id, 0, &mut tx, &mut sent, &mut last).await,
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        if !delivered {
            break;
        }
    }
    reader.abort();
}

/// Reads the client's frames for as long as the socket lives. A turn's future is large (the
/// whole dialogue, a model call included) and is boxed: an idle socket holds a pointer to
/// no turn, not the room for one.
async fn read<Rx>(app: AppState, id: SessionId, mut rx: Rx, out: mpsc::Sender<Out>)
where
    Rx: Stream<Item = Inbound> + Unpin,
{
    if let Err(e) = Box::pin(app.dialogue.start(id)).await {
        let _ = out.send(Out::Error((&e).into())).await;
    }
    while let Some(inbound) = rx.next().await {
        let reply = if !app.limiter.allows(id) {
            Some(Out::Error((&FrameError::RateLimited).into()))
        } else {
            Box::pin(answer(&app, id, inbound)).await
        };
        if let Some(reply) = reply {
            if out.send(reply).await.is_err() {
                break;
            }
        }
    }
}

async fn answer(app: &AppState, id: SessionId, inbound: Inbound) -> Option<Out> {
    let frame = match inbound {
        Inbound::Text(text) => ClientFrame::parse(&text),
        Inbound::Binary => Err(FrameError::Binary),
        Inbound::Oversized => Err(FrameError::TooLarge { closing: true }),
    };
    match frame {
        Err(e) => Some(Out::Error((&e).into())),
        Ok(ClientFrame::Ping) => Some(Out::Pong),
        Ok(ClientFrame::Resume { last_seq }) => Some(Out::Replay(last_seq)),
        Ok(frame) => {
            let answered = app.dialogue.handle(id, frame).await;
            answered.err().map(|e| Out::Error((&e).into()))
        }
    }
}

/// Sends a frame for this socket only; it carries the seq of the last session frame sent.
async fn send_local<Tx: Sink<String> + Unpin>(tx: &mut Tx, last: i64, frame: ServerFrame) -> bool {
    let numbered = Numbered {
        seq: last,
        frame: frame.to_json(),
    };
    tx.send(numbered.to_text()).await.is_ok()
}

/// Sends a session frame unless this socket already has it.
async fn send_new<Tx: Sink<String> + Unpin>(
    tx: &mut Tx,
    f: &Numbered,
    sent: &mut HashSet<i64>,
    last: &mut i64,
) -> bool {
    if !sent.insert(f.seq) {
        return true;
    }
    *last = (*last).max(f.seq);
    tx.send(f.to_text()).await.is_ok()
}

/// Sends the stored frames after `after` that this socket has not sent yet.
async fn replay<Tx: Sink<String> + Unpin>(
    app: &AppState,
    id: SessionId,
    after: i64,
    tx: &mut Tx,
    sent: &mut HashSet<i64>,
    last: &mut i64,
) -> bool {
    let mut cursor = after;
    loop {
        let page = match app.store.frames_after(id, cursor, REPLAY_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(session_id = %id, error = %e, "replay failed");
                let e = FrameError::ReplayFailed;
                return send_local(tx, *last, (&e).into()).await;
            }
        };
        let Some(end) = page.last().map(|f| f.seq) else {
            return true;
        };
        for f in page {
            if !send_new(
                tx,
                &Numbered {
                    seq: f.seq,
                    frame: f.frame,
                },
                sent,
                last,
            )
            .await
            {
                return false;
            }
        }
        cursor = end;
    }
}

#[cfg(test)]
mod tests;
