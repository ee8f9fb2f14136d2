//! Language understanding: turning a shopper's message into a scored [`Extraction`], and
//! phrasing what the agent says. Two implementations behind one trait: the offline
//! rule-based extractor (the default) and a language model behind any OpenAI-compatible API.
//! Everything either returns is a proposal; deterministic code decides what happens.

pub mod audit;
pub mod extraction;
pub mod llm;
pub mod offline;

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::domain::draft::ChatLine;

pub use extraction::{AmountRef, Extraction, Intent, OrderRef, Scored};

/// What a call knows about the conversation it serves.
#[derive(Debug, Clone)]
pub struct Context {
    /// For the audit record of each model call.
    pub session_id: String,
    pub merchant_id: String,
    /// The merchant's currency, for amounts the shopper leaves bare.
    pub currency: String,
    /// Earlier turns, oldest first, already capped in length.
    pub history: Vec<ChatLine>,
}

/// Something the agent must say. `text` is the server's own wording, always correct and
/// complete; a model may only rephrase it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Phrase {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnderstandingError {
    /// Every endpoint failed (rate limited, server error, timeout, circuit open): the
    /// dialogue switches to the menu at once.
    #[error("no language model is available")]
    Unavailable,
}

#[async_trait]
pub trait Understanding: Send + Sync + 'static {
    /// Reads one message. An output that cannot be trusted comes back as an extraction
    /// whose scores say so, not as an error; only unavailability is an error.
    async fn extract(&self, ctx: &Context, text: &str) -> Result<Extraction, UnderstandingError>;

    /// Says `phrase`, sending pieces to `deltas` as they are produced; returns the whole text.
    async fn phrase(
        &self,
        ctx: &Context,
        phrase: &Phrase,
        deltas: &mpsc::Sender<String>,
    ) -> Result<String, UnderstandingError>;
}

/// The offline extractor as an [`Understanding`]: deterministic, never unavailable, and it
/// says the server's wording as it is, in one piece.
pub struct Offline;

#[async_trait]
impl Understanding for Offline {
    async fn extract(&self, _ctx: &Context, text: &str) -> Result<Extraction, UnderstandingError> {
        Ok(offline::extract(text))
    }

    async fn phrase(
        &self,
        _ctx: &Context,
        phrase: &Phrase,
        _deltas: &mpsc::Sender<String>,
    ) -> Result<String, UnderstandingError> {
        Ok(phrase.text.clone())
    }
}
