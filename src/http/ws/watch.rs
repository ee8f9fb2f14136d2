//! The inbound side of a WebSocket under watch: it yields the client's frames and ends the
//! socket, naming why in the close frame, when a frame stays unfinished past
//! `frame_timeout_ms`, when a silent client does not answer a ping, when a frame is over the
//! size cap, or when a newer socket on the session takes this one's place.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{Stream, StreamExt};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;

use super::socket::Inbound;
use crate::config::Limits;
use crate::http::server::ReadClock;

/// Close codes the server sends (1000–2999 are the protocol's, 4000–4999 the application's).
pub mod code {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const REPLACED: u16 = 4001;
}

pub struct Watch {
    stream: SplitStream<WebSocket>,
    clock: Option<Arc<ReadClock>>,
    replaced: Arc<Notify>,
    control: mpsc::Sender<Message>,
    /// Why the server ended the socket, for its close frame.
    pub ended: Arc<OnceLock<CloseFrame>>,
    frame_timeout: Duration,
    idle_timeout: Duration,
    pong_timeout: Duration,
    heard: Instant,
    pinged: Option<Instant>,
    done: bool,
}

impl Watch {
    pub fn new(
        stream: SplitStream<WebSocket>,
        limits: &Limits,
        clock: Option<Arc<ReadClock>>,
        replaced: Arc<Notify>,
        control: mpsc::Sender<Message>,
    ) -> Self {
        // The upgrade request itself was read through the same clock.
        if let Some(clock) = &clock {
            clock.clear();
        }
        Watch {
            stream,
            clock,
            replaced,
            control,
            ended: Arc::default(),
            frame_timeout: Limits::ms(limits.frame_timeout_ms),
            idle_timeout: Limits::ms(limits.idle_timeout_ms),
            pong_timeout: Limits::ms(limits.pong_timeout_ms),
            heard: Instant::now(),
            pinged: None,
            done: false,
        }
    }

    pub fn into_stream(self) -> impl Stream<Item = Inbound> + Send + 'static {
        futures_util::stream::unfold(self, |mut watch| async move {
            let next = watch.next().await?;
            Some((next, watch))
        })
    }

    async fn next(&mut self) -> Option<Inbound> {
        if self.done {
            return None;
        }
        loop {
            let unfinished = self.clock.as_ref().and_then(|c| c.pending_since());
            let frame_deadline = unfinished.map(|since| since + self.frame_timeout);
            let idle_deadline = match self.pinged {
                Some(at) => at + self.pong_timeout,
                None => self.heard + self.idle_timeout,
            };
            let deadline = frame_deadline.map_or(idle_deadline, |f| f.min(idle_deadline));
            let clock = self.clock.clone();
            let started = async move {
                match clock {
                    Some(clock) => clock.started.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = self.stream.next() => match message {
                    Some(Ok(message)) => {
                        if let Some(inbound) = self.heard(message) {
                            return inbound;
                        }
                    }
                    Some(Err(e)) if is_too_big(&e) => {
                        self.end(code::TOO_BIG, "frame over the size cap");
                        return Some(Inbound::Oversized);
                    }
                    Some(Err(_)) | None => return self.end_quietly(),
                },
                () = self.replaced.notified() => {
                    return self.end(code::REPLACED, "replaced by a newer connection");
                }
                () = started => {}
                () = tokio::time::sleep_until(deadline) => {
                    if frame_deadline.is_some_and(|f| f <= Instant::now()) {
                        return self.end(code::POLICY, "frame not finished in time");
                    }
                    if self.pinged.is_some() {
                        return self.end(code::GOING_AWAY, "no answer to ping");
                    }
                    self.pinged = Some(Instant::now());
                    let _ = self.control.try_send(Message::Ping(Default::default()));
                }
            }
        }
    }

    /// A whole message arrived: the client is alive. `None` reads on; `Some(None)` ends.
    fn heard(&mut self, message: Message) -> Option<Option<Inbound>> {
        self.heard = Instant::now();
        self.pinged = None;
        if let Some(clock) = &self.clock {
            clock.clear();
        }
        match message {
            Message::Text(text) => Some(Some(Inbound::Text(text.to_string()))),
            Message::Binary(_) => Some(Some(Inbound::Binary)),
            Message::Close(_) => Some(self.end_quietly()),
            Message::Ping(_) | Message::Pong(_) => None,
        }
    }

    fn end(&mut self, code: u16, reason: &'static str) -> Option<Inbound> {
        metrics::counter!(crate::metrics::REFUSED, "what" => reason).increment(1);
        let _ = self.ended.set(CloseFrame {
            code,
            reason: reason.into(),
        });
        self.end_quietly()
    }

    fn end_quietly(&mut self) -> Option<Inbound> {
        self.done = true;
        None
    }
}

fn is_too_big(e: &axum::Error) -> bool {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<tungstenite::Error>())
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}
