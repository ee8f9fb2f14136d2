//! The review queue: a refund above the merchant's `review_above` waits in manual review; an
//! operator approves it in the page and it leaves the queue.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{PHONE, Server, in_browser, in_browser_speaking};

/// Longest the risk check may take to put a confirmed refund into manual review.
const REVIEW_PATIENCE: Duration = Duration::from_secs(20);

/// Opens a session for the demo shopper with the merchant's key and walks the HTTP menu to a
/// countersigned full refund of `order`; answers the session id.
async fn confirmed_refund(server: &Server, order: &str) -> String {
    let key = server.demo_key();
    let (status, opened) = server
        .call(
            Method::POST,
            "/v1/sessions",
            key,
            Some(json!({"user_id": "demo-shopper", "channel": "menu"})),
        )
        .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["session_id"].as_str().unwrap().to_owned();
    let token = opened["client_token"].as_str().unwrap().to_owned();
    let menu = format!("/v1/sessions/{id}/menu");
    let (status, view) = server.call(Method::GET, &menu, &token, None).await;
    assert_eq!(status, 200, "{view}");
    let mut view = view;
    for option in ["refund", order, "full", "damaged"] {
        let step = json!({"type": "menu_select", "option_id": option});
        let (status, next) = server.call(Method::POST, &menu, &token, Some(step)).await;
        assert_eq!(status, 200, "{option}: {next}");
        view = next;
    }
    let confirmation: &Value = &view["confirmation"];
    let summary = confirmation["payload"]["summary"]
        .as_str()
        .unwrap_or_default();
    assert!(summary.contains("800.00"), "{view}");
    let consent = json!({"type": "confirm", "token": confirmation["token"]});
    let (status, view) = server
        .call(Method::POST, &menu, &token, Some(consent))
        .await;
    assert_eq!(status, 200, "{view}");
    id
}

/// A countersigned full refund of a new order `order` of 800.00 CNY, waiting in manual
/// review (review_above is 500.00 by default); answers the session id.
async fn held_refund(server: &Server, order: &str) -> String {
    let body = json!({
        "user_id": "demo-shopper",
        "amount": {"value": "800.00", "currency": "CNY"},
        "description": "Tea table",
    });
    let path = format!("/v1/orders/{order}");
    let (status, answer) = server
        .call(Method::PUT, &path, server.demo_key(), Some(body))
        .await;
    assert!(status == 200 || status == 201, "{status}: {answer}");
    let id = confirmed_refund(server, order).await;
    server
        .until_state(&id, "manual_review", REVIEW_PATIENCE)
        .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approves_a_held_refund_and_it_leaves_the_queue() {
    let server = Server::with_demo().await;
    let server = &server;
    let id = held_refund(server, "2001").await;

    let key = server.demo_key().to_owned();
    in_browser("operator_approves", server, PHONE, |page| async move {
        page.goto("/operator").await?;
        page.type_into("#api-key", &key).await?;
        page.type_into("#reviewer", "Ops Tester\u{E007}").await?;
        let card = format!("#reviews li.review[data-session='{id}']");
        page.find(&card).await?;
        // The key went into memory, not into the page or the browser's storage.
        let kept = page
            .js(
                "return [document.querySelector('#api-key').value, localStorage.length, sessionStorage.length]",
                vec![],
            )
            .await?;
        assert_eq!(kept, json!(["", 0, 0]));
        let title = page.text(&format!("{card} h3")).await?;
        assert!(title.contains("800.00 CNY") && title.contains("2001"), "{title:?}");
        let codes = page.texts(&format!("{card} .codes code")).await?;
        assert!(!codes.is_empty(), "the rules that fired are listed");
        assert!(!page.overflows_sideways().await?);

        page.type_into(&format!("{card} input[type=text]"), "Customer called; photo of the damage")
            .await?;
        page.click(&format!("{card} button[data-decision=approve]")).await?;
        page.until_gone(&card).await?;
        let decided = page.text("#decided li").await?;
        assert!(decided.starts_with("Approved"), "{decided:?}");
        let state = server.session_state(&id).await;
        assert!(
            ["submitted", "settled"].contains(&state.as_str()),
            "approved session is {state}"
        );

        // A refresh does not bring it back.
        page.click("#refresh").await?;
        page.find("#queue-status").await?;
        page.until_gone(&card).await?;
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_speaks_chinese_to_a_browser_set_to_chinese() {
    let server = Server::with_demo().await;
    let server = &server;
    let id = held_refund(server, "2002").await;

    let key = server.demo_key().to_owned();
    in_browser_speaking("operator_zh", server, PHONE, "zh-CN", |page| async move {
        page.goto("/operator").await?;
        assert_eq!(page.text("h1").await?, "人工审核队列");
        assert_eq!(page.text("#open-queue").await?, "打开队列");
        page.type_into("#api-key", &key).await?;
        page.type_into("#reviewer", "值班员\u{E007}").await?;
        let card = format!("#reviews li.review[data-session='{id}']");
        page.find(&card).await?;
        let title = page.text(&format!("{card} h3")).await?;
        assert!(
            title.starts_with("退款 800.00 CNY · 订单 2002"),
            "{title:?}"
        );
        let approve = format!("{card} button[data-decision=approve]");
        assert_eq!(page.text(&approve).await?, "批准");
        page.click(&approve).await?;
        page.until_gone(&card).await?;
        let decided = page.text("#decided li").await?;
        assert!(decided.starts_with("已批准"), "{decided:?}");
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_refund_shows_what_its_model_calls_cost() {
    let server = Server::with_demo_and_model().await;
    let server = &server;
    let key = server.demo_key().to_owned();
    // The model reads the opening text; 880.00 waits for an operator.
    let opened = json!({"user_id": "demo-shopper", "text": "refund order 1036 in full"});
    let (status, opened) = server
        .call(Method::POST, "/v1/sessions", &key, Some(opened))
        .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["session_id"].as_str().unwrap().to_owned();
    let token = opened["client_token"].as_str().unwrap().to_owned();
    let menu = format!("/v1/sessions/{id}/menu");
    let (status, view) = server.call(Method::GET, &menu, &token, None).await;
    assert_eq!(status, 200, "{view}");
    let consent = json!({"type": "confirm", "token": view["confirmation"]["token"]});
    let (status, view) = server
        .call(Method::POST, &menu, &token, Some(consent))
        .await;
    assert_eq!(status, 200, "{view}");
    server
        .until_state(&id, "manual_review", REVIEW_PATIENCE)
        .await;
    let (_, session) = server
        .call(Method::GET, &format!("/v1/sessions/{id}"), &key, None)
        .await;
    let cost = &session["cost"];
    let calls = cost["model_calls"].as_u64().unwrap();
    assert!(calls > 0, "{session}");
    let plural = if calls == 1 { "" } else { "s" };
    let value = cost["model"][0]["value"].as_str().unwrap();
    let expected = format!("{value} CNY ({calls} call{plural})");

    in_browser("operator_model_cost", server, PHONE, |page| async move {
        page.goto("/operator").await?;
        page.type_into("#api-key", &key).await?;
        page.type_into("#reviewer", "Ops Tester\u{E007}").await?;
        let card = format!("#reviews li.review[data-session='{id}']");
        page.find(&card).await?;
        let shown = page.text(&format!("{card} .model-cost")).await?;
        assert_eq!(shown, expected);
        Ok(())
    })
    .await;
}
