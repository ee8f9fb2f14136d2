//! Moving the money once it is approved: a provider behind a trait, the transactional
//! outbox that feeds it, the built-in sandbox provider, Alipay, and settlement webhooks.

pub mod alipay;
pub mod sandbox;
pub mod webhook;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::domain::{Action, SessionId};
use crate::store::Submission;

/// The key the provider deduplicates on: the same session and action always give the same
/// key, so every retry of a submission is the same request (Alipay's `out_request_no`).
pub fn idempotency_key(session: SessionId, action: &Action) -> String {
    let action = serde_json::to_string(action).expect("actions serialize");
    let digest = Sha256::digest(format!("{session}\n{action}").as_bytes());
    format!("cs_{}", &hex::encode(digest)[..40])
}

/// What a provider said about a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Worth trying again with the same idempotency key (timeouts, 5xx, outcome unknown).
    Retryable(String),
    /// The provider refused it for good; settlement will not come.
    Permanent(String),
}

/// A payment provider. Submissions carry the idempotency key; the settlement outcome
/// arrives later by webhook.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    /// Hands the submission over; returns the provider's reference.
    async fn submit(&self, submission: &Submission) -> Result<String, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money, OrderId};

    #[test]
    fn the_key_depends_on_session_and_action_only() {
        let s = SessionId::new();
        let refund = |v: &str| Action::Refund {
            order_id: OrderId::parse("1042").unwrap(),
            amount: Money::parse(v, Currency::CNY).unwrap(),
            reason: None,
        };
        assert_eq!(
            idempotency_key(s, &refund("1")),
            idempotency_key(s, &refund("1"))
        );
        assert_ne!(
            idempotency_key(s, &refund("1")),
            idempotency_key(s, &refund("2"))
        );
        assert_ne!(
            idempotency_key(s, &refund("1")),
            idempotency_key(SessionId::new(), &refund("1"))
        );
        assert!(
            idempotency_key(s, &refund("1")).len() <= 64,
            "fits Alipay's out_request_no"
        );
    }
}
