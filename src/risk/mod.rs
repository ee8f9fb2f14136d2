//! The risk check between consent and submission: deterministic local rules, optionally
//! combined with a remote scorer. Scores and rule codes go to the event log and the
//! merchant, never to the shopper.

pub mod remote;
pub mod rules;

use async_trait::async_trait;
use serde::Serialize;

use crate::domain::{Action, Policy, SessionId};
use crate::store::{Contact, Order, RiskStats};

/// What a risk check looks at.
#[derive(Debug, Clone, Serialize)]
pub struct RiskInput {
    pub session_id: SessionId,
    pub merchant_id: String,
    pub user_id: String,
    pub device: Option<String>,
    pub action: Action,
    /// The refunded order, for refunds.
    #[serde(skip)]
    pub order: Option<Order>,
    /// The payee, for transfers.
    #[serde(skip)]
    pub contact: Option<Contact>,
    #[serde(skip)]
    pub policy: Policy,
    #[serde(skip)]
    pub stats: RiskStats,
}

/// A score in [0, 1] and the rules that contributed to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub score: f64,
    pub codes: Vec<String>,
    /// `local`, or `local+remote`.
    pub source: &'static str,
}

#[async_trait]
pub trait RiskEngine: Send + Sync + 'static {
    async fn assess(&self, input: &RiskInput) -> Assessment;
}
