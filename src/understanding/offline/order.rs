//! Order: the order ids named in the message, and "my last order".

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::numbers::Number;
use super::{CERTAIN, GUESS, ID_AND_LAST, MAX_ID_CHARS, overlaps, re, scored};
use crate::understanding::extraction::{OrderRef, Scored};

// The id is matched without case folding, under which "ſ" and "K" (Kelvin) are letters.
static EN_ORDER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)order(?:\s+(?:number|num|no|id|ref)(?-u:\b)\.?)?\s*[:#]?\s*#?\s*(?P<id>(?-i:[A-Za-z0-9-]+))",
    )
});
static HASH_ORDER_RE: LazyLock<Regex> = LazyLock::new(|| re(r"#\s*(?P<id>[A-Za-z0-9-]+)"));
static CN_ORDER_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?:订单(?:号码|编号|号)?|单号)\s*[:#]?\s*#?\s*(?P<id>[A-Za-z0-9-]+)"));
static CN_ORDER_SUFFIX_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?-u:\b)(?P<id>[A-Za-z0-9-]+)\s*号\s*(?:订单|单)"));
static LAST_ORDER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:last|latest|most\s+recent|previous|recent|newest|prior)\s+(?:order|purchase|package|parcel)(?-u:\b)|(?-u:\b)(?:last|latest)\s+thing\s+I\s+(?:bought|ordered|got)(?-u:\b)|最近(?:的|那)?一?[单笔]|最近买的|刚买的|最新(?:的|那)一?单|最后(?:那|一)[单笔]|上次买的|上(?:一个|一笔|个|笔)订单|上一单|上一笔|最近(?:的|一个|一笔|那个|那笔)?订单|最近一单|最后(?:一个|一笔|的)?订单|最新(?:的|一个|一笔)?订单",
    )
});

/// An order named in the text.
#[derive(Debug, Clone)]
pub(super) struct OrderMention {
    pub(super) span: Range<usize>,
    pub(super) order: OrderRef,
}

/// Every order reference, left to right: ids ("order 1042", "#1042",
/// "订单号1042", "1042号订单") and "my last order".
pub(super) fn find_orders(text: &str, numbers: &[Number]) -> Vec<OrderMention> {
    let mut out: Vec<OrderMention> = Vec::new();
    for pattern in [
        &EN_ORDER_RE,
        &HASH_ORDER_RE,
        &CN_ORDER_RE,
        &CN_ORDER_SUFFIX_RE,
    ] {
        for caps in pattern.captures_iter(text) {
            let Some(m) = caps.name("id") else { continue };
            let Some(span) = order_id_span(text, m.range(), numbers) else {
                continue;
            };
            if !out.iter().any(|o| overlaps(&o.span, &span)) {
                let id = text[span.clone()].to_string();
                out.push(OrderMention {
                    span,
                    order: OrderRef::Id { id },
                });
            }
        }
    }
    out.extend(LAST_ORDER_RE.find_iter(text).map(|m| OrderMention {
        span: m.range(),
        order: OrderRef::Last,
    }));
    out.sort_by_key(|o| o.span.start);
    out
}

/// The id within `raw` (dashes trimmed), if it has a digit, fits 64 chars,
/// and is not really an amount ("订单50元") or a count ("order 3 days ago").
fn order_id_span(text: &str, raw: Range<usize>, numbers: &[Number]) -> Option<Range<usize>> {
    let s = &text[raw.clone()];
    let trimmed = s.trim_matches('-');
    let start = raw.start + (s.len() - s.trim_start_matches('-').len());
    let span = start..start + trimmed.len();
    let ok = !trimmed.is_empty()
        && trimmed.len() <= MAX_ID_CHARS
        && trimmed.bytes().any(|b| b.is_ascii_digit());
    let money_or_count = numbers
        .iter()
        .any(|n| (n.currency.is_some() || n.unit) && overlaps(&n.span, &span));
    (ok && !money_or_count).then_some(span)
}

/// One id: certain alone, half-sure next to "my last order", a guess when
/// two different ids are named. Otherwise "last order", which the server
/// resolves.
pub(super) fn pick_order(orders: &[OrderMention]) -> Option<Scored<OrderRef>> {
    let ids: Vec<&OrderRef> = orders
        .iter()
        .map(|o| &o.order)
        .filter(|o| matches!(o, OrderRef::Id { .. }))
        .collect();
    let has_last = orders.iter().any(|o| o.order == OrderRef::Last);
    match ids.first() {
        Some(first) if ids.iter().any(|id| id != first) => Some(scored((*first).clone(), GUESS)),
        Some(first) if has_last => Some(scored((*first).clone(), ID_AND_LAST)),
        Some(first) => Some(scored((*first).clone(), CERTAIN)),
        None if has_last => Some(scored(OrderRef::Last, CERTAIN)),
        None => None,
    }
}

/// The words of `text` an order id may be written as: letters, digits, '-' and '_', with a
/// digit among them.
pub(crate) fn id_words(text: &str) -> impl Iterator<Item = &str> {
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.split(move |c: char| !is_id_char(c))
        .filter(|w| w.bytes().any(|b| b.is_ascii_digit()))
}

/// Letters, then digits (a dash between allowed), as order ids are written: "SO-88107",
/// "C305"; not "5kg", which starts with its digits.
pub(crate) fn written_like_an_id(word: &str) -> bool {
    let letters = word.bytes().take_while(u8::is_ascii_alphabetic).count();
    letters > 0
        && word[letters..]
            .trim_start_matches('-')
            .starts_with(|c: char| c.is_ascii_digit())
}
