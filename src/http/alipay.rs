//! `POST /v1/webhooks/alipay`: Alipay's asynchronous notifications (form-encoded). The
//! reply is the text `success` when the notification was accepted or seen before; any
//! other reply (`fail`) makes Alipay send it again later.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::app::AppState;
use crate::payments::alipay::receive::{self, Fault, Receipt, Refusal};

pub async fn notify(State(app): State<AppState>, body: Bytes) -> Response {
    let Some(alipay) = app.alipay.clone() else {
        return reply(StatusCode::NOT_FOUND, "fail");
    };
    let result = match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
        Ok(form) => settle(&app, &alipay, &form).await,
        Err(_) => Err(Refusal::new(
            Fault::Unreadable,
            "the body is not form-encoded",
        )),
    };
    let label = match &result {
        Ok(label) => *label,
        Err(refusal) => refusal.fault.as_str(),
    };
    metrics::counter!(crate::metrics::WEBHOOKS, "result" => label).increment(1);
    match result {
        Ok(_) => reply(StatusCode::OK, "success"),
        Err(refusal) if refusal.fault == Fault::Internal => {
            tracing::error!(error = %refusal.why, "could not store an Alipay notification");
            reply(StatusCode::INTERNAL_SERVER_ERROR, "fail")
        }
        Err(refusal) => {
            let code = refusal.fault.as_str();
            tracing::warn!(code, why = %refusal.why, "Alipay notification refused");
            reply(StatusCode::BAD_REQUEST, "fail")
        }
    }
}

/// Verifies and checks the notification, then settles a final one; answers the label
/// for metrics.
async fn settle(
    app: &AppState,
    alipay: &crate::payments::alipay::Alipay,
    form: &[(String, String)],
) -> Result<&'static str, Refusal> {
    let receipt = receive::accept(app.store.as_ref(), alipay, form, app.flow.clock.now()).await?;
    match receipt {
        Receipt::Pending => Ok("pending"),
        Receipt::Duplicate => Ok(crate::workflow::SettleOutcome::Duplicate.as_str()),
        Receipt::Final(notification, raw) => app
            .flow
            .settle(&notification, raw)
            .await
            .map(|outcome| outcome.as_str())
            .map_err(|e| Refusal::new(Fault::Internal, e.to_string())),
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
