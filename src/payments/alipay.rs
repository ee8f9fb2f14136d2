//! The Alipay provider. A refund is `alipay.trade.refund`, a transfer
//! `alipay.fund.trans.uni.transfer`; each is sent under the submission's idempotency key
//! (`out_request_no` / `out_biz_no`), unchanged on every retry, so Alipay moves the money
//! once. Settlement arrives later as a notification ([`notify`]).

pub mod api;
pub mod receive;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use super::{Provider, ProviderError};
use crate::domain::{Action, AlipayPayee, AlipayTradeNo, Currency, Money, OrderId};
use crate::payments::alipay::api::config::AlipayConfig;
use crate::payments::alipay::api::gateway::Gateway;
use crate::payments::alipay::api::reply::{self, Answer, Call, Reply};
use crate::store::{Store, Submission};

/// Alipay's limits on the free-text fields.
const MAX_REFUND_REASON: usize = 256;
const MAX_ORDER_TITLE: usize = 128;

pub struct Alipay {
    gateway: Gateway,
    store: Arc<dyn Store>,
}

impl Alipay {
    pub fn new(config: AlipayConfig, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        Ok(Alipay {
            gateway: Gateway::new(config)?,
            store,
        })
    }

    pub fn config(&self) -> &AlipayConfig {
        self.gateway.config()
    }

    /// The call and its `biz_content` for a submission.
    async fn request(&self, s: &Submission) -> Result<(Call, String), ProviderError> {
        let action = s.action.clone();
        let key = s.idempotency_key.as_str();
        match action {
            Action::Refund {
                order_id,
                amount,
                reason,
            } => {
                let order = self
                    .store
                    .order(&s.merchant_id, &order_id)
                    .await
                    .map_err(|e| ProviderError::Retryable(e.to_string()))?;
                let trade_no = order.and_then(|o| o.alipay_trade_no);
                let content =
                    refund_content(&order_id, trade_no.as_ref(), amount, reason.as_deref(), key)?;
                Ok((Call::Refund, content))
            }
            Action::Transfer {
                contact_id,
                amount,
                note,
            } => {
                let contact = self
                    .store
                    .contact(&s.merchant_id, &contact_id)
                    .await
                    .map_err(|e| ProviderError::Retryable(e.to_string()))?
                    .ok_or_else(|| {
                        ProviderError::Permanent(format!("contact {contact_id} is not in the book"))
                    })?;
                let payee = contact.alipay.ok_or_else(|| {
                    ProviderError::Permanent(format!("contact {contact_id} has no Alipay account"))
                })?;
                let title = note.unwrap_or_else(|| format!("Transfer to {}", contact.name));
                let content = transfer_content(&payee, amount, &title, key)?;
                Ok((Call::Transfer, content))
            }
        }
    }
}

#[async_trait]
impl Provider for Alipay {
    fn name(&self) -> &'static str {
        "alipay"
    }

    async fn submit(&self, s: &Submission) -> Result<String, ProviderError> {
        let (call, content) = self.request(s).await?;
        let text = self
            .gateway
            .call(call.method(), &content)
            .await
            .map_err(|e| ProviderError::Retryable(e.to_string()))?;
        let answer: Reply = serde_json::from_str(&text).map_err(|_| {
            ProviderError::Retryable("the verified answer has no readable code".into())
        })?;
        match reply::classify(call, &answer, &s.idempotency_key) {
            Answer::Accepted(reference) => Ok(reference),
            Answer::AlreadyDone(reference) => {
                tracing::info!(%reference, "Alipay already holds this request; nothing new was moved");
                Ok(reference)
            }
            Answer::Retry(why) => Err(ProviderError::Retryable(why)),
            Answer::Refused(why) => Err(ProviderError::Permanent(why)),
        }
    }
}

/// Yuan with exactly two decimals, from integer fen. Alipay moves CNY only.
pub fn yuan(amount: Money) -> Result<String, ProviderError> {
    if amount.currency() != Currency::CNY {
        return Err(ProviderError::Permanent(format!(
            "Alipay moves CNY only, not {}",
            amount.currency()
        )));
    }
    Ok(amount.value_string())
}

#[derive(Serialize)]
struct RefundContent<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    out_trade_no: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trade_no: Option<&'a str>,
    refund_amount: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_reason: Option<String>,
    out_request_no: &'a str,
}

/// The refund's `biz_content`: the trade by Alipay's number when the order has one,
/// otherwise by the order id (the merchant's `out_trade_no`).
pub fn refund_content(
    order_id: &OrderId,
    trade_no: Option<&AlipayTradeNo>,
    amount: Money,
    reason: Option<&str>,
    key: &str,
) -> Result<String, ProviderError> {
    let content = RefundContent {
        out_trade_no: trade_no.is_none().then_some(order_id.as_str()),
        trade_no: trade_no.map(AlipayTradeNo::as_str),
        refund_amount: yuan(amount)?,
        refund_reason: reason.map(|r| clip(r, MAX_REFUND_REASON)),
        out_request_no: key,
    };
    to_json(&content)
}

#[derive(Serialize)]
struct TransferContent<'a> {
    out_biz_no: &'a str,
    trans_amount: String,
    product_code: &'static str,
    biz_scene: &'static str,
    order_title: String,
    payee_info: PayeeInfo<'a>,
}

#[derive(Serialize)]
struct PayeeInfo<'a> {
    identity: &'a str,
    identity_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// The transfer's `biz_content`: a no-password transfer to the payee's Alipay account.
pub fn transfer_content(
    payee: &AlipayPayee,
    amount: Money,
    title: &str,
    key: &str,
) -> Result<String, ProviderError> {
    let content = TransferContent {
        out_biz_no: key,
        trans_amount: yuan(amount)?,
        product_code: "TRANS_ACCOUNT_NO_PWD",
        biz_scene: "DIRECT_TRANSFER",
        order_title: clip(title, MAX_ORDER_TITLE),
        payee_info: PayeeInfo {
            identity: payee.identity(),
            identity_type: payee.identity_type().as_str(),
            name: payee.name(),
        },
    };
    to_json(&content)
}

fn to_json(content: &impl Serialize) -> Result<String, ProviderError> {
    serde_json::to_string(content).map_err(|e| ProviderError::Permanent(e.to_string()))
}

fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests;
