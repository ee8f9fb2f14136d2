//! Money: integer minor units plus an ISO-4217 currency. On the wire a decimal string.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO-4217 currency this service knows the minor-unit exponent of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
}

/// Codes and their number of decimals. Extend as merchants need them.
const CURRENCIES: &[(&str, u32)] = &[
    ("AUD", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CNY", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("SGD", 2),
    ("TWD", 2),
    ("USD", 2),
];

impl Currency {
    pub const CNY: Currency = Currency {
        code: "CNY",
        exponent: 2,
    };

    /// Parses an upper-case ISO-4217 code such as `CNY`.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        CURRENCIES
            .iter()
            .find(|(c, _)| *c == code)
            .map(|&(code, exponent)| Currency { code, exponent })
            .ok_or_else(|| MoneyError::UnknownCurrency(code.chars().take(8).collect()))
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// Number of decimals in this currency's minor unit.
    pub fn exponent(&self) -> u32 {
        self.exponent
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown currency {0:?}; use an ISO-4217 code such as \"CNY\"")]
    UnknownCurrency(String),
    #[error("{0:?} is not a decimal amount like \"128.00\"")]
    NotDecimal(String),
    #[error("{value:?} has more than {exponent} decimals for {currency}")]
    TooPrecise {
        value: String,
        exponent: u32,
        currency: &'static str,
    },
    #[error("amount is too large")]
    Overflow,
    #[error("amount is above the maximum of {0}")]
    AboveMaximum(String),
    #[error("amounts in different currencies ({0} and {1})")]
    CurrencyMismatch(&'static str, &'static str),
}

/// The largest amount accepted anywhere, in minor units of any currency (10,000,000,000.00
/// CNY). Sums and products of a few such amounts stay far inside `i64`, in Rust and in SQL.
pub const MAX_MINOR: i64 = 1_000_000_000_000;

/// A non-negative amount of at most `MAX_MINOR` minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::NotDecimal(minor.to_string()));
        }
        Money::bounded(minor, currency)
    }

    /// The largest amount accepted in `currency`.
    pub fn largest(currency: Currency) -> Self {
        Money {
            minor: MAX_MINOR,
            currency,
        }
    }

    fn bounded(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor > MAX_MINOR {
            let max = Money::largest(currency).to_string();
            return Err(MoneyError::AboveMaximum(max));
        }
        Ok(Money { minor, currency })
    }

    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    /// Parses a plain decimal string (`"128"`, `"128.5"`, `"128.00"`). Signs, exponents,
    /// separators and excess decimals are refused.
    pub fn parse(value: &str, currency: Currency) -> Result<Self, MoneyError> {
        let not_decimal = || MoneyError::NotDecimal(value.chars().take(32).collect());
        let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (value.contains('.') && !digits(frac)) {
            return Err(not_decimal());
        }
        if frac.len() > currency.exponent as usize {
            return Err(MoneyError::TooPrecise {
                value: value.chars().take(32).collect(),
                exponent: currency.exponent,
                currency: currency.code,
            });
        }
        let scale = 10i64.pow(currency.exponent);
        let padded = format!("{frac:0<width$}", width = currency.exponent as usize);
        let whole: i64 = whole.parse().map_err(|_| MoneyError::Overflow)?;
        let frac: i64 = if padded.is_empty() {
            0
        } else {
            padded.parse().map_err(|_| not_decimal())?
        };
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(frac))
            .ok_or(MoneyError::Overflow)?;
        Money::bounded(minor, currency)
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_zero(&self) -> bool {
        self.minor == 0
    }

    /// The decimal string with exactly the currency's decimals, e.g. `"128.00"`.
    pub fn value_string(&self) -> String {
        let exp = self.currency.exponent;
        if exp == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(exp);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = exp as usize
        )
    }

    /// Whether `self` is more than `limit`. Amounts in different currencies cannot be
    /// compared, so they count as exceeding: a check fails closed.
    pub fn exceeds(&self, limit: Money) -> bool {
        self.currency != limit.currency || self.minor > limit.minor
    }

    /// `self - other`, or `None` when it would go below zero or currencies differ.
    pub fn checked_sub(&self, other: Money) -> Option<Money> {
        if self.currency != other.currency || other.minor > self.minor {
            return None;
        }
        Some(Money {
            minor: self.minor - other.minor,
            currency: self.currency,
        })
    }

    pub fn checked_add(&self, other: Money) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(
                self.currency.code,
                other.currency.code,
            ));
        }
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Money::bounded(minor, self.currency)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.value_string(), self.currency.code)
    }
}

/// The wire form: `{"value": "128.00", "currency": "CNY"}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireMoney {
    value: WireDecimal,
    currency: String,
}

/// A decimal that must arrive as a JSON string, never a JSON number.
struct WireDecimal(String);

impl<'de> Deserialize<'de> for WireDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = WireDecimal;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a decimal string such as \"128.00\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WireDecimal, E> {
                Ok(WireDecimal(v.to_owned()))
            }
        }
        d.deserialize_str(V)
    }
}

impl Serialize for WireDecimal {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireMoney {
            value: WireDecimal(self.value_string()),
            currency: self.currency.code.into(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wire = WireMoney::deserialize(d)?;
        let currency = Currency::parse(&wire.currency).map_err(serde::de::Error::custom)?;
        Money::parse(&wire.value.0, currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny(v: &str) -> Result<Money, MoneyError> {
        Money::parse(v, Currency::CNY)
    }

    #[test]
    fn parses_plain_decimals_into_minor_units() {
        assert_eq!(cny("128.00").unwrap().minor(), 12800);
        assert_eq!(cny("128.5").unwrap().minor(), 12850);
        assert_eq!(cny("128").unwrap().minor(), 12800);
        assert_eq!(cny("0.01").unwrap().minor(), 1);
        assert_eq!(cny("0").unwrap().minor(), 0);
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(Money::parse("500", jpy).unwrap().minor(), 500);
        assert!(Money::parse("500.0", jpy).is_err());
    }

    #[test]
    fn refuses_everything_that_is_not_a_plain_decimal() {
        for bad in [
            "", "-1", "+1", "1e3", "1E3", "1.", ".5", "1,000", " 1", "1 ", "1.2.3", "NaN", "inf",
            "１２", "0x10",
        ] {
            assert!(
                matches!(cny(bad), Err(MoneyError::NotDecimal(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(cny("1.001"), Err(MoneyError::TooPrecise { .. })));
        assert_eq!(cny("92233720368547758.08"), Err(MoneyError::Overflow));
        assert_eq!(cny("99999999999999999999999"), Err(MoneyError::Overflow));
        assert_eq!(cny("10000000000.00").unwrap().minor(), MAX_MINOR);
        let above = Err(MoneyError::AboveMaximum("10000000000.00 CNY".into()));
        assert_eq!(cny("10000000000.01"), above);
        assert_eq!(cny("92233720368547758.07"), above);
        assert_eq!(Money::from_minor(MAX_MINOR + 1, Currency::CNY), above);
        let max = cny("10000000000.00").unwrap();
        assert_eq!(max.checked_add(cny("0.01").unwrap()), above);
    }

    #[test]
    fn formats_with_the_currency_decimals() {
        assert_eq!(cny("128.5").unwrap().value_string(), "128.50");
        assert_eq!(cny("0.07").unwrap().value_string(), "0.07");
        assert_eq!(cny("7").unwrap().to_string(), "7.00 CNY");
    }

    #[test]
    fn wire_form_round_trips_and_refuses_numbers() {
        let m: Money = serde_json::from_str(r#"{"value":"12.30","currency":"CNY"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"value":"12.30","currency":"CNY"}"#
        );
        assert!(serde_json::from_str::<Money>(r#"{"value":12.3,"currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"value":"1","currency":"cny"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"value":"1","currency":"CNY","x":1}"#).is_err());
    }

    #[test]
    fn arithmetic_never_goes_negative_or_mixes_currencies() {
        let a = cny("10.00").unwrap();
        let b = cny("3.50").unwrap();
        assert_eq!(a.checked_sub(b).unwrap().value_string(), "6.50");
        assert_eq!(b.checked_sub(a), None);
        let usd = Money::parse("1", Currency::parse("USD").unwrap()).unwrap();
        assert_eq!(a.checked_sub(usd), None);
        assert!(a.checked_add(usd).is_err());
        assert!(a.exceeds(b) && !b.exceeds(a) && !a.exceeds(a));
        assert!(b.exceeds(usd), "different currencies fail closed");
    }
}
