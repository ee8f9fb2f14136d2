//! The chat page: a refund typed, answered with a button, countersigned, and followed to
//! settlement in the status timeline — on a phone-sized window.

use std::time::Duration;

use crate::harness::{PHONE, Server, in_browser};

/// Longest a confirmed demo refund may take to settle through the sandbox provider.
pub const SETTLE_PATIENCE: Duration = Duration::from_secs(45);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_typed_in_the_chat_is_countersigned_and_settles() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("chat_refund_settles", server, PHONE, |page| async move {
        page.goto("/").await?;
        page.find(".connection[data-conn=online]").await?;
        page.find("#log .msg.agent").await?; // the greeting

        // Enter sends.
        let typed = "refund order 1042, it arrived broken";
        page.type_into("#text", &format!("{typed}\u{E007}")).await?;
        let said = page.text("#log .msg.shopper").await?;
        assert!(said.ends_with(typed), "{said:?}");
        assert_eq!(
            page.js("return document.querySelector('#text').value", vec![])
                .await?,
            ""
        );

        page.click("#log button.choice[data-id=full]").await?;
        let card = ".confirmation[data-state=open]";
        page.find(card).await?;
        // The answered button is disabled; focus moves to what is to be agreed to.
        let focused = "return document.activeElement.matches('.confirmation .summary')";
        assert_eq!(
            page.js(focused, vec![]).await?,
            true,
            "focus on the summary"
        );
        let id = page.session_id().await?;
        let signed = server.signed_summary(&id).await;
        assert!(
            signed.contains("1042") && signed.contains("128.00"),
            "{signed}"
        );
        assert_eq!(page.text(&format!("{card} .summary")).await?, signed);
        assert_eq!(page.text(&format!("{card} .amount-value")).await?, "128.00");
        assert_eq!(page.text(&format!("{card} .amount-currency")).await?, "CNY");
        let countdown = page.text(&format!("{card} .countdown")).await?;
        assert!(
            countdown.starts_with("Expires in 4:") || countdown == "Expires in 5:00",
            "{countdown:?}"
        );
        assert_eq!(page.texts(".confirmation").await?.len(), 1);

        page.click(&format!("{card} button[data-action=confirm]"))
            .await?;
        page.find(".confirmation[data-state=confirmed]").await?;
        page.find("#timeline li[data-state=pending_risk_check]:not([data-status=upcoming])")
            .await?;
        page.find("#timeline li[data-state=awaiting_confirmation][data-status=done]")
            .await?;
        assert_ne!(server.session_state(&id).await, "awaiting_confirmation");

        // The sandbox provider settles by webhook a moment later.
        page.until(
            "the settled step in the timeline",
            SETTLE_PATIENCE,
            || async {
                let done = page
                    .texts("#timeline li[data-state=settled][data-status=done]")
                    .await?;
                Ok((!done.is_empty()).then_some(()))
            },
        )
        .await?;
        page.find("#timeline li[data-state=submitted][data-status=done]")
            .await?;
        assert_eq!(server.session_state(&id).await, "settled");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_demo_merchant_the_pages_say_so_plainly() {
    let server = Server::without_demo().await;
    let server = &server;
    in_browser("no_demo", server, PHONE, |page| async move {
        page.goto("/").await?;
        let notice = page.text("#notice:not([hidden])").await?;
        assert!(notice.contains("no demo shopper"), "{notice:?}");
        let disabled = page
            .js("return document.querySelector('#text').disabled", vec![])
            .await?;
        assert_eq!(disabled, true);

        page.goto("/menu").await?;
        let notice = page.text("#notice:not([hidden])").await?;
        assert!(notice.contains("no demo shopper"), "{notice:?}");
        assert!(!page.overflows_sideways().await?);
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_the_card_moves_nothing_and_closes_the_conversation() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("chat_cancel", server, PHONE, |page| async move {
        page.goto("/").await?;
        page.find(".connection[data-conn=online]").await?;
        page.type_into("#text", "退款订单 1042\u{E007}").await?;
        let question = page.text("#log .answer .msg.agent").await?;
        assert!(question.contains("订单 1042"), "{question:?}");
        page.click("#log button.choice[data-id=full]").await?;
        page.click(".confirmation[data-state=open] button[data-action=cancel]")
            .await?;
        page.find(".confirmation[data-state=cancelled]").await?;
        page.find("#timeline li[data-state=cancelled]").await?;
        page.find("#restart:not([hidden])").await?;
        page.find("#text:disabled").await?;
        let id = page.session_id().await?;
        assert_eq!(server.session_state(&id).await, "cancelled");
        // The server's closing sentence is shown as it was sent.
        let frames = server.frames(&id).await;
        let last_said = frames
            .iter()
            .rev()
            .find(|f| f["type"] == "agent_message")
            .and_then(|f| f["text"].as_str())
            .unwrap()
            .to_owned();
        let said = page.texts("#log .msg.agent").await?;
        assert!(
            said.last().is_some_and(|s| s.ends_with(&last_said)),
            "{said:?}"
        );
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_handed_to_the_page_counts_down_and_expires() {
    use reqwest::Method;
    use serde_json::json;

    let server = Server::with_demo().await;
    let server = &server;
    // A merchant whose confirmations last five seconds, and a session it opens itself.
    let policy = json!({"confirmation_ttl_seconds": 5});
    let policy = countersign::merchants::validate_policy(Some(&policy)).expect("policy");
    let id = countersign::domain::MerchantId::parse("brisk").unwrap();
    let store = server.state.store.as_ref();
    let creds = countersign::merchants::create(store, &server.state.keys, id, policy)
        .await
        .expect("merchant");
    let key = creds.expose().api_key.clone();
    let order = json!({"user_id": "u1", "amount": {"value": "42.00", "currency": "CNY"}});
    let (status, body) = server
        .call(Method::PUT, "/v1/orders/7", &key, Some(order))
        .await;
    assert!(status < 300, "{status}: {body}");

    in_browser("chat_expires", server, PHONE, |page| async move {
        // Opened once the browser is up, so the short confirmation is still fresh.
        let opened = json!({"user_id": "u1", "text": "refund order 7 in full"});
        let (status, opened) = server
            .call(Method::POST, "/v1/sessions", &key, Some(opened))
            .await;
        assert_eq!(status, 201, "{opened}");
        let session = opened["session_id"].as_str().unwrap();
        let token = opened["client_token"].as_str().unwrap();
        page.goto(&format!("/#session={session}&token={token}"))
            .await?;
        page.find(".confirmation[data-state=open]").await?;
        // The token left the address bar once read.
        let hash = page.js("return location.hash", vec![]).await?;
        assert_eq!(hash, "");
        let countdown = page.text(".confirmation .countdown").await?;
        assert!(countdown.starts_with("Expires in 0:0"), "{countdown:?}");
        page.find(".confirmation[data-state=expired]").await?;
        page.find(".confirmation button[data-action=confirm]:disabled")
            .await?;
        page.find("#timeline li[data-state=expired]").await?;
        assert_eq!(server.session_state(session).await, "expired");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_question_is_said_once_and_the_stream_cleared() {
    let server = Server::with_demo_and_model().await;
    let server = &server;
    in_browser("chat_streamed_question", server, PHONE, |page| async move {
        page.goto("/").await?;
        page.find(".connection[data-conn=online]").await?;
        // No order number: the model's reading leaves the order open, and the question
        // about it is streamed in pieces before the clarify frame says it whole.
        page.type_into("#text", "I want a refund please\u{E007}")
            .await?;
        page.find("#log button.choice[data-id='1042']").await?;
        let hidden = "return document.querySelector('#streaming').hidden \
                      && document.querySelector('#streaming').textContent === ''";
        assert_eq!(
            page.js(hidden, vec![]).await?,
            true,
            "the stream was cleared"
        );
        let said = page.texts("#log").await?.concat();
        assert_eq!(
            said.matches("Which order do you mean?").count(),
            1,
            "{said}"
        );
        let id = countersign::domain::SessionId::parse(&page.session_id().await?)?;
        let frames = server.state.store.frames_after(id, 0, 100).await?;
        assert!(
            frames.iter().any(|f| f.frame["type"] == "agent_delta"),
            "the question was streamed"
        );

        page.click("#log button.choice[data-id='1042']").await?;
        page.find(".confirmation[data-state=open]").await?;
        assert_eq!(page.js(hidden, vec![]).await?, true);
        Ok(())
    })
    .await;
}
