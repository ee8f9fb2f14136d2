//! The countersign page: an agent proposes through /mcp with the SDK's client, the shopper
//! follows `countersign_url`, reads the signed summary and confirms, and the agent watches
//! the session settle through `session_status`.

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::chat::SETTLE_PATIENCE;
use crate::harness::{PHONE, Server, in_browser};

async fn call(c: &RunningService<RoleClient, ()>, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().expect("arguments").clone();
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    c.call_tool(params).await.expect("tool call")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agents_proposal_settles_once_the_shopper_confirms_on_the_page() {
    let server = Server::with_demo().await;
    let server = &server;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url("/mcp"))
        .auth_header(server.demo_key());
    let transport = StreamableHttpClientTransport::with_client(server.http.clone(), config);
    let agent = ().serve(transport).await.expect("mcp client");
    let agent = &agent;
    let args = json!({"user_id": "demo-shopper", "order_id": "1042",
        "amount": {"value": "28.00", "currency": "CNY"}, "reason": "arrived broken"});
    let proposal = call(agent, "propose_refund", args).await;
    let p = proposal.structured_content.clone().expect("a proposal");
    let id = p["session_id"].as_str().unwrap().to_owned();
    let url = p["countersign_url"].as_str().unwrap().to_owned();
    let path = url
        .strip_prefix(&server.base)
        .expect("a link to this server");
    let mut results = vec![serde_json::to_string(&proposal).unwrap()];
    let (id, p) = (&id, &p);

    in_browser("countersign_settles", server, PHONE, |page| async move {
        page.goto(path).await?;
        let card = "#current .confirmation[data-state=open]";
        page.find(card).await?;
        let signed = server.signed_summary(id).await;
        assert_eq!(page.text(&format!("{card} .summary")).await?, signed);
        assert_eq!(signed, p["summary"].as_str().unwrap());
        assert_eq!(page.text(&format!("{card} .amount-value")).await?, "28.00");
        // The secret leaves the address bar once read.
        let address = page.js("return location.href", vec![]).await?;
        assert!(!address.as_str().unwrap().contains("csl_"), "{address}");
        assert_eq!(server.session_state(id).await, "awaiting_confirmation");

        page.click(&format!("{card} button[data-action=confirm]"))
            .await?;
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
        Ok(())
    })
    .await;

    let status = call(agent, "session_status", json!({"session_id": id})).await;
    results.push(serde_json::to_string(&status).unwrap());
    let status = status.structured_content.expect("a status");
    assert_eq!(status["state"], "settled");
    assert!(status["provider_reference"].is_string(), "{status}");
    // The token the page confirmed with was never in a tool result.
    let frames = server.frames(id).await;
    let issued = frames
        .iter()
        .find(|f| f["type"] == "confirmation_required")
        .expect("a confirmation");
    let token = issued["token"].as_str().unwrap();
    for result in &results {
        assert!(!result.contains(token), "{result}");
    }
}
