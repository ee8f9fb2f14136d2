//! A shopper's client: a real WebSocket (tokio-tungstenite) speaking the frame protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::helpers::TestApp;

/// Longest a test waits for a frame the server owes it before failing.
const PATIENCE: Duration = Duration::from_secs(15);

pub struct Shopper {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Every frame received, in order.
    pub seen: Vec<Value>,
}

/// A session opened by the merchant: its id and the shopper's token.
pub struct Opened {
    pub id: String,
    pub token: String,
}

impl TestApp {
    pub async fn open_session(&self, api_key: &str, body: Value) -> Opened {
        let (status, opened) = self.post("/v1/sessions", api_key, &body).await;
        assert_eq!(status, 201, "{opened}");
        Opened {
            id: opened["session_id"].as_str().unwrap().to_owned(),
            token: opened["client_token"].as_str().unwrap().to_owned(),
        }
    }

    pub fn ws_url(&self, id: &str) -> String {
        format!(
            "{}/v1/sessions/{id}/ws",
            self.base.replacen("http", "ws", 1)
        )
    }

    /// Connects with the token in the Authorization header.
    pub async fn connect(&self, s: &Opened) -> Shopper {
        let mut req = self.ws_url(&s.id).into_client_request().unwrap();
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", s.token).parse().unwrap(),
        );
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket");
        Shopper {
            ws,
            seen: Vec::new(),
        }
    }
}

impl Shopper {
    /// Connects to any instance's socket URL with a client token.
    pub async fn connect_to(ws_url: &str, token: &str) -> Shopper {
        let url = format!("{ws_url}?token={token}");
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket");
        Shopper {
            ws,
            seen: Vec::new(),
        }
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_raw(Message::text(frame.to_string())).await;
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    pub async fn say(&mut self, text: &str) {
        self.send(json!({"type": "user_message", "text": text}))
            .await;
    }

    /// The next frame, checked against the server schema.
    pub async fn next(&mut self) -> Value {
        loop {
            let m = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no frame within {PATIENCE:?}; seen {:#?}", self.seen))
                .expect("socket closed")
                .expect("socket error");
            if let Message::Text(text) = m {
                let v: Value = serde_json::from_str(&text).expect("JSON frame");
                let valid = countersign::schema::check(&countersign::schema::WS_SERVER, &v);
                assert_eq!(
                    valid,
                    Ok(()),
                    "frame does not match ws-server.schema.json: {v}"
                );
                self.seen.push(v.clone());
                return v;
            }
        }
    }

    /// Reads until a frame of `kind` arrives and returns it.
    pub async fn until(&mut self, kind: &str) -> Value {
        loop {
            let f = self.next().await;
            if f["type"] == kind {
                return f;
            }
        }
    }

    /// Reads until a `status` frame for `state`.
    pub async fn until_state(&mut self, state: &str) -> Value {
        loop {
            let f = self.until("status").await;
            if f["state"] == state {
                return f;
            }
        }
    }

    /// Reads until the server closes the socket; its close code and reason, if it sent one.
    pub async fn closed(&mut self) -> Option<(u16, String)> {
        loop {
            let m = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("still open after {PATIENCE:?}; seen {:#?}", self.seen));
            match m {
                Some(Ok(Message::Close(frame))) => {
                    return frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                }
                Some(Ok(Message::Text(text))) => self
                    .seen
                    .push(serde_json::from_str(&text).expect("JSON frame")),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
