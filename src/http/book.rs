//! The merchant's order book and verified contacts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::auth::MerchantAuth;
use super::error::{AppError, Result};
use super::json::JsonBody;
use crate::app::AppState;
use crate::domain::{AlipayPayee, AlipayTradeNo, ContactId, Money, OrderId, PolicyDoc, UserId};
use crate::store::{Contact, Order};

const MAX_DESCRIPTION_CHARS: usize = 500;
const MAX_NAME_CHARS: usize = 100;
const MAX_ALIASES: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutOrder {
    user_id: UserId,
    amount: Money,
    refunded: Option<Money>,
    description: Option<String>,
    placed_at: Option<DateTime<Utc>>,
    alipay_trade_no: Option<AlipayTradeNo>,
}

#[derive(Serialize)]
pub struct OrderView {
    order_id: OrderId,
    user_id: UserId,
    amount: Money,
    refunded: Money,
    refundable: Money,
    description: Option<String>,
    placed_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alipay_trade_no: Option<AlipayTradeNo>,
}

impl From<Order> for OrderView {
    fn from(o: Order) -> Self {
        OrderView {
            refundable: o.refundable(),
            order_id: o.order_id,
            user_id: o.user_id,
            amount: o.amount,
            refunded: o.refunded,
            description: o.description,
            placed_at: o.placed_at,
            alipay_trade_no: o.alipay_trade_no,
        }
    }
}

fn path_id<T>(parse: impl Fn(&str) -> Result<T, crate::domain::IdError>, raw: &str) -> Result<T> {
    parse(raw).map_err(|e| AppError::bad_request("invalid_path", e.to_string()))
}

fn status(created: bool) -> StatusCode {
    if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

fn limited(field: &str, text: &str, max: usize) -> Result<()> {
    if text.chars().count() > max {
        return Err(AppError::invalid(format!(
            "{field}: at most {max} characters"
        )));
    }
    Ok(())
}

fn check_amounts(req: &PutOrder, policy: &PolicyDoc) -> Result<Money> {
    let currency = req.amount.currency();
    if currency.code() != policy.currency {
        return Err(AppError::invalid(format!(
            "amount.currency: this merchant trades in {}, not {currency}",
            policy.currency
        )));
    }
    if req.amount.is_zero() {
        return Err(AppError::invalid("amount.value: must be more than zero"));
    }
    let refunded = req.refunded.unwrap_or_else(|| Money::zero(currency));
    if refunded.currency() != currency {
        return Err(AppError::invalid(
            "refunded.currency: must match amount.currency",
        ));
    }
    if refunded.minor() > req.amount.minor() {
        return Err(AppError::invalid("refunded.value: cannot exceed amount"));
    }
    Ok(refunded)
}

/// Refunds on their way to the provider stay held on the order; the merchant's figures
/// must leave room for them.
fn in_flight(existing: Option<&Order>, req: &PutOrder, refunded: Money) -> Result<Money> {
    let zero = Money::zero(req.amount.currency());
    let Some(reserved) = existing.map(|o| o.reserved).filter(|r| !r.is_zero()) else {
        return Ok(zero);
    };
    let room = req.amount.checked_sub(refunded).unwrap_or(zero);
    if reserved.exceeds(room) {
        return Err(AppError::conflict(
            "refund_in_flight",
            format!(
                "{reserved} of this order is being refunded; amount minus refunded must leave room for it"
            ),
        ));
    }
    Ok(reserved)
}

/// `PUT /v1/orders/{id}`: creates (201) or replaces (200) an order.
pub async fn put_order(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<PutOrder>,
) -> Result<(StatusCode, Json<OrderView>)> {
    let order_id = path_id(OrderId::parse, &id)?;
    let refunded = check_amounts(&req, &merchant.policy)?;
    if let Some(d) = &req.description {
        limited("description", d, MAX_DESCRIPTION_CHARS)?;
    }
    let now = app.flow.clock.now();
    let existing = app.store.order(&merchant.id, &order_id).await?;
    let reserved = in_flight(existing.as_ref(), &req, refunded)?;
    let order = Order {
        merchant_id: merchant.id,
        order_id,
        user_id: req.user_id,
        amount: req.amount,
        refunded,
        reserved,
        description: req.description,
        alipay_trade_no: req.alipay_trade_no,
        placed_at: req.placed_at.unwrap_or(now),
        updated_at: now,
    };
    let created = app.store.put_order(&order).await?;
    Ok((status(created), Json(order.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutContact {
    user_id: UserId,
    name: String,
    #[serde(default)]
    aliases: Vec<String>,
    verified: bool,
    alipay: Option<AlipayPayee>,
}

#[derive(Serialize)]
pub struct ContactView {
    contact_id: ContactId,
    user_id: UserId,
    name: String,
    aliases: Vec<String>,
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    alipay: Option<AlipayPayee>,
}

fn check_names(req: &PutContact) -> Result<()> {
    if req.name.trim().is_empty() {
        return Err(AppError::invalid("name: must not be empty"));
    }
    limited("name", &req.name, MAX_NAME_CHARS)?;
    if req.aliases.len() > MAX_ALIASES {
        return Err(AppError::invalid(format!("aliases: at most {MAX_ALIASES}")));
    }
    for (i, alias) in req.aliases.iter().enumerate() {
        if alias.trim().is_empty() {
            return Err(AppError::invalid(format!(
                "aliases[{i}]: must not be empty"
            )));
        }
        limited(&format!("aliases[{i}]"), alias, MAX_NAME_CHARS)?;
    }
    Ok(())
}

/// `PUT /v1/contacts/{id}`: creates (201) or replaces (200) a contact.
pub async fn put_contact(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<PutContact>,
) -> Result<(StatusCode, Json<ContactView>)> {
    let contact_id = path_id(ContactId::parse, &id)?;
    check_names(&req)?;
    let now = app.flow.clock.now();
    let existing = app.store.contact(&merchant.id, &contact_id).await?;
    let contact = Contact {
        merchant_id: merchant.id,
        contact_id,
        user_id: req.user_id,
        name: req.name.trim().to_owned(),
        aliases: req.aliases.iter().map(|a| a.trim().to_owned()).collect(),
        verified: req.verified,
        alipay: req.alipay,
        created_at: existing.map_or(now, |c| c.created_at),
        updated_at: now,
    };
    let created = app.store.put_contact(&contact).await?;
    let view = ContactView {
        contact_id: contact.contact_id,
        user_id: contact.user_id,
        name: contact.name,
        aliases: contact.aliases,
        verified: contact.verified,
        alipay: contact.alipay,
    };
    Ok((status(created), Json(view)))
}
