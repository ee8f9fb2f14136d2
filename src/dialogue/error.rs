//! Why the dialogue did not take a client's frame. Each variant has a stable code; the
//! socket's `error` frame and the HTTP answer are built from the variant.

use crate::domain::SessionState;
use crate::workflow;
use crate::workflow::frames::{FrameError, ServerFrame};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("this session is {0} and takes no more messages")]
    SessionClosed(SessionState),
    /// Text arrived where the menu expects a choice.
    #[error("please choose one of the menu's options")]
    MenuMode,
    #[error("the session is {0} and has no menu now")]
    NoMenu(SessionState),
    #[error("that is not one of the menu's options")]
    UnknownOption,
    #[error("type an amount such as 12.50")]
    InvalidAmount,
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Flow(#[from] workflow::Error),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::SessionClosed(_) => "session_closed",
            Error::MenuMode => "menu_mode",
            Error::NoMenu(_) => "no_menu",
            Error::UnknownOption => "unknown_option",
            Error::InvalidAmount => "invalid_amount",
            Error::Frame(e) => e.code(),
            Error::Flow(e) => e.code(),
        }
    }
}

impl From<crate::store::StoreError> for Error {
    fn from(e: crate::store::StoreError) -> Self {
        Error::Flow(e.into())
    }
}

impl From<&Error> for ServerFrame {
    fn from(e: &Error) -> Self {
        ServerFrame::error(e.code(), e.to_string())
    }
}
