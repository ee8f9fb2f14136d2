//! Amount: the sum the shopper asks for, "full refund", or a vague share the server must ask about.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::numbers::Number;
use super::order::OrderMention;
use super::{
    AMOUNT_OR_ORDER, BARE_AMOUNT, BARE_ORDER, CERTAIN, GUESS, MAX_AMOUNT_CHARS, MAX_ID_CHARS,
    overlaps, re, scored,
};
use crate::understanding::extraction::{AmountRef, Intent, OrderRef, Scored};

static FULL_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:full(?:\s+(?:refund|amount|price|sum|payment))?|in\s+full|everything|all\s+of\s+(?:it|order|my\s+money|the\s+money)|all\s+my\s+money|(?:the\s+)?whole\s+(?:amount|sum|thing|order)|it\s+all|entire(?:ly)?(?:\s+(?:amount|order|thing))?|complete(?:ly)?|the\s+rest\s+of|whatever(?:'s|\s+is)\s+left|what(?:'s|\s+is)\s+left|remaining(?:\s+amount)?|remainder)(?-u:\b)|全额|全款|全部|全退|剩下的|剩余(?:部分)?",
    )
});
static VAGUE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(?:half|some|partial(?:ly)?|part\s+of\s+it)(?-u:\b)|一部分|一些|部分|一半")
});

/// Every "full refund" phrase, except "full of …" and "全部都/坏/破/是".
pub(super) fn find_full(text: &str) -> Vec<Range<usize>> {
    FULL_RE
        .find_iter(text)
        .filter(|m| {
            let rest = text[m.end()..].trim_start();
            let full_of = m.as_str().eq_ignore_ascii_case("full")
                && rest.get(..2).is_some_and(|w| w.eq_ignore_ascii_case("of"))
                && !rest[2..].starts_with(|c: char| c.is_ascii_alphanumeric());
            let all_of_them = m.as_str() == "全部" && rest.starts_with(['都', '坏', '破', '是']);
            !full_of && !all_of_them
        })
        .map(|m| m.range())
        .collect()
}

/// One candidate amount and where it was written.
#[derive(Debug, Clone)]
struct Candidate {
    at: usize,
    value: AmountRef,
    marked: bool,
    whole: bool,
}

/// The amount-related mentions outside the stated reason.
pub(super) struct AmountReading {
    intent: Intent,
    /// Numbers with a currency marker, and "full refund" phrases.
    concrete: Vec<Candidate>,
    /// Numbers with no marker, not an order id, not a count.
    bare: Vec<Candidate>,
    /// "half", "some", "一部分", "30%".
    vague: bool,
}

impl AmountReading {
    pub(super) fn new(
        text: &str,
        intent: Intent,
        numbers: &[Number],
        orders: &[OrderMention],
        full: &[Range<usize>],
        reason: Option<&Range<usize>>,
    ) -> Self {
        let outside = |span: &Range<usize>| !reason.is_some_and(|r| overlaps(r, span));
        let mut concrete = Vec::new();
        let mut bare = Vec::new();
        // "剩余部分" is what is left, not a part of it.
        let mut vague = VAGUE_RE
            .find_iter(text)
            .any(|m| outside(&m.range()) && !full.iter().any(|f| overlaps(f, &m.range())));
        for n in numbers.iter().filter(|n| outside(&n.span)) {
            if n.percent {
                vague = true;
                continue;
            }
            if n.unit
                || n.value.len() > MAX_AMOUNT_CHARS
                || orders.iter().any(|o| overlaps(&o.span, &n.span))
            {
                continue;
            }
            let candidate = Candidate {
                at: n.span.start,
                value: AmountRef::Exact {
                    value: n.value.clone(),
                    currency: n.currency.map(str::to_string),
                },
                marked: n.currency.is_some(),
                whole: n.currency.is_none() && n.is_whole(),
            };
            if candidate.marked {
                concrete.push(candidate);
            } else {
                bare.push(candidate);
            }
        }
        // "All of it" alone answers "how much?": the server knows what was asked.
        if matches!(intent, Intent::Refund | Intent::Transfer | Intent::Unknown) {
            concrete.extend(full.iter().filter(|f| outside(f)).map(|f| Candidate {
                at: f.start,
                value: AmountRef::Full,
                marked: true,
                whole: false,
            }));
        }
        concrete.sort_by_key(|c| c.at);
        Self {
            intent,
            concrete,
            bare,
            vague,
        }
    }

    /// The amount, and an order id read from a bare whole number when the
    /// message names no order and that number is not the amount.
    ///
    /// Vague amounts ("half", "一部分") give no amount unless a marked one is
    /// also written: the server then asks how much.
    pub(super) fn pick(
        self,
        order_named: bool,
    ) -> (Option<Scored<AmountRef>>, Option<Scored<OrderRef>>) {
        let concrete: Vec<Candidate> = self
            .concrete
            .into_iter()
            .filter(|c| !self.vague || c.value != AmountRef::Full)
            .collect();
        // A whole number that is clearly not the amount names the order,
        // when nothing else does.
        let whole_is_order = !order_named
            && match self.intent {
                Intent::OrderStatus | Intent::Cancel => true,
                Intent::Refund => self.vague || !concrete.is_empty(),
                Intent::Transfer | Intent::Unknown => false,
            };
        let bare_order = if whole_is_order {
            pick_bare_order(&self.bare)
        } else {
            None
        };

        let mut candidates = concrete;
        if matches!(self.intent, Intent::Refund | Intent::Transfer) && !self.vague {
            candidates.extend(
                self.bare
                    .into_iter()
                    .filter(|c| !(whole_is_order && c.whole)),
            );
        }
        candidates.sort_by_key(|c| c.at);
        (
            pick_amount(&candidates, self.intent, order_named),
            bare_order,
        )
    }
}

/// A bare whole number taken as the order id.
fn pick_bare_order(bare: &[Candidate]) -> Option<Scored<OrderRef>> {
    let ids: Vec<&str> = bare
        .iter()
        .filter(|c| c.whole)
        .filter_map(|c| match &c.value {
            AmountRef::Exact { value, .. } if value.len() <= MAX_ID_CHARS => Some(value.as_str()),
            _ => None,
        })
        .collect();
    let first = *ids.first()?;
    let score = if ids.iter().any(|id| *id != first) {
        GUESS
    } else {
        BARE_ORDER
    };
    Some(scored(
        OrderRef::Id {
            id: first.to_string(),
        },
        score,
    ))
}

/// The first amount; a guess when two different amounts (or currencies) are
/// written. A marked mention of the same amount is preferred, for its currency.
fn pick_amount(
    candidates: &[Candidate],
    intent: Intent,
    order_named: bool,
) -> Option<Scored<AmountRef>> {
    let first = candidates.first()?;
    let same = |a: &AmountRef, b: &AmountRef| match (a, b) {
        (
            AmountRef::Exact {
                value: x,
                currency: cx,
            },
            AmountRef::Exact {
                value: y,
                currency: cy,
            },
        ) => x == y && (cx.is_none() || cy.is_none() || cx == cy),
        (a, b) => a == b,
    };
    if candidates.iter().any(|c| !same(&c.value, &first.value)) {
        return Some(scored(first.value.clone(), GUESS));
    }
    let chosen = candidates.iter().find(|c| c.marked).unwrap_or(first);
    let score = if chosen.marked {
        CERTAIN
    } else if chosen.whole && intent == Intent::Refund && !order_named {
        AMOUNT_OR_ORDER
    } else {
        BARE_AMOUNT
    };
    Some(scored(chosen.value.clone(), score))
}
