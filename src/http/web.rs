//! The pages in web/, compiled into the binary so a fresh `cargo run` serves them.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new().route(
        "/",
        get(|| async { Html(include_str!("../../web/index.html")) }),
    )
}
