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
