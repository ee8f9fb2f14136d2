//! The merchant's HTTP calls and the shopper's WebSocket, as a load client makes them.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a client waits for a frame the server owes it.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
    key: String,
}

/// A session as the merchant opened it.
#[derive(Clone)]
pub struct Opened {
    pub id: String,
    pub token: String,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            http: countersign::http_client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("an HTTP client"),
            base: base.to_owned(),
            key: key.to_owned(),
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let res = req.bearer_auth(&self.key).send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{status}: {body}");
        }
        Ok(body)
    }

    /// Puts an order of `value` CNY for `user` into the merchant's book.
    pub async fn put_order(&self, id: &str, user: &str, value: &str) -> Result<()> {
        let order = json!({"user_id": user, "amount": {"value": value, "currency": "CNY"}});
        let url = format!("{}/v1/orders/{id}", self.base);
        self.send(self.http.put(url).json(&order)).await.map(drop)
    }

    pub async fn open_session(&self, user: &str) -> Result<Opened> {
        let url = format!("{}/v1/sessions", self.base);
        let body = self
            .send(self.http.post(url).json(&json!({"user_id": user})))
            .await?;
        let field = |k: &str| {
            body[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("no {k} in {body}"))
        };
        Ok(Opened {
            id: field("session_id")?,
            token: field("client_token")?,
        })
    }

    /// Opens `count` sessions for shoppers `{prefix}-0`, `{prefix}-1`, …, `concurrency` at
    /// a time.
    pub async fn open_sessions(
        &self,
        prefix: &str,
        count: usize,
        concurrency: usize,
    ) -> Result<Vec<Opened>> {
        futures_util::stream::iter(0..count)
            .map(|i| async move { self.open_session(&format!("{prefix}-{i}")).await })
            .buffer_unordered(concurrency.max(1))
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect()
    }

    pub async fn session(&self, id: &str) -> Result<Value> {
        let url = format!("{}/v1/sessions/{id}", self.base);
        self.send(self.http.get(url)).await
    }

    /// The kinds of the session's events, in order.
    pub async fn event_kinds(&self, id: &str) -> Result<Vec<String>> {
        let url = format!("{}/v1/sessions/{id}/events", self.base);
        let body = self.send(self.http.get(url)).await?;
        let events = body["events"].as_array().context("no events")?;
        Ok(events
            .iter()
            .filter_map(|e| e["event"].as_str().map(str::to_owned))
            .collect())
    }

    /// The value of one sample in the server's Prometheus text, or 0 when absent.
    pub async fn metric(&self, sample: &str) -> Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0))
    }
}

pub struct Socket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    pub async fn connect(base: &str, s: &Opened) -> Result<Socket> {
        let url = format!(
            "{}/v1/sessions/{}/ws?token={}",
            base.replacen("http", "ws", 1),
            s.id,
            s.token
        );
        let connect = tokio_tungstenite::connect_async_with_config(url, None, true);
        let (ws, _) = tokio::time::timeout(PATIENCE, connect)
            .await
            .map_err(|_| anyhow!("no WebSocket handshake within {PATIENCE:?}"))??;
        Ok(Socket { ws })
    }

    pub async fn send(&mut self, frame: Value) -> Result<()> {
        self.ws.send(Message::text(frame.to_string())).await?;
        Ok(())
    }

    /// The next JSON frame.
    pub async fn next(&mut self) -> Result<Value> {
        self.next_within(PATIENCE)
            .await?
            .ok_or_else(|| anyhow!("no frame within {PATIENCE:?}"))
    }

    /// The next JSON frame, or `None` when none arrives within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Result<Option<Value>> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let Ok(m) = tokio::time::timeout_at(deadline, self.ws.next()).await else {
                return Ok(None);
            };
            if let Message::Text(text) = m.ok_or_else(|| anyhow!("the socket closed"))?? {
                return Ok(Some(serde_json::from_str(&text)?));
            }
        }
    }

    /// Reads until a frame satisfies `wanted`; an `error` frame ends the wait.
    pub async fn until(&mut self, wanted: impl Fn(&Value) -> bool) -> Result<Value> {
        loop {
            let f = self.next().await?;
            if wanted(&f) {
                return Ok(f);
            }
            if f["type"] == "error" {
                bail!("error frame: {f}");
            }
        }
    }

    /// Reads until a `status` frame for one of `states`.
    pub async fn until_state(&mut self, states: &[&str]) -> Result<Value> {
        self.until(|f| f["type"] == "status" && states.iter().any(|s| f["state"] == *s))
            .await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
