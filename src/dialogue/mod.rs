//! The conversation before consent: understanding a message, disposing of what it asks
//! for (policy and order book), asking what is missing, and issuing the signed summary.
//! Consent and everything after it is the workflow's.
//!
//! A client frame flows: `Dialogue::handle` (one turn per session at a time) →
//! `understanding` → `dispose` → `Workflow::commit` (state machine, effects, one
//! transaction) → the hub → every socket on the session.

mod agent;
pub mod dispose;
mod error;
pub mod menu;
mod menu_turn;
mod propose;
mod turn;

use std::sync::Arc;

use crate::understanding::Understanding;
use crate::workflow::Workflow;

pub use agent::{AgentProposal, Proposed, Refused};
pub use error::Error;
pub use turn::Conversation;

/// The workflow and the reader of messages, cheap to clone.
#[derive(Clone)]
pub struct Dialogue {
    pub flow: Workflow,
    pub understanding: Arc<dyn Understanding>,
}
