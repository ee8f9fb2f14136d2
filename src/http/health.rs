//! Liveness, readiness and the landing page.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::error::{AppError, Result};
use crate::app::AppState;

/// `GET /healthz`: the process is up.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(
    State(app): State<AppState>,
) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    let text = crate::metrics::render(app.store.as_ref(), app.flow.clock.now()).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        text,
    )
}

/// `GET /readyz`: the database answers.
pub async fn ready(State(app): State<AppState>) -> Result<Json<Value>> {
    match app.store.ping().await {
        Ok(()) => Ok(Json(
            json!({ "status": "ready", "database": app.store.backend() }),
        )),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                "the database is not reachable",
            ))
        }
    }
}
