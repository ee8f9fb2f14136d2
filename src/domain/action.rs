//! The money movements a session can end in, and the exact sentence a shopper countersigns.

use serde::{Deserialize, Serialize};

use super::{ContactId, Money, OrderId};

/// A proposed money movement, after the server has checked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    Refund {
        order_id: OrderId,
        amount: Money,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Transfer {
        contact_id: ContactId,
        amount: Money,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

/// The language the shopper writes in; summaries and prompts follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    En,
    Zh,
}

impl Lang {
    /// Chinese when the text holds any CJK ideograph, English otherwise.
    pub fn of(text: &str) -> Lang {
        if text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) {
            Lang::Zh
        } else {
            Lang::En
        }
    }

    /// The text in this language.
    pub fn say(self, en: &str, zh: &str) -> String {
        match self {
            Lang::En => en.to_owned(),
            Lang::Zh => zh.to_owned(),
        }
    }
}

impl Action {
    pub fn amount(&self) -> Money {
        match self {
            Action::Refund { amount, .. } | Action::Transfer { amount, .. } => *amount,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Refund { .. } => "refund",
            Action::Transfer { .. } => "transfer",
        }
    }

    /// The exact sentence shown for consent. `payee` is the contact's display name.
    pub fn summary(&self, lang: Lang, payee: Option<&str>) -> String {
        match (self, lang) {
            (
                Action::Refund {
                    order_id,
                    amount,
                    reason,
                },
                Lang::En,
            ) => {
                let why = reason
                    .as_ref()
                    .map(|r| format!(" Reason: {r}."))
                    .unwrap_or_default();
                format!(
                    "Refund {amount} for order {order_id} to your original payment method.{why}"
                )
            }
            (
                Action::Refund {
                    order_id,
                    amount,
                    reason,
                },
                Lang::Zh,
            ) => {
                let why = reason
                    .as_ref()
                    .map(|r| format!("原因：{r}。"))
                    .unwrap_or_default();
                format!("为订单 {order_id} 退款 {amount}，原路退回。{why}")
            }
            (
                Action::Transfer {
                    contact_id,
                    amount,
                    note,
                },
                Lang::En,
            ) => {
                let to = payee.unwrap_or(contact_id.as_str());
                let what = note
                    .as_ref()
                    .map(|n| format!(" Note: {n}."))
                    .unwrap_or_default();
                format!("Send {amount} to {to} (contact {contact_id}).{what}")
            }
            (
                Action::Transfer {
                    contact_id,
                    amount,
                    note,
                },
                Lang::Zh,
            ) => {
                let to = payee.unwrap_or(contact_id.as_str());
                let what = note
                    .as_ref()
                    .map(|n| format!("备注：{n}。"))
                    .unwrap_or_default();
                format!("向 {to}（联系人 {contact_id}）转账 {amount}。{what}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn refund(reason: Option<&str>) -> Action {
        Action::Refund {
            order_id: OrderId::parse("1042").unwrap(),
            amount: Money::parse("128", Currency::CNY).unwrap(),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn summaries_state_every_detail_in_the_shoppers_language() {
        assert_eq!(
            refund(Some("it arrived broken")).summary(Lang::En, None),
            "Refund 128.00 CNY for order 1042 to your original payment method. Reason: it arrived broken."
        );
        assert_eq!(
            refund(None).summary(Lang::Zh, None),
            "为订单 1042 退款 128.00 CNY，原路退回。"
        );
        let t = Action::Transfer {
            contact_id: ContactId::parse("mum").unwrap(),
            amount: Money::parse("50", Currency::CNY).unwrap(),
            note: None,
        };
        assert_eq!(
            t.summary(Lang::En, Some("Mum")),
            "Send 50.00 CNY to Mum (contact mum)."
        );
    }

    #[test]
    fn actions_round_trip_as_tagged_json() {
        let a = refund(Some("broken"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "refund", "order_id": "1042",
                "amount": {"value": "128.00", "currency": "CNY"}, "reason": "broken"})
        );
        assert_eq!(serde_json::from_value::<Action>(json).unwrap(), a);
        assert_eq!(Lang::of("退款订单 1042"), Lang::Zh);
        assert_eq!(Lang::of("refund 1042"), Lang::En);
    }
}
