//! The HTTP edge: routing, authentication, JSON in and out, errors. Handlers parse input
//! into domain types and call the store; they hold no business rules of their own.

mod alipay;
pub mod auth;
mod book;
pub mod countersign;
pub mod error;
mod evidence;
mod health;
mod idempotency;
pub mod json;
mod limits;
mod mcp;
mod menu;
mod models;
mod reviews;
pub mod server;
mod sessions;
pub mod sockets;
mod web;
mod webhooks;
pub(crate) mod ws;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::routing::{get, put};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use error::AppError;

pub fn router(app: AppState) -> Router {
    let body_limit = app.config.body_limit_bytes;
    let limits = app.config.limits.clone();
    let routes = Router::new()
        .merge(web::routes())
        .merge(mcp::routes(app.clone()))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/v1/sessions", axum::routing::post(sessions::open))
        .route(
            "/v1/demo/sessions",
            axum::routing::post(sessions::open_demo),
        )
        .route("/v1/sessions/{id}", get(sessions::show))
        .route("/v1/sessions/{id}/events", get(sessions::events))
        .route("/v1/sessions/{id}/evidence", get(evidence::show))
        .route("/.well-known/countersign/jwks.json", get(evidence::jwks))
        .route("/v1/sessions/{id}/model-calls", get(models::calls))
        .route("/v1/models/health", get(models::health))
        .route("/v1/sessions/{id}/ws", get(ws::upgrade))
        .route("/v1/sessions/{id}/menu", get(menu::show).post(menu::choose))
        .route("/v1/reviews", get(reviews::queue))
        .route("/v1/reviews/{id}", axum::routing::post(reviews::decide))
        .route("/v1/submissions", get(reviews::submissions))
        .route(
            "/v1/webhooks/settlement",
            axum::routing::post(webhooks::settlement),
        )
        .route("/v1/webhooks/alipay", axum::routing::post(alipay::notify))
        .route(
            "/v1/countersign",
            get(countersign::show).post(countersign::answer),
        )
        .route("/v1/orders/{id}", put(book::put_order))
        .route("/v1/contacts/{id}", put(book::put_contact))
        .fallback(|| async { AppError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            AppError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed here",
            )
        })
        // One body limit: a body announced larger is refused before any of it is read, one
        // that grows larger while it arrives is cut off there. axum's own is switched off.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TraceLayer::new_for_http().make_span_with(request_span));
    limits::apply(routes, &limits).with_state(app)
}

/// One span per request, named by the matched route (never the raw path or headers).
fn request_span(req: &Request) -> tracing::Span {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    tracing::info_span!("request", method = %req.method(), route)
}
