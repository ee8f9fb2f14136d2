//! A dropped socket: the page reconnects, sends `resume`, and shows what it missed, each
//! frame once and in order.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::{DESKTOP, PATIENCE, Page, Server, in_browser};

/// The frames the chat draws as log entries, by seq.
fn drawn(frames: &[Value]) -> Vec<i64> {
    let shown = ["agent_message", "clarify", "menu", "confirmation_required"];
    frames
        .iter()
        .filter(|f| shown.iter().any(|t| f["type"] == *t))
        .map(|f| f["seq"].as_i64().unwrap())
        .collect()
}

/// The seqs of the page's log entries, in document order.
async fn entries(page: &Page) -> anyhow::Result<Vec<i64>> {
    let seqs = page
        .js(
            "return [...document.querySelectorAll('#log > li[data-seq]')].map(li => Number(li.dataset.seq))",
            vec![],
        )
        .await?;
    Ok(seqs
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect())
}

/// Another device of the same shopper says something over its own socket and waits for the
/// server's answer of `kind`.
async fn from_another_device(server: &Server, id: &str, token: &str, text: &str, kind: &str) {
    let url = format!(
        "{}/v1/sessions/{id}/ws?token={token}",
        server.base.replacen("http", "ws", 1)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("socket");
    let frame = json!({"type": "user_message", "text": text});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    let wait = async {
        while let Some(Ok(m)) = ws.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == kind {
                    return;
                }
            }
        }
        panic!("the socket closed before a {kind} frame");
    };
    tokio::time::timeout(PATIENCE, wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} frame within {PATIENCE:?}"));
    let _ = ws.close(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_reconnects_and_shows_what_it_missed_once() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("reconnect_catches_up", server, DESKTOP, |page| async move {
        page.goto("/").await?;
        page.find(".connection[data-conn=online]").await?;
        page.type_into("#text", "refund order 1042, it arrived broken\u{E007}")
            .await?;
        page.find("#log button.choice[data-id=full]").await?;
        let session = page
            .js("return window.__countersign.session()", vec![])
            .await?;
        let id = session["session_id"].as_str().unwrap().to_owned();
        let token = session["client_token"].as_str().unwrap().to_owned();

        // Down, and kept down while the conversation moves on elsewhere.
        page.js("window.__countersign.dropSocket({hold: true})", vec![])
            .await?;
        page.find(".connection[data-conn=offline]").await?;
        page.find("#send:disabled").await?;
        from_another_device(server, &id, &token, "full", "confirmation_required").await;
        assert!(page.texts(".confirmation").await?.is_empty());

        // Back: the page resumes from the last seq it applied and catches up.
        page.js("window.__countersign.resumeSocket()", vec![])
            .await?;
        page.find(".connection[data-conn=online]").await?;
        page.find(".confirmation[data-state=open]").await?;
        let signed = server.signed_summary(&id).await;
        assert_eq!(page.text(".confirmation .summary").await?, signed);
        assert_eq!(entries(&page).await?, drawn(&server.frames(&id).await));

        // A full replay changes nothing on the page…
        page.js("window.__countersign.replayAll()", vec![]).await?;
        // …and neither does a plain drop that the page recovers from by itself.
        let before = page
            .js("return window.__countersign.connections()", vec![])
            .await?;
        let before = before.as_i64().unwrap();
        page.js("window.__countersign.dropSocket()", vec![]).await?;
        page.until("an automatic reconnection", PATIENCE, || async {
            let now = page
                .js("return window.__countersign.connections()", vec![])
                .await?;
            Ok((now.as_i64() > Some(before)).then_some(()))
        })
        .await?;
        page.find(".connection[data-conn=online]").await?;

        page.click(".confirmation[data-state=open] button[data-action=confirm]")
            .await?;
        // Wait for the end of the flow, so no frame is still on its way when we compare.
        page.find("#timeline li[data-state=settled]:not([data-status=upcoming])")
            .await?;
        let stored = server.frames(&id).await;
        let shown = entries(&page).await?;
        assert_eq!(shown, drawn(&stored), "each frame once, in order");
        assert_eq!(page.texts(".confirmation").await?.len(), 1);
        let last = page
            .js("return window.__countersign.lastSeq()", vec![])
            .await?;
        let status_seq = stored
            .iter()
            .rev()
            .find(|f| f["type"] == "status" && f["state"] == "pending_risk_check")
            .map(|f| f["seq"].as_i64().unwrap());
        assert!(last.as_i64() >= status_seq, "{last} < {status_seq:?}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_socket_another_window_took_says_so_and_waits() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser(
        "replaced_socket_waits",
        server,
        DESKTOP,
        |page| async move {
            page.goto("/").await?;
            page.find(".connection[data-conn=online]").await?;
            let session = page
                .js("return window.__countersign.session()", vec![])
                .await?;
            let (id, token) = (&session["session_id"], &session["client_token"]);
            let url = format!(
                "{}/v1/sessions/{}/ws?token={}",
                server.base.replacen("http", "ws", 1),
                id.as_str().unwrap(),
                token.as_str().unwrap()
            );
            // Four newer sockets on the session: the page's, the oldest, is told to go.
            let mut others = Vec::new();
            for _ in 0..4 {
                others.push(tokio_tungstenite::connect_async(&url).await?.0);
            }
            page.find(".connection[data-conn=offline]").await?;
            assert_eq!(
                page.text("#connection-text").await?,
                "This conversation is open in another window."
            );
            let opened = page
                .js("return window.__countersign.connections()", vec![])
                .await?;
            assert_eq!(
                opened, 1,
                "it does not take the conversation back by itself"
            );
            page.click("#reconnect").await?;
            page.find(".connection[data-conn=online]").await?;
            Ok(())
        },
    )
    .await;
}
