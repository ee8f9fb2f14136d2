//! `hostile`: what misbehaving clients cost the server. Sockets that start a frame and never
//! finish it (one shopper token for all of them, then one session each), frames just under
//! the size cap left unfinished, and slowloris HTTP connections; the server's resident
//! memory and open descriptors are read from /proc while they hang on.

use std::time::Duration;

use anyhow::Result;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::Summary;
use super::client::{Api, Opened};
use super::server::Server;

/// Bytes a frame's header announces in the large case, as an attacker would.
const ANNOUNCED: u64 = 1_000_000;
/// The largest frame the protocol allows, left 10 bytes short.
const UNDER_CAP: u64 = 16 * 1024 - 10;
/// The longest a slow connection may stay open.
const SLOW_LIMIT: Duration = Duration::from_secs(75);

pub struct HostileOptions {
    pub sockets: usize,
    pub slow: usize,
    pub concurrency: usize,
}

pub async fn run(server: &mut Server, api: &Api, opts: &HostileOptions) -> Result<Summary> {
    let sockets_idle = server.open_sockets()?;
    let mut summary = Summary::new("hostile")
        .with("backend", server.backend)
        .with("sockets", opts.sockets)
        .with("slow", opts.slow)
        .with("rss_idle_kib", server.rss_kib()?);
    let shared = api.open_session("hostile-shared").await?;
    let one_token = vec![shared; opts.sockets];
    let (peak, kept) = half_sent(server, &api.base, &one_token, ANNOUNCED, opts).await?;
    summary = summary
        .with("one_token_rss_peak_kib", peak)
        .with("one_token_kept", kept);
    let sessions = api
        .open_sessions("hostile", opts.sockets, opts.concurrency)
        .await?;
    let (peak, kept) = half_sent(server, &api.base, &sessions, ANNOUNCED, opts).await?;
    summary = summary
        .with("large_rss_peak_kib", peak)
        .with("large_kept", kept);
    let (peak, kept) = half_sent(server, &api.base, &sessions, UNDER_CAP, opts).await?;
    summary = summary
        .with("under_cap_rss_peak_kib", peak)
        .with("under_cap_kept", kept);
    let slow = slowloris(server, api, opts.slow, sockets_idle).await?;
    server.check_alive()?;
    let ok = slow.open_at_limit == 0 && slow.unhealthy == 0;
    Ok(summary
        .with("slow_sockets_peak", slow.sockets_peak)
        .with(
            "slow_all_closed_s",
            format!("{:.1}", slow.closed_after.as_secs_f64()),
        )
        .with("slow_open_at_75s", slow.open_at_limit)
        .with("health_failures", slow.unhealthy)
        .with("rss_end_kib", server.rss_kib()?)
        .with("ok", ok))
}

/// One socket per entry of `sessions`, each sending a frame header announcing `announced`
/// bytes and then all but the last 10 of them (as much as the server takes). Returns the
/// server's peak RSS while they hang on and how many the server still held at the end.
async fn half_sent(
    server: &Server,
    base: &str,
    sessions: &[Opened],
    announced: u64,
    opts: &HostileOptions,
) -> Result<(u64, usize)> {
    let sockets_before = server.open_sockets()?;
    let held: Vec<Option<TcpStream>> = futures_util::stream::iter(sessions)
        .map(|s| async move { start_frame(base, s, announced).await.ok() })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let peak = server.rss_kib()?;
    let kept = server.open_sockets()?.saturating_sub(sockets_before);
    drop(held);
    Ok((peak, kept))
}

/// A WebSocket handshake, then a frame left 10 bytes short of what its header announced.
async fn start_frame(base: &str, s: &Opened, announced: u64) -> Result<TcpStream> {
    let addr = base.trim_start_matches("http://");
    let tcp = TcpStream::connect(addr).await?;
    let url = format!("ws://{addr}/v1/sessions/{}/ws?token={}", s.id, s.token);
    let (ws, _) = client_async(url.into_client_request()?, tcp).await?;
    let mut tcp = ws.into_inner();
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend(announced.to_be_bytes());
    frame.extend([7, 7, 7, 7]);
    frame.resize(frame.len() + announced as usize - 10, b'x');
    // The server may stop reading (or close) at the header; what it refuses is not waited for.
    let _ = tokio::time::timeout(Duration::from_secs(2), tcp.write_all(&frame)).await;
    Ok(tcp)
}

struct Slow {
    sockets_peak: usize,
    closed_after: Duration,
    open_at_limit: usize,
    unhealthy: usize,
}

/// `count` connections, a third each stopping inside the request line, inside the headers,
/// and before a promised body; then how long until the server has closed them all.
async fn slowloris(server: &Server, api: &Api, count: usize, sockets_idle: usize) -> Result<Slow> {
    let addr = api.base.trim_start_matches("http://").to_owned();
    let partial = [
        "GET /healthz HT".to_owned(),
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: a".to_owned(),
        "POST /v1/webhooks/settlement HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{"
            .to_owned(),
    ];
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        let mut tcp = TcpStream::connect(&addr).await?;
        tcp.write_all(partial[i % partial.len()].as_bytes()).await?;
        held.push(tcp);
    }
    let started = Instant::now();
    let mut sockets_peak = 0;
    let mut unhealthy = 0;
    let mut open = usize::MAX;
    while started.elapsed() < SLOW_LIMIT {
        let now_open = server.open_sockets()?.saturating_sub(sockets_idle);
        sockets_peak = sockets_peak.max(now_open);
        let health = api.http().get(format!("{}/healthz", api.base)).send().await;
        if !health.is_ok_and(|r| r.status().is_success()) {
            unhealthy += 1;
        }
        // The health check's own connection may still be counted: allow it.
        open = now_open.saturating_sub(1);
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(held);
    Ok(Slow {
        sockets_peak,
        closed_after: started.elapsed(),
        open_at_limit: open,
        unhealthy,
    })
}
