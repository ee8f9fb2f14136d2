//! Asynchronous notifications, read after their signature is verified: which request of
//! ours they are about, the amount, and whether the money moved.
//!
//! A refund is reported by the trade's `trade_status_sync` notification: `out_biz_no`
//! is the refund's `out_request_no`, `refund_fee` the amount, `gmt_refund` its time. The
//! trade stays `TRADE_SUCCESS` after a partial refund and becomes `TRADE_CLOSED` after a
//! full one: both mean the refund was made. A transfer is reported by the
//! `alipay.fund.trans.order.changed` message, its fields in the `biz_content` JSON.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::reply::Call;

/// The message that reports a transfer's status.
pub const TRANSFER_CHANGED: &str = "alipay.fund.trans.order.changed";

/// Longest identifier taken from a notification.
const MAX_ID: usize = 128;

/// What became of the money.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Succeeded,
    Failed(String),
    /// Not final yet (a transfer still being processed); another notification follows.
    Pending(String),
}

/// A verified notification about one of our requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub call: Call,
    pub notify_id: String,
    pub app_id: String,
    /// The request number we sent (`out_biz_no`): the submission's idempotency key.
    pub request_no: String,
    /// Refund: the merchant's number for the trade.
    pub out_trade_no: Option<String>,
    /// Refund: Alipay's trade number. Transfer: Alipay's transfer order.
    pub alipay_no: Option<String>,
    /// `refund_fee` or `trans_amount`, in yuan as sent.
    pub amount: String,
    pub status: Status,
}

/// A notification that cannot be read as a refund or transfer report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NoticeError(String);

impl Notice {
    /// The inbox key: the notification id with the trade (or transfer order) and our
    /// request number, so a resent notification is a duplicate.
    pub fn event_id(&self) -> String {
        let trade = self
            .out_trade_no
            .as_deref()
            .or(self.alipay_no.as_deref())
            .unwrap_or("-");
        format!("alipay:{}:{trade}:{}", self.notify_id, self.request_no)
    }
}

/// Reads the fields of a verified notification.
pub fn read(form: &[(String, String)]) -> Result<Notice, NoticeError> {
    let fields: BTreeMap<&str, &str> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let get = |name: &str| fields.get(name).copied().filter(|v| !v.is_empty());
    let notify_id = id(get("notify_id"), "notify_id")?;
    let app_id = id(get("app_id"), "app_id")?;
    match get("msg_method") {
        Some(TRANSFER_CHANGED) => transfer(notify_id, app_id, get("biz_content")),
        Some(other) => Err(NoticeError(format!(
            "message {:?} is not about a transfer",
            clip(other)
        ))),
        None => refund(notify_id, app_id, &get),
    }
}

fn refund<'a>(
    notify_id: String,
    app_id: String,
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<Notice, NoticeError> {
    if get("gmt_refund").is_none() && get("refund_status").is_none() {
        return Err(NoticeError(
            "not a refund notification (no gmt_refund)".into(),
        ));
    }
    let status = match (get("refund_status"), get("trade_status")) {
        (Some("REFUND_SUCCESS"), _) => Status::Succeeded,
        (Some(other), _) => Status::Failed(format!("refund_status {}", clip(other))),
        (None, Some("TRADE_SUCCESS" | "TRADE_CLOSED" | "TRADE_FINISHED")) => Status::Succeeded,
        (None, other) => {
            return Err(NoticeError(format!(
                "trade_status {:?} says nothing about a refund",
                other.map(clip)
            )));
        }
    };
    Ok(Notice {
        call: Call::Refund,
        notify_id,
        app_id,
        request_no: id(get("out_biz_no"), "out_biz_no")?,
        out_trade_no: Some(id(get("out_trade_no"), "out_trade_no")?),
        alipay_no: get("trade_no").map(str::to_owned),
        amount: id(get("refund_fee"), "refund_fee")?,
        status,
    })
}

/// The `biz_content` of a transfer message.
#[derive(Deserialize)]
struct TransferChange {
    out_biz_no: Option<String>,
    order_id: Option<String>,
    status: Option<String>,
    trans_amount: Option<String>,
    fail_reason: Option<String>,
}

fn transfer(
    notify_id: String,
    app_id: String,
    biz_content: Option<&str>,
) -> Result<Notice, NoticeError> {
    let content = biz_content.ok_or_else(|| NoticeError("no biz_content".into()))?;
    let change: TransferChange = serde_json::from_str(content)
        .map_err(|_| NoticeError("biz_content is not the expected JSON object".into()))?;
    let status = match change.status.as_deref() {
        Some("SUCCESS") => Status::Succeeded,
        Some(failed @ ("FAIL" | "REFUND" | "CLOSED")) => Status::Failed(format!(
            "transfer {failed}: {}",
            clip(change.fail_reason.as_deref().unwrap_or("no reason given"))
        )),
        Some(other) => Status::Pending(clip(other)),
        None => return Err(NoticeError("biz_content has no status".into())),
    };
    Ok(Notice {
        call: Call::Transfer,
        notify_id,
        app_id,
        request_no: id(change.out_biz_no.as_deref(), "out_biz_no")?,
        out_trade_no: None,
        alipay_no: change.order_id,
        amount: id(change.trans_amount.as_deref(), "trans_amount")?,
        status,
    })
}

/// A required short field.
fn id(value: Option<&str>, name: &str) -> Result<String, NoticeError> {
    match value {
        Some(v) if !v.is_empty() && v.len() <= MAX_ID => Ok(v.to_owned()),
        Some(_) => Err(NoticeError(format!("{name} is too long"))),
        None => Err(NoticeError(format!("no {name}"))),
    }
}

/// Untrusted text kept in a message: at most 64 characters, no control characters.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

#[cfg(test)]
mod tests;
