//! A merchant's policy: what the agent may propose, and the limits deterministic code enforces.

use serde::{Deserialize, Serialize};

use super::machine::RiskThresholds;
use super::money::{Currency, Money, MoneyError};

/// The policy as stored and exchanged: every field optional, defaults filled in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyDoc {
    pub currency: String,
    pub refund: RefundDoc,
    pub transfer: TransferDoc,
    pub order_status: ToggleDoc,
    pub ambiguity_threshold: f64,
    pub max_clarifications: u32,
    pub confirmation_ttl_seconds: u32,
    pub risk: RiskThresholds,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RefundDoc {
    pub enabled: bool,
    pub max_amount: String,
    pub review_above: String,
    pub reason_required: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransferDoc {
    pub enabled: bool,
    pub max_amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub review_above: Option<String>,
    pub verified_contacts_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToggleDoc {
    pub enabled: bool,
}

impl Default for PolicyDoc {
    fn default() -> Self {
        PolicyDoc {
            currency: "CNY".into(),
            refund: RefundDoc::default(),
            transfer: TransferDoc::default(),
            order_status: ToggleDoc::default(),
            ambiguity_threshold: 0.3,
            max_clarifications: 3,
            confirmation_ttl_seconds: 300,
            risk: RiskThresholds::default(),
        }
    }
}

impl Default for RefundDoc {
    fn default() -> Self {
        RefundDoc {
            enabled: true,
            max_amount: "1000.00".into(),
            review_above: "500.00".into(),
            reason_required: false,
        }
    }
}

impl Default for TransferDoc {
    fn default() -> Self {
        TransferDoc {
            enabled: true,
            max_amount: "500.00".into(),
            review_above: None,
            verified_contacts_only: true,
        }
    }
}

impl Default for ToggleDoc {
    fn default() -> Self {
        ToggleDoc { enabled: true }
    }
}

/// The policy with every amount parsed in the policy's currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub currency: Currency,
    pub refund: RefundPolicy,
    pub transfer: TransferPolicy,
    pub order_status_enabled: bool,
    pub ambiguity_threshold: f64,
    pub max_clarifications: u32,
    pub confirmation_ttl_seconds: u32,
    pub risk: RiskThresholds,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefundPolicy {
    pub enabled: bool,
    pub max_amount: Money,
    pub review_above: Money,
    pub reason_required: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransferPolicy {
    pub enabled: bool,
    pub max_amount: Money,
    pub review_above: Option<Money>,
    pub verified_contacts_only: bool,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    #[error("{field}: {source}")]
    Amount {
        field: &'static str,
        source: MoneyError,
    },
    #[error("currency: {0}")]
    Currency(MoneyError),
    #[error("risk: review_at must be below decline_at")]
    Thresholds,
    #[error("{0}: must be a number from 0 to 1")]
    Fraction(&'static str),
}

fn amount(field: &'static str, value: &str, currency: Currency) -> Result<Money, PolicyError> {
    Money::parse(value, currency).map_err(|source| PolicyError::Amount { field, source })
}

fn fraction(field: &'static str, v: f64) -> Result<(), PolicyError> {
    (v.is_finite() && (0.0..=1.0).contains(&v))
        .then_some(())
        .ok_or(PolicyError::Fraction(field))
}

impl PolicyDoc {
    /// Checks what a schema cannot: amounts in the currency, thresholds in order.
    pub fn parse(&self) -> Result<Policy, PolicyError> {
        let currency = Currency::parse(&self.currency).map_err(PolicyError::Currency)?;
        fraction("ambiguity_threshold", self.ambiguity_threshold)?;
        fraction("risk.review_at", self.risk.review_at)?;
        fraction("risk.decline_at", self.risk.decline_at)?;
        if self.risk.review_at >= self.risk.decline_at {
            return Err(PolicyError::Thresholds);
        }
        let transfer_review = match &self.transfer.review_above {
            Some(v) => Some(amount("transfer.review_above", v, currency)?),
            None => None,
        };
        Ok(Policy {
            currency,
            refund: RefundPolicy {
                enabled: self.refund.enabled,
                max_amount: amount("refund.max_amount", &self.refund.max_amount, currency)?,
                review_above: amount("refund.review_above", &self.refund.review_above, currency)?,
                reason_required: self.refund.reason_required,
            },
            transfer: TransferPolicy {
                enabled: self.transfer.enabled,
                max_amount: amount("transfer.max_amount", &self.transfer.max_amount, currency)?,
                review_above: transfer_review,
                verified_contacts_only: self.transfer.verified_contacts_only,
            },
            order_status_enabled: self.order_status.enabled,
            ambiguity_threshold: self.ambiguity_threshold,
            max_clarifications: self.max_clarifications,
            confirmation_ttl_seconds: self.confirmation_ttl_seconds,
            risk: self.risk,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_is_the_documented_one() {
        let p = PolicyDoc::default().parse().unwrap();
        assert_eq!(p.currency, Currency::CNY);
        assert_eq!(p.refund.max_amount.value_string(), "1000.00");
        assert_eq!(p.refund.review_above.value_string(), "500.00");
        assert!(!p.refund.reason_required);
        assert_eq!(p.transfer.max_amount.value_string(), "500.00");
        assert!(p.transfer.verified_contacts_only);
        assert_eq!((p.ambiguity_threshold, p.max_clarifications), (0.3, 3));
        assert_eq!(p.confirmation_ttl_seconds, 300);
        assert_eq!((p.risk.review_at, p.risk.decline_at), (0.5, 0.8));
    }

    #[test]
    fn partial_documents_take_defaults_and_bad_ones_are_refused() {
        let doc: PolicyDoc =
            serde_json::from_str(r#"{"currency":"USD","refund":{"max_amount":"20"}}"#).unwrap();
        let p = doc.parse().unwrap();
        assert_eq!(p.refund.max_amount.to_string(), "20.00 USD");
        assert_eq!(p.refund.review_above.to_string(), "500.00 USD");
        assert!(serde_json::from_str::<PolicyDoc>(r#"{"refunds":{}}"#).is_err());
        let jpy: PolicyDoc = serde_json::from_str(r#"{"currency":"JPY"}"#).unwrap();
        assert!(matches!(jpy.parse(), Err(PolicyError::Amount { .. })));
        let inverted: PolicyDoc =
            serde_json::from_str(r#"{"risk":{"review_at":0.9,"decline_at":0.2}}"#).unwrap();
        assert_eq!(inverted.parse(), Err(PolicyError::Thresholds));
    }
}
