//! Reading Alipay's notifications: the signature verified before anything is read, then
//! checked against what was sent (our app, our request number, its trade, its amount).
//! What passes is a `Notification` like any provider's, for the workflow to settle.

use std::collections::BTreeMap;

use super::Alipay;
use crate::domain::{Action, Currency, Money};
use crate::payments::Provider;
use crate::payments::alipay::api::notice::{self, Notice, Status};
use crate::payments::alipay::api::reply::Call;
use crate::payments::webhook::{self, Notification};
use crate::store::{Store, Submission};

/// An accepted notification.
#[derive(Debug, Clone, PartialEq)]
pub enum Receipt {
    /// A final status, to be settled: the notification and its form as JSON.
    Final(Box<Notification>, serde_json::Value),
    /// Seen and stored before; nothing more to do.
    Duplicate,
    /// A status on the way (a transfer still processing); nothing to store yet.
    Pending,
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    InvalidSignature,
    Unreadable,
    WrongApp,
    UnknownRequest,
    Mismatch,
    /// Ours (storage), not the notification's.
    Internal,
}

impl Fault {
    /// A short label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::InvalidSignature => "invalid_signature",
            Fault::Unreadable => "unreadable",
            Fault::WrongApp => "wrong_app",
            Fault::UnknownRequest => "unknown_request",
            Fault::Mismatch => "mismatch",
            Fault::Internal => "error",
        }
    }
}

/// A notification that was not accepted; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub fault: Fault,
    pub why: String,
}

impl Refusal {
    pub fn new(fault: Fault, why: impl Into<String>) -> Self {
        Refusal {
            fault,
            why: why.into(),
        }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        Refusal::new(Fault::Internal, e.to_string())
    }
}

/// Verifies and checks one notification given as its form fields; `now` stamps it.
pub async fn accept(
    store: &dyn Store,
    alipay: &Alipay,
    form: &[(String, String)],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Receipt, Refusal> {
    let config = alipay.config();
    config
        .verifier
        .verify_notify(form)
        .map_err(|e| Refusal::new(Fault::InvalidSignature, e.to_string()))?;
    let notice = notice::read(form).map_err(|e| Refusal::new(Fault::Unreadable, e.to_string()))?;
    if notice.app_id != config.app_id {
        return Err(Refusal::new(Fault::WrongApp, "app_id is not this app's"));
    }
    let submission = store
        .submission_by_key(&notice.request_no)
        .await
        .map_err(Refusal::internal)?
        .filter(|s| s.provider == alipay.name())
        .ok_or_else(|| {
            Refusal::new(
                Fault::UnknownRequest,
                "no Alipay submission has this number",
            )
        })?;
    // A resent notification is acknowledged before its amount is checked again: once it
    // has settled, the order's refunded total already counts this refund.
    let seen = store
        .inbox_has(&submission.merchant_id, &notice.event_id())
        .await
        .map_err(Refusal::internal)?;
    if seen {
        return Ok(Receipt::Duplicate);
    }
    matches_submission(store, &notice, &submission).await?;
    let kind = match &notice.status {
        Status::Pending(_) => return Ok(Receipt::Pending),
        Status::Succeeded => webhook::SUCCEEDED,
        Status::Failed(_) => webhook::FAILED,
    };
    let raw: BTreeMap<&str, &str> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let raw = serde_json::to_value(raw).map_err(Refusal::internal)?;
    Ok(Receipt::Final(
        Box::new(notification(&notice, &submission, kind, now)),
        raw,
    ))
}

/// The notification in the form every provider's settlement takes.
fn notification(
    notice: &Notice,
    s: &Submission,
    kind: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Notification {
    let failure_reason = match &notice.status {
        Status::Failed(why) => Some(why.clone()),
        _ => None,
    };
    Notification {
        id: notice.event_id(),
        kind: kind.to_owned(),
        merchant_id: s.merchant_id.to_string(),
        session_id: s.session_id.to_string(),
        idempotency_key: s.idempotency_key.clone(),
        provider_reference: notice
            .alipay_no
            .clone()
            .unwrap_or_else(|| notice.request_no.clone()),
        amount: s.amount,
        failure_reason,
        created: now.timestamp(),
    }
}

/// The notification is about what this submission sent: the same kind of call, the same
/// trade (by Alipay's number when the order has one, else by the order id) and the same
/// amount.
async fn matches_submission(
    store: &dyn Store,
    notice: &Notice,
    s: &Submission,
) -> Result<(), Refusal> {
    let mismatch = |why: &str| Refusal::new(Fault::Mismatch, why);
    let action = &s.action;
    let amount = Money::parse(&notice.amount, Currency::CNY)
        .map_err(|_| mismatch("the amount is not a yuan amount"))?;
    match (action, notice.call) {
        (Action::Refund { order_id, .. }, Call::Refund) => {
            let order = store
                .order(&s.merchant_id, order_id)
                .await
                .map_err(Refusal::internal)?
                .ok_or_else(|| mismatch("the submission's order is gone"))?;
            let same_trade = match &order.alipay_trade_no {
                Some(trade_no) => notice.alipay_no.as_deref() == Some(trade_no.as_str()),
                None => notice.out_trade_no.as_deref() == Some(order_id.as_str()),
            };
            if !same_trade {
                return Err(mismatch("the trade is not the submission's order"));
            }
            // Alipay's `refund_fee` is the trade's refunded total: after an earlier
            // partial refund it is that plus this one.
            let total = order.refunded.checked_add(s.amount).ok();
            if amount != s.amount && Some(amount) != total {
                return Err(mismatch("the amount is not the submission's"));
            }
            Ok(())
        }
        (Action::Transfer { .. }, Call::Transfer) if amount == s.amount => Ok(()),
        (Action::Transfer { .. }, Call::Transfer) => {
            Err(mismatch("the amount is not the submission's"))
        }
        _ => Err(mismatch("a refund and a transfer were confused")),
    }
}
