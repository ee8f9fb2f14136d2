//! The pages speak the browser's language: a browser set to Chinese gets the page's words
//! and the service's greeting in Chinese; one set to English, in English.

use crate::harness::{PHONE, Server, in_browser_speaking};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_greets_in_the_browsers_language() {
    let server = Server::with_demo().await;
    let server = &server;
    for (language, hello, send) in [
        ("zh-CN", "您好！我可以帮您退款或转账。", "发送"),
        (
            "en-US",
            "Hi! I can help with refunds and transfers.",
            "Send",
        ),
    ] {
        let name = format!("chat_greeting_{language}");
        in_browser_speaking(&name, server, PHONE, language, |page| async move {
            page.goto("/").await?;
            page.find(".connection[data-conn=online]").await?;
            // The greeting, after the page's own label for the agent.
            let said = page.text("#log .msg.agent").await?;
            assert!(said.ends_with(hello), "{said:?}");
            assert_eq!(page.text("#send").await?, send);
            Ok(())
        })
        .await;
    }
}
