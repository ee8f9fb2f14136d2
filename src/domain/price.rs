//! What model calls and provider calls cost: prices parsed from decimal text (never
//! floats) and costs kept as exact integers of a small fraction of the currency's unit.
//!
//! A [`Price`] holds nano-units (10⁻⁹ of the currency's major unit), so a price may have up
//! to nine decimals. A [`Cost`] holds pico-units (10⁻¹²): a token priced per thousand
//! costs a thousandth of that price, and a thousandth of a nano-unit is a pico-unit, so
//! every cost is exact. Sums are checked.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Decimals a price may have.
const PRICE_DECIMALS: usize = 9;
/// Decimals of a cost.
const COST_DECIMALS: usize = 12;
/// The largest price accepted: 1,000,000 of the currency's unit.
const MAX_PRICE_NANOS: i64 = 1_000_000 * 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("a price is a decimal written as text, like \"0.0008\", with at most 9 decimals")]
    Malformed,
    #[error("a price is at most 1000000")]
    TooLarge,
    #[error(
        "write a price as text (\"0.0008\") or a whole number, never a float: floats are not exact"
    )]
    Float,
}

/// A price in nano-units of its currency's major unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Price(i64);

impl Price {
    /// Parses a non-negative decimal such as `0.0008`, `2` or `1.25`.
    pub fn parse(text: &str) -> Result<Self, PriceError> {
        let nanos = parse_fixed(text, PRICE_DECIMALS).ok_or(PriceError::Malformed)?;
        if nanos > MAX_PRICE_NANOS {
            return Err(PriceError::TooLarge);
        }
        Ok(Price(nanos))
    }

    pub fn nanos(self) -> i64 {
        self.0
    }

    /// What `tokens` cost at this price per thousand tokens.
    pub fn per_1k_tokens(self, tokens: i64) -> Option<Cost> {
        // nanos per 1000 tokens × tokens = pico-units.
        self.0.checked_mul(tokens.max(0)).map(Cost)
    }

    /// What `count` things cost at this price each.
    pub fn times(self, count: i64) -> Option<Cost> {
        self.0
            .checked_mul(count.max(0))
            .and_then(|n| n.checked_mul(1_000))
            .map(Cost)
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fixed(self.0, PRICE_DECIMALS))
    }
}

impl<'de> Deserialize<'de> for Price {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Text(String),
            Whole(u64),
            Float(#[allow(dead_code)] f64),
        }
        let parsed = match Written::deserialize(d)? {
            Written::Text(text) => Price::parse(&text),
            Written::Whole(n) => Price::parse(&n.to_string()),
            Written::Float(_) => Err(PriceError::Float),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

impl Serialize for Price {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An exact cost in pico-units of its currency's major unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cost(i64);

impl Cost {
    pub const ZERO: Cost = Cost(0);

    /// Parses the decimal text [`Cost::to_string`] writes.
    pub fn parse(text: &str) -> Option<Self> {
        parse_fixed(text, COST_DECIMALS).map(Cost)
    }

    pub fn picos(self) -> i64 {
        self.0
    }

    pub fn from_picos(picos: i64) -> Self {
        Cost(picos)
    }

    pub fn checked_add(self, other: Cost) -> Option<Cost> {
        self.0.checked_add(other.0).map(Cost)
    }
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_fixed(self.0, COST_DECIMALS))
    }
}

impl Serialize for Cost {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A cost in a currency, as the API shows it: `{"value": "0.0017", "currency": "CNY"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Charge {
    pub value: Cost,
    pub currency: crate::domain::Currency,
}

/// `text` as an integer count of 10^-`decimals`; `None` unless it is a plain non-negative
/// decimal with at most `decimals` decimals that fits.
fn parse_fixed(text: &str, decimals: usize) -> Option<i64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let dotted = text.contains('.');
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > decimals {
        return None;
    }
    if dotted && fraction.is_empty() {
        return None;
    }
    let scale = 10_i64.checked_pow(decimals as u32)?;
    let whole: i64 = whole.parse().ok()?;
    let padded = format!("{fraction:0<decimals$}");
    let fraction: i64 = if decimals == 0 {
        0
    } else {
        padded.parse().ok()?
    };
    whole.checked_mul(scale)?.checked_add(fraction)
}

/// `value` 10^-`decimals` as a decimal, trailing zeros dropped (at least one decimal kept).
fn format_fixed(value: i64, decimals: usize) -> String {
    let scale = 10_i64.pow(decimals as u32);
    let (whole, fraction) = (value / scale, (value % scale).abs());
    let sign = if value < 0 { "-" } else { "" };
    let fraction = format!("{fraction:0decimals$}");
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.is_empty() { "0" } else { trimmed };
    format!("{sign}{}.{shown}", whole.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_exact_decimals() {
        assert_eq!(Price::parse("0.0008").unwrap().nanos(), 800_000);
        assert_eq!(Price::parse("2").unwrap().nanos(), 2_000_000_000);
        assert_eq!(Price::parse("0.000000001").unwrap().nanos(), 1);
        assert_eq!(Price::parse("0.0008").unwrap().to_string(), "0.0008");
        for bad in [
            "",
            ".5",
            "1.",
            "-1",
            "1e-3",
            "0.0000000001",
            "1,5",
            " 1",
            "0x1",
        ] {
            assert_eq!(Price::parse(bad), Err(PriceError::Malformed), "{bad:?}");
        }
        assert_eq!(Price::parse("1000001"), Err(PriceError::TooLarge));
    }

    #[test]
    fn a_price_in_a_file_is_text_or_a_whole_number_never_a_float() {
        use figment::providers::{Format, Toml};
        let read = |toml: &str| {
            figment::Figment::from(Toml::string(toml))
                .extract::<std::collections::HashMap<String, Price>>()
                .map_err(Box::new)
        };
        assert_eq!(read("p = \"0.002\"").unwrap()["p"].nanos(), 2_000_000);
        assert_eq!(read("p = 3").unwrap()["p"].nanos(), 3_000_000_000);
        let float = read("p = 0.002").unwrap_err().to_string();
        assert!(float.contains("never a float"), "{float}");
    }

    #[test]
    fn costs_per_token_are_exact_and_round_trip_as_text() {
        // 0.0008 per thousand tokens, 1234 tokens: 0.0009872.
        let cost = Price::parse("0.0008").unwrap().per_1k_tokens(1234).unwrap();
        assert_eq!(cost.to_string(), "0.0009872");
        assert_eq!(Cost::parse("0.0009872"), Some(cost));
        // The smallest price for one token: a pico-unit.
        let tiny = Price::parse("0.000000001")
            .unwrap()
            .per_1k_tokens(1)
            .unwrap();
        assert_eq!(
            (tiny.picos(), tiny.to_string()),
            (1, "0.000000000001".into())
        );
        assert_eq!(Cost::ZERO.to_string(), "0.0");
        let call = Price::parse("0.10").unwrap().times(3).unwrap();
        assert_eq!(call.to_string(), "0.3");
        assert_eq!(
            Price::parse("1000000").unwrap().per_1k_tokens(i64::MAX),
            None
        );
    }
}
