//! What a verified gateway answer means for the money: accepted, already done, worth
//! retrying with the same request number, or refused for good.

use serde::Deserialize;

/// The calls this service makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Refund,
    Transfer,
}

impl Call {
    pub fn method(self) -> &'static str {
        match self {
            Call::Refund => "alipay.trade.refund",
            Call::Transfer => "alipay.fund.trans.uni.transfer",
        }
    }
}

/// The fields of a `<method>_response` object that are read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Reply {
    pub code: String,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default)]
    pub sub_code: Option<String>,
    #[serde(default)]
    pub sub_msg: Option<String>,
    /// Refund: Alipay's trade number.
    #[serde(default)]
    pub trade_no: Option<String>,
    /// Refund: `Y` when this call moved money, `N` when it did not (a repeat).
    #[serde(default)]
    pub fund_change: Option<String>,
    /// Transfer: Alipay's transfer order.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Transfer: SUCCESS, DEALING or FAIL.
    #[serde(default)]
    pub status: Option<String>,
}

/// What to do about an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Accepted; settlement follows by notification. Carries Alipay's reference.
    Accepted(String),
    /// Alipay already holds this request from an earlier attempt, so nothing new was
    /// moved; treated as accepted so the money moves once and the session still settles.
    AlreadyDone(String),
    /// The outcome is unknown or the failure passes: send the same request again.
    Retry(String),
    /// Refused for good: nothing was moved and the same request will not succeed.
    Refused(String),
}

/// 40004 sub-codes that pass: system trouble, or a balance the merchant can top up.
const RETRYABLE: &[&str] = &[
    "ACQ.SYSTEM_ERROR",
    "SYSTEM_ERROR",
    "aop.ACQ.SYSTEM_ERROR",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "PAYER_BALANCE_NOT_ENOUGH",
    "BALANCE_IS_NOT_ENOUGH",
];

/// 40004 sub-codes saying this request number was used before: the earlier attempt of
/// this same request (the number is derived from the session and the exact action).
const ALREADY_DONE: &[&str] = &["ACQ.DISCORDANT_REPEAT_REQUEST"];

/// What `reply` to a `call` sent under `request_no` means. Any 40004 sub-code not
/// listed above is a refusal (ACQ.TRADE_NOT_EXIST, ACQ.REFUND_AMT_NOT_EQUAL_TOTAL,
/// ACQ.TRADE_STATUS_ERROR, PAYEE_NOT_EXIST, …).
pub fn classify(call: Call, reply: &Reply, request_no: &str) -> Answer {
    let sub_code = reply.sub_code.as_deref().unwrap_or_default();
    match reply.code.as_str() {
        "10000" => succeeded(call, reply, request_no),
        // Service unavailable: the request may or may not have been carried out.
        "20000" => Answer::Retry(describe(reply)),
        "40004" if RETRYABLE.contains(&sub_code) => Answer::Retry(describe(reply)),
        "40004" if ALREADY_DONE.contains(&sub_code) => Answer::AlreadyDone(request_no.to_owned()),
        // Business refusals; missing or invalid parameters; no permission; bad auth token.
        "40004" | "40001" | "40002" | "40006" | "20001" => Answer::Refused(describe(reply)),
        // A code this service does not know: the outcome is unknown.
        _ => Answer::Retry(describe(reply)),
    }
}

fn succeeded(call: Call, reply: &Reply, request_no: &str) -> Answer {
    let reference = |r: &Option<String>| r.clone().unwrap_or_else(|| request_no.to_owned());
    match call {
        Call::Refund if reply.fund_change.as_deref() == Some("N") => {
            Answer::AlreadyDone(reference(&reply.trade_no))
        }
        Call::Refund => Answer::Accepted(reference(&reply.trade_no)),
        Call::Transfer if reply.status.as_deref() == Some("FAIL") => {
            Answer::Refused(format!("10000 transfer status FAIL: {}", describe(reply)))
        }
        Call::Transfer => Answer::Accepted(reference(&reply.order_id)),
    }
}

/// `code sub_code: sub_msg`, short, for logs and the operator.
fn describe(r: &Reply) -> String {
    let text = match (&r.sub_code, &r.sub_msg, &r.msg) {
        (Some(code), Some(msg), _) => format!("{} {code}: {msg}", r.code),
        (Some(code), None, _) => format!("{} {code}", r.code),
        (None, _, Some(msg)) => format!("{}: {msg}", r.code),
        (None, _, None) => r.code.clone(),
    };
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests;
