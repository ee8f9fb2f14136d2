//! `/mcp` with the SDK's own client over real HTTP: the tools, proposals that only the
//! shopper's countersignature on the linked page settles, and hostile arguments that
//! change nothing. This file holds the client and the transcript the tests share.

mod clients;
mod hostile;
mod proposals;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;

use crate::helpers::{TestApp, count_rows};

pub(super) type Client = RunningService<RoleClient, ()>;

pub(super) fn transport(
    app: &TestApp,
    key: &str,
) -> StreamableHttpClientTransport<reqwest::Client> {
    let config = StreamableHttpClientTransportConfig::with_uri(app.url("/mcp")).auth_header(key);
    StreamableHttpClientTransport::with_client(app.http.clone(), config)
}

/// A client that starts with the `initialize` handshake.
pub(super) async fn client(app: &TestApp, key: &str) -> Client {
    ().serve(transport(app, key)).await.expect("mcp client")
}

/// Every tool result an agent received, to check that none carries a token.
#[derive(Default)]
pub(super) struct Transcript(Vec<String>);

impl Transcript {
    pub async fn call(&mut self, c: &Client, tool: &str, args: Value) -> CallToolResult {
        let args = args.as_object().expect("arguments object").clone();
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
        let result = c.call_tool(params).await.expect("tool call");
        self.0.push(serde_json::to_string(&result).unwrap());
        result
    }

    /// The structured result of a call that must succeed.
    pub async fn ok(&mut self, c: &Client, tool: &str, args: Value) -> Value {
        let r = self.call(c, tool, args).await;
        assert_ne!(r.is_error, Some(true), "{tool}: {}", text(&r));
        r.structured_content.expect("structured content")
    }

    /// The text of a call that must be refused.
    pub async fn refused(&mut self, c: &Client, tool: &str, args: Value) -> String {
        let r = self.call(c, tool, args).await;
        assert_eq!(r.is_error, Some(true), "{tool} should be refused: {r:?}");
        text(&r)
    }

    #[track_caller]
    pub fn never_mentions(&self, secret: &str) {
        for result in &self.0 {
            assert!(
                !result.contains(secret),
                "a tool result holds {secret}: {result}"
            );
        }
    }
}

pub(super) fn text(r: &CallToolResult) -> String {
    let texts: Vec<String> = r
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect();
    texts.join("\n")
}

/// The link's secret: the fragment of `countersign_url`.
pub(super) fn link_secret(proposal: &Value) -> String {
    let url = proposal["countersign_url"].as_str().unwrap();
    let (_, secret) = url.split_once("/countersign#").expect("a countersign url");
    assert!(secret.starts_with("csl_"), "{url}");
    secret.to_owned()
}

pub(super) async fn sessions(app: &TestApp) -> i64 {
    count_rows(&app.db.url, "sessions").await
}
