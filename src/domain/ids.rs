//! Identifiers, each parsed once at the edge so an invalid one cannot exist inside.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be {rule}")]
pub struct IdError {
    pub kind: &'static str,
    pub rule: &'static str,
}

/// Letters, digits, `_` and `-`, starting with a letter or digit.
fn slug(s: &str, max: usize) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric())
        && s.len() <= max
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError { kind: $kind, rule: $rule })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

text_id!(
    /// A merchant, e.g. `demo`.
    MerchantId,
    "merchant id",
    "1-63 lower-case letters, digits, '_' or '-'",
    |s| slug(s, 63) && !s.bytes().any(|b| b.is_ascii_uppercase())
);
text_id!(
    /// An order in the merchant's order book.
    OrderId,
    "order id",
    "1-64 letters, digits, '_' or '-'",
    |s| slug(s, 64)
);
text_id!(
    /// A payee in the merchant's verified contacts.
    ContactId,
    "contact id",
    "1-64 letters, digits, '_' or '-'",
    |s| slug(s, 64)
);
text_id!(
    /// The merchant's own id for a shopper.
    UserId,
    "user_id",
    "1-128 letters, digits, '_', '-', '.', '@' or ':'",
    |s| !s.is_empty()
        && s.len() <= 128
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.@:".contains(&b))
);
text_id!(
    /// Alipay's number for the payment of an order (`trade_no`).
    AlipayTradeNo,
    "alipay_trade_no",
    "1-64 letters or digits",
    |s| !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric())
);
text_id!(
    /// A client-chosen key that makes a POST safe to retry.
    IdempotencyKey,
    "Idempotency-Key",
    "1-255 visible ASCII characters",
    |s| !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b.is_ascii_graphic())
);

/// One shopper conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(uuid::Uuid);

impl SessionId {
    pub fn new() -> Self {
        SessionId(uuid::Uuid::new_v4())
    }

    pub fn parse(s: &str) -> Result<Self, IdError> {
        uuid::Uuid::try_parse(s)
            .map(SessionId)
            .map_err(|_| IdError {
                kind: "session id",
                rule: "a UUID",
            })
    }
}

impl Default for SessionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_accept_plain_values_and_refuse_the_rest() {
        assert!(MerchantId::parse("demo").is_ok());
        assert!(MerchantId::parse("Demo").is_err());
        assert!(MerchantId::parse("").is_err());
        assert!(MerchantId::parse("-x").is_err());
        assert!(OrderId::parse("A-1042").is_ok());
        assert!(OrderId::parse("10 42").is_err());
        assert!(OrderId::parse("../etc").is_err());
        assert!(OrderId::parse(&"9".repeat(65)).is_err());
        assert!(UserId::parse("alice@example.com").is_ok());
        assert!(UserId::parse("alice smith").is_err());
        assert!(IdempotencyKey::parse("order-1042-refund").is_ok());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
        assert!(SessionId::parse("not-a-uuid").is_err());
        assert!(AlipayTradeNo::parse("2026112222001400001234567890").is_ok());
        assert!(AlipayTradeNo::parse("2026-1122").is_err());
        let id = SessionId::new();
        assert_eq!(SessionId::parse(&id.to_string()).unwrap(), id);
    }

    #[test]
    fn deserializing_applies_the_same_rules() {
        assert!(serde_json::from_str::<OrderId>("\"1042\"").is_ok());
        let err = serde_json::from_str::<OrderId>("\"a b\"").unwrap_err();
        assert!(err.to_string().contains("order id must be"));
    }
}
