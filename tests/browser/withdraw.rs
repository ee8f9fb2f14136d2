//! Withdrawing consent from the chat page while the payment is held for a review.

use std::time::Duration;

use reqwest::Method;

use crate::harness::{PHONE, Page, Server, in_browser};

/// Longest the risk check may take to put a confirmed refund into manual review.
const REVIEW_PATIENCE: Duration = Duration::from_secs(20);

/// Waits until the page's status line says the shopper withdrew.
async fn says_withdrawn(page: &Page) -> anyhow::Result<()> {
    page.until(
        "the withdrawal in the status line",
        REVIEW_PATIENCE,
        || async {
            let line = page.text("#state-line").await?;
            Ok(line.contains("withdrew").then_some(line))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_withdraws_a_refund_held_for_review_from_the_chat() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("chat_withdraw", server, PHONE, |page| async move {
        page.goto("/").await?;
        page.find(".connection[data-conn=online]").await?;
        // 880.00 is above the demo's review_above (500.00): an operator must look at it.
        page.type_into(
            "#text",
            "refund order 1036 in full, it arrived broken\u{E007}",
        )
        .await?;
        let card = ".confirmation[data-state=open]";
        page.find(card).await?;
        assert!(
            page.js(
                "return document.querySelector('#withdraw-bar').hidden",
                vec![]
            )
            .await?
                == true,
            "no withdrawal before consent"
        );
        let id = page.session_id().await?;
        page.click(&format!("{card} button[data-action=confirm]"))
            .await?;
        server
            .until_state(&id, "manual_review", REVIEW_PATIENCE)
            .await;
        page.find("#timeline li[data-state=manual_review]:not([data-status=upcoming])")
            .await?;

        page.click("#withdraw-bar:not([hidden]) #withdraw").await?;

        page.until_gone("#withdraw-bar:not([hidden])").await?;
        says_withdrawn(&page).await?;
        let (status, session) = server
            .call(
                Method::GET,
                &format!("/v1/sessions/{id}"),
                server.demo_key(),
                None,
            )
            .await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(
            (session["state"].as_str(), session["reason"].as_str()),
            (Some("cancelled"), Some("withdrawn"))
        );
        let sid = countersign::domain::SessionId::parse(&id).unwrap();
        let submission = server
            .state
            .store
            .submission_for_session(sid)
            .await
            .unwrap();
        assert!(submission.is_none(), "nothing was sent to the provider");
        assert!(!page.overflows_sideways().await?);
        Ok(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_withdraws_a_held_refund_from_the_menu_page() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("menu_withdraw", server, PHONE, |page| async move {
        page.goto("/menu").await?;
        page.click("#current button.choice[data-id=refund]").await?;
        page.click("#current button.choice[data-id='1036']").await?;
        page.click("#current button.choice[data-id=full]").await?;
        page.click("#current button.choice[data-id=damaged]")
            .await?;
        let card = "#current .confirmation[data-state=open]";
        page.find(card).await?;
        let id = page.session_id().await?;
        page.click(&format!("{card} button[data-action=confirm]"))
            .await?;
        server
            .until_state(&id, "manual_review", REVIEW_PATIENCE)
            .await;

        // The page polls; once it sees the review, it offers the withdrawal.
        page.click("#current button[data-action=withdraw]").await?;

        says_withdrawn(&page).await?;
        assert_eq!(server.session_state(&id).await, "cancelled");
        let gone = page.texts("#current button[data-action=withdraw]").await?;
        assert!(gone.is_empty(), "no withdrawal once it is cancelled");
        Ok(())
    })
    .await;
}
