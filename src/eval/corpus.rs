//! The evaluation corpus: JSON Lines, one conversation a line, read once and checked so
//! that a bad line is refused with its file and line number.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{ContactId, OrderId, PolicyDoc};

/// One conversation and what it should end in.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    /// Where the case was read: `FILE:LINE`.
    pub origin: String,
    pub lang: Lang,
    pub book: BookDoc,
    pub policy: PolicyDoc,
    pub messages: Vec<String>,
    pub expect: Expect,
    pub hostile: bool,
    pub never: Vec<Never>,
    /// What the case is about, in a few words.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseDoc {
    id: String,
    lang: Lang,
    book: BookDoc,
    #[serde(default)]
    policy: Option<Value>,
    messages: Vec<String>,
    expect: ExpectDoc,
    #[serde(default)]
    hostile: bool,
    #[serde(default)]
    never: Vec<Never>,
    #[serde(default)]
    note: Option<String>,
}

/// The language the shopper writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Zh,
}

impl From<Lang> for crate::domain::Lang {
    fn from(lang: Lang) -> Self {
        match lang {
            Lang::En => crate::domain::Lang::En,
            Lang::Zh => crate::domain::Lang::Zh,
        }
    }
}

/// The shopper's orders and payees, and orders of another shopper of the same merchant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookDoc {
    #[serde(default)]
    pub orders: Vec<OrderDoc>,
    #[serde(default)]
    pub contacts: Vec<ContactDoc>,
    #[serde(default)]
    pub other_orders: Vec<OrderDoc>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderDoc {
    pub id: OrderId,
    pub amount_minor: i64,
    #[serde(default = "cny")]
    pub currency: String,
    #[serde(default)]
    pub refunded_minor: i64,
    #[serde(default)]
    pub description: Option<String>,
    /// How long ago the order was placed; the newest is the shopper's "last order".
    #[serde(default = "one_day")]
    pub placed_days_ago: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactDoc {
    pub id: ContactId,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub verified: bool,
}

fn cny() -> String {
    "CNY".into()
}

fn one_day() -> f64 {
    1.0
}

/// The card a careful clerk would show, or none at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Card(Card),
    Refusal,
}

/// What a confirmation card says: the action, its target and the amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub action: Kind,
    /// The order (refund) or the contact (transfer).
    pub target: String,
    pub amount_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Refund,
    Transfer,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Refund => "refund",
            Kind::Transfer => "transfer",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectDoc {
    action: Option<Kind>,
    order_id: Option<String>,
    contact_id: Option<String>,
    amount_minor: Option<i64>,
    refusal: Option<bool>,
    /// Why no card is right; for the reader of the corpus.
    #[allow(dead_code)]
    why: Option<String>,
}

/// A card a hostile case must never produce; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Never {
    pub action: Option<Kind>,
    pub order_id: Option<String>,
    pub contact_id: Option<String>,
    pub amount_minor: Option<i64>,
    /// Any amount above this many minor units.
    pub amount_above: Option<i64>,
    /// Any amount but this one: the amount the shopper asked for, changed.
    pub amount_not: Option<i64>,
}

impl ExpectDoc {
    fn parse(self) -> Result<Expect, String> {
        let card_fields = self.action.is_some()
            || self.order_id.is_some()
            || self.contact_id.is_some()
            || self.amount_minor.is_some();
        match (self.refusal, card_fields) {
            (Some(true), false) => return Ok(Expect::Refusal),
            (Some(true), true) => return Err("a refusal names no card fields".into()),
            (Some(false), _) => return Err("refusal: write true, or leave it out".into()),
            (None, _) => {}
        }
        let amount_minor = self
            .amount_minor
            .filter(|m| *m > 0)
            .ok_or("amount_minor: a positive number of minor units")?;
        let (action, target) = match (self.action, self.order_id, self.contact_id) {
            (Some(Kind::Refund), Some(order), None) => (Kind::Refund, order),
            (Some(Kind::Transfer), None, Some(contact)) => (Kind::Transfer, contact),
            (None, _, _) => return Err("action: \"refund\" or \"transfer\", or refusal".into()),
            _ => return Err("a refund names order_id, a transfer contact_id".into()),
        };
        Ok(Expect::Card(Card {
            action,
            target,
            amount_minor,
        }))
    }
}

/// Reads every file; a line that does not parse stops the run with its place.
pub fn load(files: &[PathBuf]) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    for file in files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let origin = format!("{}:{}", file.display(), n + 1);
            let case = parse_line(line, origin.clone()).with_context(|| origin.clone())?;
            if let Some(first) = seen.insert(case.id.clone(), origin.clone()) {
                bail!("{origin}: case id {:?} is also used at {first}", case.id);
            }
            cases.push(case);
        }
    }
    if cases.is_empty() {
        bail!("no cases in {}", names(files));
    }
    Ok(cases)
}

fn names(files: &[PathBuf]) -> String {
    let names: Vec<_> = files.iter().map(|f| f.display().to_string()).collect();
    names.join(", ")
}

pub(super) fn parse_line(line: &str, origin: String) -> anyhow::Result<Case> {
    let mut de = serde_json::Deserializer::from_str(line);
    let doc: CaseDoc = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        // Each case is one line: its column is what places the error.
        let inner = e
            .inner()
            .to_string()
            .replace(" at line 1 column ", " at column ");
        anyhow::anyhow!("{}: {inner}", e.path())
    })?;
    if doc.messages.is_empty() || doc.messages.iter().any(|m| m.trim().is_empty()) {
        bail!("messages: at least one, none empty");
    }
    let expect = doc
        .expect
        .parse()
        .map_err(|e| anyhow::anyhow!("expect: {e}"))?;
    let policy = crate::merchants::validate_policy(doc.policy.as_ref())?;
    check_book(&doc.book)?;
    Ok(Case {
        id: doc.id,
        origin,
        lang: doc.lang,
        book: doc.book,
        policy,
        messages: doc.messages,
        expect,
        hostile: doc.hostile,
        never: doc.never,
        note: doc.note,
    })
}

fn check_book(book: &BookDoc) -> anyhow::Result<()> {
    let all = book.orders.iter().chain(&book.other_orders);
    for o in all {
        if o.amount_minor <= 0 || o.refunded_minor < 0 || o.refunded_minor > o.amount_minor {
            bail!("book: order {}: amounts out of range", o.id);
        }
        if !o.placed_days_ago.is_finite() || o.placed_days_ago < 0.0 {
            bail!("book: order {}: placed_days_ago must be 0 or more", o.id);
        }
    }
    Ok(())
}
