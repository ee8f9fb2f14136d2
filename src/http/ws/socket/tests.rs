//! The connection logic driven through channels instead of a WebSocket.

use futures_util::{sink, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::config::Config;
use crate::domain::PolicyDoc;

struct Client {
    to_server: mpsc::Sender<Inbound>,
    from_server: mpsc::Receiver<String>,
}

impl Client {
    async fn say(&self, frame: Value) {
        self.to_server
            .send(Inbound::Text(frame.to_string()))
            .await
            .unwrap();
    }

    async fn until(&mut self, kind: &str) -> Value {
        loop {
            let text = self.from_server.recv().await.expect("server hung up");
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn app_with_session(dir: &tempfile::TempDir) -> (AppState, SessionId) {
    let now = crate::clock::now();
    let (store, keys, id) = crate::testing::shop(dir, PolicyDoc::default(), now).await;
    let app = AppState::new(
        store,
        keys,
        Config::default(),
        crate::app::Reader::offline(),
    )
    .unwrap();
    (app, id)
}

fn connect(app: &AppState, id: SessionId) -> (Client, tokio::task::JoinHandle<()>) {
    let (in_tx, in_rx) = mpsc::channel::<Inbound>(8);
    let (out_tx, out_rx) = mpsc::channel::<String>(64);
    let inbound = Box::pin(stream::unfold(in_rx, |mut rx| async move {
        rx.recv().await.map(|m| (m, rx))
    }));
    let outbound = Box::pin(sink::unfold(out_tx, |tx, text: String| async move {
        tx.send(text).await.map(|_| tx).map_err(|_| "closed")
    }));
    let live = app.flow.hub.subscribe(id);
    let task = tokio::spawn(run(app.clone(), id, live, outbound, inbound));
    (
        Client {
            to_server: in_tx,
            from_server: out_rx,
        },
        task,
    )
}

#[tokio::test]
async fn a_turn_through_channels_reaches_consent() {
    let dir = tempfile::tempdir().unwrap();
    let (app, id) = app_with_session(&dir).await;
    let (mut client, _task) = connect(&app, id);
    assert_eq!(client.until("agent_message").await["seq"], 1);
    client
        .say(json!({"type": "user_message", "text": "退款订单 1042 全额"}))
        .await;
    let c = client.until("confirmation_required").await;
    client
        .say(json!({"type": "confirm", "token": c["token"]}))
        .await;
    let status = client.until("status").await;
    assert_eq!(status["state"], "pending_risk_check");
    client.to_server.send(Inbound::Binary).await.unwrap();
    assert_eq!(client.until("error").await["code"], "binary_frame");
}

#[tokio::test]
async fn a_second_connection_resumes_and_the_hub_forgets_closed_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let (app, id) = app_with_session(&dir).await;
    let (mut first, task) = connect(&app, id);
    first.until("agent_message").await;
    drop(first);
    task.await.unwrap();
    assert!(
        app.flow.hub.is_empty(),
        "nobody listens, so the hub keeps nothing"
    );
    let (mut second, _task) = connect(&app, id);
    second.say(json!({"type": "resume", "last_seq": 0})).await;
    let replayed = second.until("agent_message").await;
    assert_eq!(
        replayed["seq"], 1,
        "the greeting is stored once and replayed"
    );
}
