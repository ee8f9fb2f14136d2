//! Resource limits under hostile clients, over raw TCP where a well-behaved client library
//! would not misbehave: half-sent frames and requests, silent sockets, floods of sockets and
//! connections. Every case ends with the server still answering.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{WebSocketStream, client_async};

use crate::fixtures::shop_with;
use crate::helpers::{Backend, TestApp, assert_error, spawn_app_with};
use crate::shopper::Opened;

/// Longest a test waits for the server to act on a limit set in milliseconds.
const PATIENCE: Duration = Duration::from_secs(10);

async fn tight(adjust: impl FnOnce(&mut countersign::config::Limits)) -> (TestApp, String) {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        let l = &mut c.limits;
        (l.header_timeout_ms, l.request_timeout_ms) = (300, 300);
        (l.frame_timeout_ms, l.idle_timeout_ms, l.pong_timeout_ms) = (300, 400, 300);
        adjust(l);
    })
    .await;
    shop_with(app, None).await
}

/// A WebSocket handshake over a TCP stream the test then drives by hand.
async fn raw_socket(app: &TestApp, s: &Opened) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let url = format!("{}?token={}", app.ws_url(&s.id), s.token);
    let (ws, _) = client_async(url.into_client_request().unwrap(), tcp)
        .await
        .expect("handshake");
    ws
}

/// Everything the server sends until it closes the connection.
async fn until_eof(tcp: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, tcp.read_to_end(&mut got))
        .await
        .expect("the server should close the connection")
        .ok();
    got
}

/// The server's frames (unmasked; payloads under 64 KiB) as (opcode, payload).
fn frames(bytes: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 2 {
        let (opcode, len) = (rest[0] & 0x0f, usize::from(rest[1] & 0x7f));
        let (len, header) = match len {
            126 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            n => (n, 2),
        };
        let Some(payload) = rest.get(header..header + len) else {
            break;
        };
        out.push((opcode, payload));
        rest = &rest[header + len..];
    }
    out
}

/// The code of the server's close frame, if it sent one.
fn close_code(bytes: &[u8]) -> Option<u16> {
    frames(bytes)
        .into_iter()
        .find(|(opcode, _)| *opcode == 0x8)
        .map(|(_, p)| u16::from_be_bytes([p[0], p[1]]))
}

/// A masked client text frame header announcing `len` bytes.
fn text_header(len: u64) -> Vec<u8> {
    let mut h = vec![0x81];
    match len {
        0..=125 => h.push(0x80 | len as u8),
        126..=65535 => {
            h.push(0x80 | 126);
            h.extend((len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend(len.to_be_bytes());
        }
    }
    h.extend([1, 2, 3, 4]);
    h
}

async fn healthy(app: &TestApp) {
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_announced_over_the_cap_closes_the_socket_at_once() {
    let (app, key) = tight(|l| l.frame_timeout_ms = 60_000).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut ws = raw_socket(&app, &s).await;
    let tcp = ws.get_mut();
    tcp.write_all(&text_header(1_000_000)).await.unwrap();
    tcp.write_all(&[0; 1000]).await.unwrap();
    // Long before the frame deadline: the header alone was enough.
    let got = until_eof(tcp).await;
    assert_eq!(close_code(&got), Some(1009));
    assert!(String::from_utf8_lossy(&got).contains("frame_too_large"));
    healthy(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_left_unfinished_is_cut_off_at_its_deadline() {
    let (app, key) = tight(|l| l.idle_timeout_ms = 60_000).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut ws = raw_socket(&app, &s).await;
    let tcp = ws.get_mut();
    tcp.write_all(&text_header(100)).await.unwrap();
    tcp.write_all(&[0; 90]).await.unwrap();
    let got = until_eof(tcp).await;
    assert_eq!(close_code(&got), Some(1008));
    assert!(String::from_utf8_lossy(&got).contains("frame not finished in time"));
    healthy(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_socket_is_pinged_then_closed_and_a_live_one_stays() {
    let (app, key) = tight(|_| {}).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    // A live client answers pings (tungstenite does so while it reads).
    let mut live = raw_socket(&app, &s).await;
    let mut silent = raw_socket(&app, &s).await;
    let pinged_twice = async {
        let mut pings = 0;
        while pings < 2 {
            match live.next().await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(_)) => {}
                other => panic!("the live socket ended: {other:?}"),
            }
        }
    };
    let (got, ()) = tokio::join!(until_eof(silent.get_mut()), async {
        tokio::time::timeout(PATIENCE, pinged_twice)
            .await
            .expect("pinged twice")
    });
    let opcodes: Vec<u8> = frames(&got).iter().map(|(op, _)| *op).collect();
    assert_eq!(opcodes.last(), Some(&0x8), "{opcodes:?}");
    assert!(opcodes.contains(&0x9), "pinged before closing: {opcodes:?}");
    assert_eq!(close_code(&got), Some(1001));
    live.send(Message::text(r#"{"type":"ping"}"#))
        .await
        .unwrap();
    while !matches!(live.next().await, Some(Ok(Message::Text(t))) if t.contains("pong")) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_socket_replaces_the_oldest_and_the_total_is_capped() {
    let (app, key) = tight(|l| {
        (l.sockets_per_session, l.max_sockets) = (2, 3);
        l.idle_timeout_ms = 60_000;
    })
    .await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut first = app.connect(&s).await;
    let _second = app.connect(&s).await;
    let mut third = app.connect(&s).await;
    assert_eq!(
        first.closed().await,
        Some((4001, "replaced by a newer connection".into()))
    );
    let other = app.open_session(&key, json!({"user_id": "u1"})).await;
    let _fourth = app.connect(&other).await;
    // Three open (second, third, fourth): the next is refused before the upgrade.
    let r = app
        .http
        .get(app.url(&format!(
            "/v1/sessions/{}/ws?token={}",
            other.id, other.token
        )))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    let got = crate::helpers::read(r).await;
    assert_error(&got, 503, "overloaded", "sockets");
    third.send(json!({"type": "ping"})).await;
    third.until("pong").await;
}

/// A raw HTTP/1.1 request sent up to `sent`, then silence; what the server answered.
async fn stall(app: &TestApp, sent: &str) -> String {
    let mut tcp = TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    tcp.write_all(sent.as_bytes()).await.unwrap();
    String::from_utf8_lossy(&until_eof(&mut tcp).await).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_are_closed_and_a_missing_body_gets_408() {
    let (app, key) = tight(|_| {}).await;
    assert_eq!(stall(&app, "GET /heal").await, "", "partial request line");
    assert_eq!(
        stall(&app, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await,
        ""
    );
    let kept = stall(&app, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(
        kept.starts_with("HTTP/1.1 200"),
        "an idle keep-alive closes too: {kept}"
    );
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"user_id\""
    );
    let answer = stall(&app, &head).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "request_timeout");
    healthy(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_over_their_cap_get_503_in_json() {
    let (app, key) = tight(|l| {
        l.max_requests = 1;
        (l.header_timeout_ms, l.request_timeout_ms) = (60_000, 60_000);
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // One request holds the only request place while its body never comes.
    let head = format!(
        "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    let hold = || async {
        let mut holder = TcpStream::connect(&addr).await.unwrap();
        holder.write_all(head.as_bytes()).await.unwrap();
        holder
    };
    let shed = tokio::time::timeout(PATIENCE, async {
        let mut holder = hold().await;
        loop {
            let r = app.http.get(app.url("/healthz")).send().await.unwrap();
            if r.status() == 503 {
                return (r, holder);
            }
            // A probe that held the place when the holder arrived got the holder shed
            // instead: the holder has an answer (or was closed). Send it again.
            let mut answer = [0u8; 64];
            if !matches!(holder.try_read(&mut answer), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock) {
                holder = hold().await;
            }
        }
    })
    .await;
    let (shed, holder) = shed.expect("a request is shed while another holds the only place");
    assert_eq!(shed.headers()["retry-after"], "1");
    let got = crate::helpers::read(shed).await;
    assert_error(&got, 503, "overloaded", "requests");
    drop(holder);
}

/// The status line a fresh keep-alive connection gets for `GET /healthz`; the connection
/// stays open, holding its place.
async fn health_on_new_connection(addr: &str) -> (TcpStream, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, tcp.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(n > 0, "closed before an answer");
        got.extend(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    (tcp, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_their_cap_get_503_in_json() {
    let (app, _) = tight(|l| {
        l.max_connections = 4;
        l.header_timeout_ms = 60_000;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Some places may be held by the test client's pooled connections: fill the rest.
    let mut held = Vec::new();
    let refused = loop {
        let (tcp, answer) = health_on_new_connection(&addr).await;
        if !answer.starts_with("HTTP/1.1 200") {
            break (tcp, answer);
        }
        held.push(tcp);
        assert!(held.len() <= 4, "more connections than the cap were served");
    };
    let (mut tcp, head) = refused;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let rest = String::from_utf8_lossy(&until_eof(&mut tcp).await).into_owned();
    assert!((head + &rest).contains(r#""code":"overloaded""#));
    // A place freed is a place taken again.
    drop(held.pop());
    let served = tokio::time::timeout(PATIENCE, async {
        loop {
            let (tcp, answer) = health_on_new_connection(&addr).await;
            if answer.starts_with("HTTP/1.1 200") {
                return tcp;
            }
        }
    });
    served.await.expect("served once a place is free");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_webhooks_and_unreadable_signatures_get_json_errors() {
    let (app, _) = tight(|_| {}).await;
    // A 10 MB body announced: refused from its length, before the body is read.
    for path in ["/v1/webhooks/settlement", "/v1/webhooks/alipay"] {
        let head =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\nxxxx");
        let answer = stall(&app, &head).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    }
    let r = app
        .http
        .post(app.url("/v1/webhooks/settlement"))
        .header("countersign-signature", &b"t=1,v1=\xff"[..])
        .body("{}")
        .send()
        .await
        .unwrap();
    let got = crate::helpers::read(r).await;
    assert_error(&got, 401, "invalid_signature", "not ASCII");
}
