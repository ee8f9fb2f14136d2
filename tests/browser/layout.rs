//! Each page at phone and desktop width, in its busiest state: nothing may scroll sideways.
//! The screenshots are kept in target/e2e-screenshots/ for a person to look at.

use crate::harness::{DESKTOP, PHONE, Page, Server, in_browser};

fn label(size: (u32, u32)) -> String {
    format!("{}x{}", size.0, size.1)
}

async fn check(page: &Page, name: &str, size: (u32, u32)) -> anyhow::Result<()> {
    let width = page.js("return window.innerWidth", vec![]).await?;
    assert_eq!(width.as_u64(), Some(u64::from(size.0)), "viewport width");
    assert!(!page.overflows_sideways().await?, "{name} scrolls sideways");
    page.save_screenshot(&format!("layout-{name}-{}", label(size)))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_fits_phone_and_desktop_in_english_and_chinese() {
    let server = Server::with_demo().await;
    let server = &server;
    for (size, lang, text) in [
        (PHONE, "en", "refund order 1042, it arrived broken"),
        (DESKTOP, "en", "refund order 1042, it arrived broken"),
        (PHONE, "zh", "退款订单 1042，收到时坏了"),
    ] {
        let name = format!("chat-{lang}");
        in_browser(&format!("layout_{name}"), server, size, |page| async move {
            page.goto(&format!("/?lang={lang}")).await?;
            page.find(".connection[data-conn=online]").await?;
            page.type_into("#text", &format!("{text}\u{E007}")).await?;
            page.click("#log button.choice[data-id=full]").await?;
            page.find(".confirmation[data-state=open]").await?;
            let said = page.text("#log .msg.shopper").await?;
            assert!(said.ends_with(text), "typed text shown as typed: {said:?}");
            if lang == "zh" {
                // The page's own words follow ?lang=zh; Chinese text from the server is marked
                // as Chinese so it gets Chinese fonts and pronunciation.
                assert_eq!(page.text("button[data-action=confirm]").await?, "确认");
                let marked = page
                    .js("return [...document.querySelectorAll('#log [lang=zh-CN]')].map(e => e.textContent)", vec![])
                    .await?;
                let marked = marked.to_string();
                assert!(marked.contains("订单 1042"), "{marked}");
                assert!(marked.contains(text), "{marked}");
            }
            check(&page, &name, size).await
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_menu_and_the_review_queue_fit_phone_and_desktop() {
    let server = Server::with_demo().await;
    let server = &server;
    for size in [PHONE, DESKTOP] {
        in_browser("layout_menu", server, size, |page| async move {
            page.goto("/menu").await?;
            page.click("#current button.choice[data-id=refund]").await?;
            page.click("#current button.choice[data-id='1042']").await?;
            page.find("#current .amount-form input").await?;
            check(&page, "menu", size).await
        })
        .await;
        in_browser("layout_operator", server, size, |page| async move {
            page.goto("/operator").await?;
            page.find("#api-key").await?;
            check(&page, "operator", size).await
        })
        .await;
    }
}
