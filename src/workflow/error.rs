//! Why a workflow step did not happen. Each variant has a stable code; the HTTP layer and
//! the socket's `error` frame are built from the variant, never from its text.

use crate::domain::SessionState;
use crate::domain::machine::TransitionError;
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("session not found")]
    NotFound,
    /// Another writer moved the session first; nothing of this step was stored.
    #[error("the session changed meanwhile; nothing was moved")]
    Conflict,
    /// The order no longer has that much left to refund.
    #[error("the order no longer has that much to refund")]
    Insufficient,
    #[error("{0}")]
    NotAllowed(TransitionError),
    #[error("there is no confirmation waiting (the session is {0}); nothing was moved")]
    NotAwaitingConfirmation(SessionState),
    #[error("the confirmation token is not valid; the session is cancelled")]
    ConfirmationTampered,
    #[error("that confirmation belongs to another session; nothing was moved")]
    ConfirmationMismatch,
    #[error("that confirmation was replaced by a newer one; nothing was moved")]
    ConfirmationStale,
    #[error("that confirmation has expired; nothing was moved")]
    ConfirmationExpired,
    #[error("the session is {0}, not in review")]
    NotInReview(SessionState),
    /// A withdrawal came after the payment was handed on: it cannot be taken back.
    #[error(
        "the payment is already on its way to the provider and can no longer be withdrawn; nothing was changed"
    )]
    AlreadySubmitted,
    /// A fault on our side, logged where it happened; the client hears nothing more.
    #[error("something went wrong on our side; nothing was moved")]
    Internal,
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::Conflict => "concurrent_update",
            Error::Insufficient => "insufficient_refundable",
            Error::NotAllowed(_) => "not_allowed",
            Error::NotAwaitingConfirmation(_) => "not_awaiting_confirmation",
            Error::ConfirmationTampered => "confirmation_tampered",
            Error::ConfirmationMismatch => "confirmation_mismatch",
            Error::ConfirmationStale => "confirmation_stale",
            Error::ConfirmationExpired => "confirmation_expired",
            Error::NotInReview(_) => "not_in_review",
            Error::AlreadySubmitted => "already_submitted",
            Error::Internal => "internal",
        }
    }

    /// Logs `cause` and answers `Internal`.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "workflow failure");
        Error::Internal
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => Error::Conflict,
            StoreError::NotFound => Error::NotFound,
            StoreError::Insufficient => Error::Insufficient,
            other => Error::internal(other),
        }
    }
}

impl From<TransitionError> for Error {
    fn from(e: TransitionError) -> Self {
        Error::NotAllowed(e)
    }
}
