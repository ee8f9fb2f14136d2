//! Receiving Alipay's notifications: the signature verified before anything is read,
//! then checked against what was sent (our app, our request number, its trade, its
//! amount), then settled through the inbox like any provider's notification.

use std::collections::BTreeMap;

use super::Alipay;
use crate::alipay::notify::{self, Notice, Status};
use crate::alipay::reply::Call;
use crate::app::AppState;
use crate::dialogue::engine::{self, SettleOutcome};
use crate::domain::{Action, Currency, Money};
use crate::payments::Provider;
use crate::payments::webhook::{self, Notification};
use crate::store::Submission;

/// An accepted notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Stored in the inbox: applied, a duplicate, or for a session already finished.
    Settled(SettleOutcome),
    /// A status on the way (a transfer still processing); nothing to store yet.
    Pending,
}

/// A notification that was not accepted; nothing was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// A short label for metrics and logs.
    pub code: &'static str,
    pub why: String,
}

impl Refusal {
    fn new(code: &'static str, why: impl Into<String>) -> Self {
        Refusal {
            code,
            why: why.into(),
        }
    }

    /// Whether the fault was ours (storage), not the notification's.
    pub fn is_internal(&self) -> bool {
        self.code == "error"
    }
}

/// Verifies, checks and settles one notification given as its form fields.
pub async fn receive(
    app: &AppState,
    alipay: &Alipay,
    form: &[(String, String)],
) -> Result<Receipt, Refusal> {
    let config = alipay.config();
    config
        .verifier
        .verify_notify(form)
        .map_err(|e| Refusal::new("invalid_signature", e.to_string()))?;
    let notice = notify::read(form).map_err(|e| Refusal::new("unreadable", e.to_string()))?;
    if notice.app_id != config.app_id {
        return Err(Refusal::new("wrong_app", "app_id is not this app's"));
    }
    let submission = app
        .store
        .submission_by_key(&notice.request_no)
        .await
        .map_err(|e| Refusal::new("error", e.to_string()))?
        .filter(|s| s.provider == alipay.name())
        .ok_or_else(|| Refusal::new("unknown_request", "no Alipay submission has this number"))?;
    // A resent notification is acknowledged before its amount is checked again: once it
    // has settled, the order's refunded total already counts this refund.
    let seen = app
        .store
        .inbox_has(&submission.merchant_id, &notice.event_id())
        .await
        .map_err(|e| Refusal::new("error", e.to_string()))?;
    if seen {
        return Ok(Receipt::Settled(SettleOutcome::Duplicate));
    }
    matches_submission(app, &notice, &submission).await?;
    let kind = match &notice.status {
        Status::Pending(_) => return Ok(Receipt::Pending),
        Status::Succeeded => webhook::SUCCEEDED,
        Status::Failed(_) => webhook::FAILED,
    };
    let raw: BTreeMap<&str, &str> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let raw = serde_json::to_value(raw).map_err(|e| Refusal::new("error", e.to_string()))?;
    let notification = notification(&notice, &submission, kind);
    engine::settle(app, &notification, raw)
        .await
        .map(Receipt::Settled)
        .map_err(|e| Refusal::new("error", e.message))
}

/// The notification in the form every provider's settlement takes.
fn notification(notice: &Notice, s: &Submission, kind: &str) -> Notification {
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
        created: crate::clock::now().timestamp(),
    }
}

/// The notification is about what this submission sent: the same kind of call, the same
/// trade (by Alipay's number when the order has one, else by the order id) and the same
/// amount.
async fn matches_submission(
    app: &AppState,
    notice: &Notice,
    s: &Submission,
) -> Result<(), Refusal> {
    let mismatch = |why: &str| Refusal::new("mismatch", why);
    let action = &s.action;
    let amount = Money::parse(&notice.amount, Currency::CNY)
        .map_err(|_| mismatch("the amount is not a yuan amount"))?;
    match (action, notice.call) {
        (Action::Refund { order_id, .. }, Call::Refund) => {
            let order = app
                .store
                .order(&s.merchant_id, order_id)
                .await
                .map_err(|e| Refusal::new("error", e.to_string()))?
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
