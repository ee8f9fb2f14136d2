//! `idle`: many shoppers' sockets held open at once; the server's resident memory is read
//! from /proc before and after they connect.

use anyhow::{Result, bail};
use futures_util::StreamExt;
use serde_json::json;

use super::Summary;
use super::client::{Api, Socket};

#[derive(Debug, Default)]
pub struct IdleReport {
    pub sockets: usize,
    /// Sockets that answered a ping while all were open.
    pub alive: usize,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
}

/// Opens `count` sessions, then a socket on each; every socket must answer a ping.
/// `rss` reads the server's resident memory in KiB.
pub async fn run(
    api: &Api,
    count: usize,
    concurrency: usize,
    rss: impl Fn() -> Result<u64>,
) -> Result<IdleReport> {
    let opened = api
        .open_sessions("idle-shopper", count, concurrency)
        .await?;
    let rss_before_kib = rss()?;
    let sockets = futures_util::stream::iter(&opened)
        .map(|s| Socket::connect(&api.base, s))
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let alive = futures_util::stream::iter(sockets)
        .map(|mut s| async move {
            let answered = s.send(json!({"type": "ping"})).await.is_ok()
                && s.until(|f| f["type"] == "pong").await.is_ok();
            (s, answered)
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    let rss_after_kib = rss()?;
    let answered = alive.iter().filter(|(_, ok)| *ok).count();
    if answered == 0 && count > 0 {
        bail!("no socket answered a ping");
    }
    for (s, _) in alive {
        s.close().await;
    }
    Ok(IdleReport {
        sockets: count,
        alive: answered,
        rss_before_kib,
        rss_after_kib,
    })
}

impl IdleReport {
    pub fn ok(&self) -> bool {
        self.alive == self.sockets
    }

    pub fn summary(&self, backend: &str) -> Summary {
        let grown = self.rss_after_kib.saturating_sub(self.rss_before_kib);
        let per_socket = grown as f64 * 1024.0 / self.sockets.max(1) as f64;
        Summary::new("idle")
            .with("backend", backend)
            .with("sockets", self.sockets)
            .with("alive", self.alive)
            .with(
                "rss_before_mib",
                format!("{:.1}", self.rss_before_kib as f64 / 1024.0),
            )
            .with(
                "rss_mib",
                format!("{:.1}", self.rss_after_kib as f64 / 1024.0),
            )
            .with("bytes_per_socket", format!("{per_socket:.0}"))
            .with("ok", self.ok())
    }
}
