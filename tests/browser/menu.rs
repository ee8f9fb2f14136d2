//! The menu page: the same refund through GET/POST /v1/sessions/{id}/menu only — no socket.

use crate::chat::SETTLE_PATIENCE;
use crate::harness::{DESKTOP, Server, in_browser};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_chosen_in_the_menu_is_countersigned_and_settles() {
    let server = Server::with_demo().await;
    let server = &server;
    in_browser("menu_refund_settles", server, DESKTOP, |page| async move {
        page.goto("/menu").await?;
        page.click("#current button.choice[data-id=refund]").await?;
        page.click("#current button.choice[data-id='1042']").await?;

        // A typed amount the server refuses is shown plainly, and the menu stays usable.
        page.type_into("#current .amount-form input", "12.345\u{E007}")
            .await?;
        let error = page.text("#log .msg.error").await?;
        assert!(error.contains("invalid_amount"), "{error:?}");
        page.click("#current button.choice[data-id=full]").await?;
        page.click("#current button.choice[data-id=damaged]")
            .await?;

        let card = "#current .confirmation[data-state=open]";
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

        // What the shopper chose is recorded as they chose it.
        let chosen = page.texts("#log .msg.shopper").await?;
        assert!(
            chosen.iter().any(|c| c.contains("Full refund")),
            "{chosen:?}"
        );

        page.click(&format!("{card} button[data-action=confirm]"))
            .await?;
        page.find("#log .confirmation[data-state=confirmed]")
            .await?;
        page.find("#timeline li[data-state=pending_risk_check]:not([data-status=upcoming])")
            .await?;

        // No socket: the page polls until the sandbox provider's webhook settles it.
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
        assert_eq!(server.session_state(&id).await, "settled");
        page.find("#restart:not([hidden])").await?;
        Ok(())
    })
    .await;
}
