//! The one error type handlers return: a status, a stable code and a clear message.
//! Internal details go to the log, never into a response.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::dialogue;
use crate::store::StoreError;
use crate::workflow::{self, frames::FrameError};

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AppError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer credential is required",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Well-formed JSON whose content breaks a rule; the message names the field.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// Something broke on our side; `cause` is logged, the client sees a generic message.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => AppError::not_found("resource"),
            StoreError::Conflict => {
                AppError::conflict("concurrent_update", "the session changed meanwhile; retry")
            }
            StoreError::Duplicate => AppError::conflict("already_exists", "it exists already"),
            StoreError::Insufficient => AppError::conflict(
                "insufficient_refundable",
                "the order no longer has that much to refund",
            ),
            other => AppError::internal(other),
        }
    }
}

impl From<workflow::Error> for AppError {
    fn from(e: workflow::Error) -> Self {
        use workflow::Error::*;
        let status = match &e {
            NotFound => StatusCode::NOT_FOUND,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Conflict
            | Insufficient
            | NotAllowed(_)
            | NotAwaitingConfirmation(_)
            | ConfirmationTampered
            | ConfirmationMismatch
            | ConfirmationStale
            | ConfirmationExpired
            | NotInReview(_)
            | AlreadySubmitted => StatusCode::CONFLICT,
        };
        AppError::new(status, e.code(), e.to_string())
    }
}

impl From<FrameError> for AppError {
    fn from(e: FrameError) -> Self {
        let status = match &e {
            FrameError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            FrameError::ReplayFailed => StatusCode::INTERNAL_SERVER_ERROR,
            FrameError::TooLarge { .. }
            | FrameError::Malformed(_)
            | FrameError::Invalid(_)
            | FrameError::Binary => StatusCode::UNPROCESSABLE_ENTITY,
        };
        AppError::new(status, e.code(), e.to_string())
    }
}

impl From<dialogue::Error> for AppError {
    fn from(e: dialogue::Error) -> Self {
        use dialogue::Error::*;
        let status = match e {
            Flow(e) => return e.into(),
            Frame(e) => return e.into(),
            MenuMode | UnknownOption | InvalidAmount => StatusCode::UNPROCESSABLE_ENTITY,
            SessionClosed(_) | NoMenu(_) => StatusCode::CONFLICT,
        };
        AppError::new(status, e.code(), e.to_string())
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
