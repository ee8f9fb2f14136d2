//! The accept loop: HTTP/1.1 with a deadline for every request head, a cap on open
//! connections, and a connection wrapper that tells a WebSocket when its peer started
//! sending a frame it has not finished.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::config::Limits;

/// When bytes arrived that have not yet made a whole WebSocket message. Reads mark it; the
/// socket clears it on every complete message.
pub struct ReadClock {
    epoch: Instant,
    /// Milliseconds after `epoch` plus one; zero when nothing is pending.
    pending: AtomicU64,
    /// Woken when something starts to be pending.
    pub started: Notify,
}

impl ReadClock {
    fn new() -> Self {
        ReadClock {
            epoch: Instant::now(),
            pending: AtomicU64::new(0),
            started: Notify::new(),
        }
    }

    fn mark(&self) {
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        if self
            .pending
            .compare_exchange(0, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.started.notify_one();
        }
    }

    /// Everything read so far made whole messages.
    pub fn clear(&self) {
        self.pending.store(0, Ordering::Release);
    }

    /// Since when unfinished bytes have been waiting, if any are.
    pub fn pending_since(&self) -> Option<Instant> {
        match self.pending.load(Ordering::Acquire) {
            0 => None,
            ms => Some(self.epoch + Duration::from_millis(ms - 1)),
        }
    }
}

/// A client connection: holds its place among `max_connections` for as long as it is open,
/// through a WebSocket upgrade too.
struct Conn {
    tcp: TcpStream,
    clock: Arc<ReadClock>,
    _place: OwnedSemaphorePermit,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.tcp).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.mark();
        }
        polled
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.tcp).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.tcp).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight
/// finish (WebSockets are not waited for).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let places = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let header_timeout = Limits::ms(limits.header_timeout_ms);
    let connections = TaskTracker::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: back off briefly.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Frames are small and often sent back to back; Nagle would hold the second
        // until the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let Ok(place) = places.clone().try_acquire_owned() else {
            metrics::counter!(crate::metrics::REFUSED, "what" => "connection").increment(1);
            connections.spawn(refuse(tcp));
            continue;
        };
        let clock = Arc::new(ReadClock::new());
        let conn = Conn {
            tcp,
            clock: clock.clone(),
            _place: place,
        };
        let router = router.clone();
        let service = TowerToHyperService::new(tower::service_fn(move |mut req: Request<_>| {
            req.extensions_mut().insert(clock.clone());
            router.clone().oneshot(req.map(axum::body::Body::new))
        }));
        let mut stop = stop_rx.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let served = builder
                .serve_connection(TokioIo::new(conn), service)
                .with_upgrades();
            tokio::pin!(served);
            let ended = tokio::select! {
                ended = served.as_mut() => ended,
                _ = stopping(&mut stop) => {
                    served.as_mut().graceful_shutdown();
                    served.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended");
            }
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    connections.close();
    connections.wait().await;
    Ok(())
}

async fn stopping(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The answer to a connection beyond `max_connections`: a 503 in the usual JSON, then close.
async fn refuse(mut tcp: TcpStream) {
    let body = r#"{"error":{"code":"overloaded","message":"too many connections; retry shortly"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        tcp.write_all(response.as_bytes()).await?;
        tcp.shutdown().await?;
        // Read what the client sent until it closes: closing with unread bytes would reset
        // the connection and could discard the answer before the client reads it.
        let mut sink = [0u8; 1024];
        while tcp.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
