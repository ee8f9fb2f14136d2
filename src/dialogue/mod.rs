//! The conversation: understanding a message, disposing of the proposal, asking, issuing
//! the signed confirmation and recording consent.

pub mod dispose;
pub mod draft;
