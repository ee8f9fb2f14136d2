//! Local risk rules: each adds weight and a code; the score is their sum, capped at 1.

use async_trait::async_trait;
use chrono::{TimeDelta, Utc};

use super::{Assessment, RiskEngine, RiskInput};
use crate::domain::{Action, Money};
use crate::store::RiskStats;

/// Consents by one shopper in `SHOPPER_WINDOW` before it counts as unusual, and a lot.
pub const SHOPPER_WINDOW: TimeDelta = TimeDelta::hours(24);
const SHOPPER_BUSY: i64 = 3;
const SHOPPER_FRENZY: i64 = 6;
/// Consents across the merchant in `MERCHANT_WINDOW` before it counts as a surge.
pub const MERCHANT_WINDOW: TimeDelta = TimeDelta::hours(1);
const MERCHANT_SURGE: i64 = 10_000;
// Storage stops counting consents at `COUNT_CAP`: no threshold may lie beyond it.
const _: () = assert!(
    SHOPPER_BUSY <= RiskStats::COUNT_CAP
        && SHOPPER_FRENZY <= RiskStats::COUNT_CAP
        && MERCHANT_SURGE <= RiskStats::COUNT_CAP
);
/// A payee added this recently is treated with care.
const NEW_CONTACT: TimeDelta = TimeDelta::hours(24);

pub struct LocalRules;

/// The rules themselves, pure.
pub fn score(input: &RiskInput) -> Assessment {
    let mut hits: Vec<(&str, f64)> = Vec::new();
    let policy = &input.policy;
    let amount = input.action.amount();
    match &input.action {
        Action::Refund { .. } => {
            if amount.exceeds(policy.refund.review_above) {
                hits.push(("amount_above_review", policy.risk.review_at));
            }
            match &input.order {
                None => hits.push(("order_missing", 1.0)),
                Some(order) if amount.exceeds(order.refundable()) => {
                    hits.push(("exceeds_refundable", 1.0))
                }
                Some(order) if near_full(amount, order.amount) => {
                    hits.push(("refund_near_full", 0.05))
                }
                Some(_) => {}
            }
        }
        Action::Transfer { .. } => {
            if policy
                .transfer
                .review_above
                .is_some_and(|limit| amount.exceeds(limit))
            {
                hits.push(("amount_above_review", policy.risk.review_at));
            }
            match &input.contact {
                None => hits.push(("contact_missing", 1.0)),
                Some(c) if !c.verified && policy.transfer.verified_contacts_only => {
                    hits.push(("contact_unverified", 1.0))
                }
                Some(c) if Utc::now() - c.created_at < NEW_CONTACT => {
                    hits.push(("new_contact", 0.3))
                }
                Some(_) => {}
            }
        }
    }
    let stats = &input.stats;
    if stats.shopper_recent >= SHOPPER_FRENZY {
        hits.push(("velocity_shopper_high", 0.5));
    } else if stats.shopper_recent >= SHOPPER_BUSY {
        hits.push(("velocity_shopper", 0.2));
    }
    if stats.merchant_recent >= MERCHANT_SURGE {
        hits.push(("velocity_merchant", 0.2));
    }
    if input.device.is_some() && stats.returning && !stats.device_known {
        hits.push(("new_device", 0.2));
    }
    let score = hits.iter().map(|(_, w)| w).sum::<f64>().min(1.0);
    Assessment {
        score,
        codes: hits.iter().map(|(c, _)| (*c).to_owned()).collect(),
        source: "local",
    }
}

/// Whether `amount` is at least 90 % of `of`; widened so no product can overflow.
fn near_full(amount: Money, of: Money) -> bool {
    i128::from(amount.minor()) * 10 >= i128::from(of.minor()) * 9
}

#[async_trait]
impl RiskEngine for LocalRules {
    async fn assess(&self, input: &RiskInput) -> Assessment {
        score(input)
    }
}

#[cfg(test)]
mod tests;
