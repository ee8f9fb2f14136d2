//! The tools' arguments and results, with the JSON Schemas the tools list announces.
//! Arguments are parsed into domain types here; anything that does not parse is a tool
//! error naming the field.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::domain::{ContactId, Currency, Money, OrderId, SessionId, UserId};
use crate::store::Order;

/// Characters a refund reason or transfer note may have.
const MAX_NOTE_CHARS: usize = 200;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopperArgs {
    /// The shopper, as the merchant's order book names them.
    pub user_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderArgs {
    /// The shopper, as the merchant's order book names them.
    pub user_id: String,
    /// One of this shopper's orders.
    pub order_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundArgs {
    /// The shopper the refund is for.
    pub user_id: String,
    /// One of this shopper's orders.
    pub order_id: String,
    /// How much to refund; everything still refundable on the order when absent.
    pub amount: Option<AmountArg>,
    /// Why, in the shopper's words; shown to the shopper in the summary.
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferArgs {
    /// The shopper who sends the money.
    pub user_id: String,
    /// One of this shopper's payees.
    pub contact_id: String,
    pub amount: AmountArg,
    /// A note for the payee; shown to the shopper in the summary.
    pub note: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// A session a proposal opened.
    pub session_id: String,
}

/// An amount as a decimal string in an ISO-4217 currency, e.g. `{"value":"128.00","currency":"CNY"}`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountArg {
    /// A decimal with at most the currency's decimals, e.g. "128.00".
    pub value: String,
    /// ISO-4217, e.g. "CNY".
    pub currency: String,
}

impl From<Money> for AmountArg {
    fn from(m: Money) -> Self {
        AmountArg {
            value: m.value_string(),
            currency: m.currency().code().to_owned(),
        }
    }
}

pub fn user(s: &str) -> Result<UserId, String> {
    UserId::parse(s).map_err(|e| format!("user_id: {e}"))
}

pub fn order(s: &str) -> Result<OrderId, String> {
    OrderId::parse(s).map_err(|e| format!("order_id: {e}"))
}

pub fn contact(s: &str) -> Result<ContactId, String> {
    ContactId::parse(s).map_err(|e| format!("contact_id: {e}"))
}

pub fn session(s: &str) -> Result<SessionId, String> {
    SessionId::parse(s).map_err(|_| "session_id: no such session".to_owned())
}

pub fn money(a: &AmountArg) -> Result<Money, String> {
    let currency = Currency::parse(&a.currency).map_err(|e| format!("amount.currency: {e}"))?;
    let money = Money::parse(&a.value, currency).map_err(|e| format!("amount.value: {e}"))?;
    if money.is_zero() {
        return Err("amount.value: must be more than zero".into());
    }
    Ok(money)
}

/// A reason or note: short, one line of text.
pub fn note(field: &str, text: Option<String>) -> Result<Option<String>, String> {
    let Some(text) = text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(format!("{field}: at most {MAX_NOTE_CHARS} characters"));
    }
    if text.chars().any(char::is_control) {
        return Err(format!("{field}: control characters are not allowed"));
    }
    Ok(Some(text))
}

pub fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct OrderView {
    pub order_id: String,
    pub amount: AmountArg,
    pub refunded: AmountArg,
    /// Being refunded now: submitted to the provider, not yet settled.
    pub in_refund: AmountArg,
    /// What a refund may still take.
    pub refundable: AmountArg,
    pub description: Option<String>,
    /// RFC 3339.
    pub placed_at: String,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        OrderView {
            order_id: o.order_id.as_str().to_owned(),
            amount: o.amount.into(),
            refunded: o.refunded.into(),
            in_refund: o.reserved.into(),
            refundable: o.refundable().into(),
            description: o.description.clone(),
            placed_at: time(o.placed_at),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Orders {
    pub user_id: String,
    /// Most recently placed first.
    pub orders: Vec<OrderView>,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct OrderStatus {
    pub order: OrderView,
}

/// A proposal waiting for the shopper to countersign it at `countersign_url`.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Proposal {
    pub session_id: String,
    /// The exact sentence the shopper is shown and signs.
    pub summary: String,
    pub amount: AmountArg,
    /// RFC 3339; unconfirmed by then, the proposal expires.
    pub expires_at: String,
    /// The page where the shopper reads the summary and confirms or cancels. Give it to
    /// the shopper; only their confirmation there moves money.
    pub countersign_url: String,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionStatus {
    pub session_id: String,
    pub user_id: String,
    /// collecting, awaiting_confirmation, pending_risk_check, manual_review, submitted,
    /// settled, failed, declined, cancelled or expired.
    pub state: String,
    /// Why a finished session ended, when it did not settle.
    pub reason: Option<String>,
    /// refund or transfer.
    pub action: Option<String>,
    pub amount: Option<AmountArg>,
    /// The order refunded or the payee paid.
    pub target: Option<String>,
    /// RFC 3339; when an unconfirmed proposal expires.
    pub expires_at: Option<String>,
    /// The payment provider's reference, once settled.
    pub provider_reference: Option<String>,
}
