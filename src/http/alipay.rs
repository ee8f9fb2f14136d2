//! `POST /v1/webhooks/alipay`: Alipay's asynchronous notifications (form-encoded). The
//! reply is the text `success` when the notification was accepted or seen before; any
//! other reply (`fail`) makes Alipay send it again later.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::dialogue::engine::SettleOutcome;
use crate::payments::alipay::notify::{self, Receipt};

pub async fn notify(State(app): State<AppState>, body: Bytes) -> Response {
    let Some(alipay) = app.alipay.clone() else {
        return reply(StatusCode::NOT_FOUND, "fail");
    };
    let result = match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
        Ok(form) => notify::receive(&app, &alipay, &form).await,
        Err(_) => Err(notify::Refusal {
            code: "unreadable",
            why: "the body is not form-encoded".into(),
        }),
    };
    let label = match &result {
        Ok(Receipt::Settled(outcome)) => outcome_label(*outcome),
        Ok(Receipt::Pending) => "pending",
        Err(refusal) => refusal.code,
    };
    metrics::counter!(crate::metrics::WEBHOOKS, "result" => label).increment(1);
    match result {
        Ok(_) => reply(StatusCode::OK, "success"),
        Err(refusal) if refusal.is_internal() => {
            tracing::error!(error = %refusal.why, "could not store an Alipay notification");
            reply(StatusCode::INTERNAL_SERVER_ERROR, "fail")
        }
        Err(refusal) => {
            tracing::warn!(code = refusal.code, why = %refusal.why, "Alipay notification refused");
            reply(StatusCode::BAD_REQUEST, "fail")
        }
    }
}

fn outcome_label(outcome: SettleOutcome) -> &'static str {
    match outcome {
        SettleOutcome::Applied => "applied",
        SettleOutcome::Duplicate => "duplicate",
        SettleOutcome::Orphan => "orphan",
        SettleOutcome::Ignored => "ignored",
        SettleOutcome::Mismatch => "mismatch",
    }
}

fn reply(status: StatusCode, text: &'static str) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    response.extensions_mut().insert(super::limits::Verbatim);
    response
}
