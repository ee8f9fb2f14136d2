//! Request-level limits and the guarantee that every error is the usual JSON: a deadline per
//! request (408), a cap on requests in flight (503), and a last layer that turns any error
//! answer still in another shape (a framework rejection, a timeout) into
//! `{"error":{"code","message"}}`.

use std::convert::Infallible;

use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::error::AppError;
use crate::config::Limits;

/// Marks a response whose body a protocol fixes (Alipay's `fail`), so it is sent as it is.
#[derive(Clone, Copy)]
pub struct Verbatim;

pub fn apply<S: Clone + Send + Sync + 'static>(router: Router<S>, limits: &Limits) -> Router<S> {
    let timeout = Limits::ms(limits.request_timeout_ms);
    router
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: tower::BoxError| async {
                    metrics::counter!(crate::metrics::REFUSED, "what" => "request").increment(1);
                    Ok::<_, Infallible>(overloaded())
                }))
                .load_shed()
                // One count across every route, not one per route.
                .layer(GlobalConcurrencyLimitLayer::new(limits.max_requests.max(1))),
        )
        .layer(axum::middleware::map_response(as_json))
}

fn overloaded() -> Response {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many requests in flight; retry shortly",
    )
    .retry_after(1)
    .into_response()
}

/// Rewrites an error answer whose body is not JSON; everything else passes untouched.
async fn as_json(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || response.extensions().get::<Verbatim>().is_some()
    {
        return response;
    }
    let (code, message) = describe(status);
    let mut json = AppError::new(status, code, message).into_response();
    for name in [header::RETRY_AFTER, header::ALLOW] {
        if let Some(value) = response.headers().get(&name) {
            json.headers_mut().insert(name, value.clone());
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE
        && !json.headers().contains_key(header::RETRY_AFTER)
    {
        json.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    json
}

fn describe(status: StatusCode) -> (&'static str, &'static str) {
    match status {
        StatusCode::BAD_REQUEST => ("bad_request", "the request could not be read"),
        StatusCode::NOT_FOUND => ("not_found", "route not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed here"),
        StatusCode::REQUEST_TIMEOUT => (
            "request_timeout",
            "the request did not arrive or finish in time",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            "this content type is not accepted",
        ),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "too many requests; slow down"),
        StatusCode::SERVICE_UNAVAILABLE => ("overloaded", "the service is busy; retry shortly"),
        s if s.is_server_error() => ("internal", "something went wrong on our side"),
        _ => ("bad_request", "the request was refused"),
    }
}
