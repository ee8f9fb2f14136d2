//! `POST /mcp`: the Model Context Protocol over Streamable HTTP (the rmcp SDK), for agent
//! platforms. Authenticated with the merchant's API key as a Bearer token; each call acts
//! for the shopper it names. Stateless: no MCP session is kept between requests, so any
//! instance behind the load balancer answers any request.

mod args;
mod elicit;
mod status;
mod tools;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::auth::MerchantAuth;
use crate::app::AppState;
pub use tools::Agent;

pub fn routes(app: AppState) -> Router<AppState> {
    let factory = {
        let app = app.clone();
        move || Ok(tools::Countersign::new(app.clone()))
    };
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_max_request_body_bytes(app.config.body_limit_bytes)
        .with_allowed_hosts(allowed_hosts(&app));
    let service =
        StreamableHttpService::new(factory, Arc::new(NeverSessionManager::default()), config);
    Router::new()
        .route_service("/mcp", service)
        .layer(middleware::from_fn_with_state(app, authenticate))
}

/// Lets only a merchant's key through, and hands the merchant to the tools.
async fn authenticate(
    State(_app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    mut req: Request,
    next: Next,
) -> Response {
    req.extensions_mut().insert(Agent(Arc::new(merchant)));
    next.run(req).await
}

/// Loopback, the public URL's host, and the configured extra hosts: the `Host` values
/// `/mcp` answers (the transport refuses others, against DNS rebinding).
fn allowed_hosts(app: &AppState) -> Vec<String> {
    let mut hosts: Vec<String> = ["localhost", "127.0.0.1", "::1"].map(String::from).into();
    let public = app.config.public_url();
    let authority = public
        .split_once("://")
        .map_or(public.as_str(), |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    if !host.is_empty() {
        hosts.push(host.to_owned());
    }
    hosts.extend(app.config.mcp.allowed_hosts.iter().cloned());
    hosts
}
