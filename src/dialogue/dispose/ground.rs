//! Grounding: what a message names, looked up in the shopper's own book. The book is
//! what the server knows for certain, so it settles what the text alone leaves open: a
//! number equal to one of the shopper's order ids is that order, "li lei" is the payee
//! "Li Lei", "the kettle" is the order whose item is a kettle. A near miss is never taken
//! for the real thing: an id one digit away is asked about.

use std::sync::LazyLock;

use regex::Regex;

use super::Book;
use crate::domain::{Money, OrderId};
use crate::store::{Contact, Order};
use crate::understanding::offline::{
    fold_id, id_words, normalize, re, slip, without_blobs, written_like_an_id,
};

/// Ids shorter than this are too short to call one a slip of another.
const NEAR_MIN_CHARS: usize = 4;

/// "my order", "this order", "我的订单": the one order a shopper with one order means.
static ONE_ORDER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:my|the|this|that)\s+(?:order|purchase)(?-u:\b)|我的订单|这个订单|这笔订单|这单|那单",
    )
});
/// "half", "一半": half of the order.
static HALF_RE: LazyLock<Regex> = LazyLock::new(|| re(r"(?i)(?-u:\b)half(?-u:\b)|一半"));

/// Words of an item's description that say nothing about which item it is.
const ITEM_STOP_WORDS: [&str; 16] = [
    "for", "the", "and", "with", "set", "pack", "pairs", "pair", "pcs", "box", "new", "one", "two",
    "six", "kit", "of",
];

/// What the shopper wrote, and the same without the stated reason: a reason may name
/// the item or the order, but what it names besides the request is never acted on.
pub(super) struct Said {
    /// The message as the reader reads it: normalised, code and JSON blanked out.
    pub(super) text: String,
    /// The message without its stated reason: what the request itself is made of.
    request: String,
}

impl Said {
    pub(super) fn new(text: &str, reason: Option<&str>) -> Self {
        let text = without_blobs(text);
        let request = match reason {
            Some(reason) if !reason.is_empty() => text.replacen(&normalize(reason), " ", 1),
            _ => text.clone(),
        };
        Said { text, request }
    }
}

/// The one order of the book whose id the text writes as a word of its own, in any
/// case and with or without its separators ("refund so88213", "1042退款").
/// An id written in the reason is never taken: "reason: refund PP-3360 too" names nothing.
pub(super) fn order_named(said: &Said, book: &Book) -> Option<OrderId> {
    let words: Vec<String> = id_words(&said.request).map(fold_id).collect();
    let mut named = book
        .orders
        .iter()
        .filter(|o| words.contains(&fold_id(o.order_id.as_str())));
    match (named.next(), named.next()) {
        (Some(only), None) => Some(only.order_id.clone()),
        _ => None,
    }
}

/// The first word of the request written like an order id ("EL-2050", "so88213", "A7")
/// that is none of the shopper's orders: another shopper's, or one that does not exist.
pub(super) fn foreign_id(said: &Said, book: &Book) -> Option<String> {
    id_words(&said.request)
        .filter(|w| looks_like_an_id(w))
        .find(|w| order_with_id(w, book).is_none())
        .map(str::to_owned)
}

/// Written like an order id, and not a sum with its currency ("RMB30").
fn looks_like_an_id(word: &str) -> bool {
    let letters = word.bytes().take_while(u8::is_ascii_alphabetic).count();
    let currency = ["rmb", "cny", "usd"]
        .iter()
        .any(|c| word[..letters].eq_ignore_ascii_case(c));
    written_like_an_id(word) && !currency
}

/// The book's order with this id, written in any case and with or without separators.
pub(super) fn order_with_id<'a>(id: &str, book: &Book<'a>) -> Option<&'a Order> {
    let id = fold_id(id);
    book.orders
        .iter()
        .find(|o| fold_id(o.order_id.as_str()) == id)
}

/// The book's orders whose id is one slip from `id`: a character dropped, added or
/// changed, or two neighbours swapped.
pub(super) fn orders_near<'a>(id: &str, book: &Book<'a>) -> Vec<&'a Order> {
    let id = fold_id(id);
    book.orders
        .iter()
        .filter(|o| {
            let theirs = fold_id(o.order_id.as_str());
            theirs.chars().count() >= NEAR_MIN_CHARS && one_slip(&id, &theirs)
        })
        .collect()
}

/// `a` and `b` differ by one character dropped, added or changed, or two swapped.
fn one_slip(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    slip(&a, &b).is_some()
}

/// The orders whose item the request names best: words of the description ("the cat
/// tree", "headphones") or pairs of characters of its Chinese name ("茶壶", "咖啡豆"). The
/// reason is read too when the request names no item ("the coat doesn't fit, refund it").
pub(super) fn orders_by_item<'a>(said: &Said, book: &Book<'a>) -> Vec<&'a Order> {
    let found = best_items(&said.request, book);
    if found.is_empty() {
        best_items(&said.text, book)
    } else {
        found
    }
}

fn best_items<'a>(text: &str, book: &Book<'a>) -> Vec<&'a Order> {
    let text = text.to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(singular)
        .collect();
    let scored: Vec<(usize, &Order)> = book
        .orders
        .iter()
        .filter_map(|o| {
            let d = o.description.as_deref()?.to_lowercase();
            let score = item_score(&text, &words, &d);
            (score > 0).then_some((score, o))
        })
        .collect();
    let best = scored.iter().map(|(s, _)| *s).max().unwrap_or(0);
    scored
        .into_iter()
        .filter(|(s, _)| *s == best)
        .map(|(_, o)| o)
        .collect()
}

/// How many words and character pairs of `description` the text has.
fn item_score(text: &str, words: &[&str], description: &str) -> usize {
    let english = description
        .split(|c: char| !c.is_ascii_alphabetic())
        .filter(|w| w.len() >= 3 && !ITEM_STOP_WORDS.contains(w))
        .map(singular)
        .filter(|w| words.contains(w))
        .count();
    let han: Vec<char> = description.chars().collect();
    let chinese = han
        .windows(2)
        .filter(|pair| pair.iter().all(|c| is_han(*c)))
        .filter(|pair| text.contains(&pair.iter().collect::<String>()))
        .count();
    english + chinese
}

fn singular(word: &str) -> &str {
    match word.strip_suffix('s') {
        Some(stem) if stem.len() >= 3 && !stem.ends_with('s') => stem,
        _ => word,
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}')
}

/// "refund my order" from a shopper with one order left to refund: that order.
pub(super) fn the_only_order(text: &str, book: &Book) -> Option<OrderId> {
    if !ONE_ORDER_RE.is_match(text) {
        return None;
    }
    let mut open = book.orders.iter().filter(|o| !o.refundable().is_zero());
    match (open.next(), open.next()) {
        (Some(only), None) => Some(only.order_id.clone()),
        _ => None,
    }
}

/// Half of what is left to refund on `order`, when the text asks for half and that
/// halves exactly; the card shows the sum, which the shopper countersigns or not.
pub(super) fn half_of(text: &str, order: &Order) -> Option<Money> {
    if !HALF_RE.is_match(text) {
        return None;
    }
    let left = order.refundable();
    let minor = left.minor();
    (minor > 0 && minor % 2 == 0)
        .then(|| Money::from_minor(minor / 2, left.currency()).ok())
        .flatten()
}

/// A name folded for comparison: case, width and spaces ignored.
fn fold_name(name: &str) -> String {
    normalize(name)
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Every name the contact answers to.
fn names_of(contact: &Contact) -> impl Iterator<Item = &str> {
    [contact.contact_id.as_str(), contact.name.as_str()]
        .into_iter()
        .chain(contact.aliases.iter().map(String::as_str))
}

/// Whether `said` is one of the contact's names, ignoring case, width and spaces
/// ("li lei", "LiLei" and "Li Lei" are one name).
pub(super) fn is_named(said: &str, contact: &Contact) -> bool {
    let said = fold_name(said.trim_start_matches("我"));
    !said.is_empty()
        && names_of(contact).any(|n| {
            let n = fold_name(n);
            n == said || kin_short(&n).is_some_and(|k| k == said)
        })
}

/// "妈妈" is also "妈" ("我妈", "给妈转"): kinship names are said with one character.
fn kin_short(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some(a), Some(b), None) if a == b && is_han(a) => Some(a.to_string()),
        _ => None,
    }
}

/// The contacts the text names anywhere, each by one of its names as a word of its own
/// (or, in Chinese, as written, and in pinyin: "lao wang" is 老王); case, width and
/// spacing ignored.
/// A payee named only in the note is not the payee.
pub(super) fn contacts_named<'a>(said: &Said, book: &Book<'a>) -> Vec<&'a Contact> {
    let text = said.request.to_lowercase();
    let spaced: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    book.contacts
        .iter()
        .filter(|c| names_of(c).any(|n| mentions(&spaced, n)))
        .collect()
}

fn mentions(text: &str, name: &str) -> bool {
    let name = normalize(name).to_lowercase();
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.chars().count() < 2 {
        return false;
    }
    if name.chars().any(is_han) {
        return text.contains(&name)
            || kin_short(&name).is_some_and(|k| text.contains(&format!("我{k}")))
            || pinyin_of(&name).is_some_and(|p| mentions(text, &p));
    }
    let joined = name.replace(' ', "");
    [name.as_str(), joined.as_str()]
        .iter()
        .any(|n| as_word(text, n))
}

/// A Chinese name in plain pinyin, syllables apart ("老王" is "lao wang"); `None` when
/// any character has none.
fn pinyin_of(name: &str) -> Option<String> {
    use pinyin::ToPinyin;
    let syllables: Option<Vec<&str>> = name.to_pinyin().map(|p| p.map(|p| p.plain())).collect();
    syllables.map(|s| s.join(" "))
}

/// `word` occurs in `text` with no ASCII letter or digit on either side.
fn as_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        let edge = |c: Option<char>| !c.is_some_and(|c| c.is_ascii_alphanumeric());
        edge(before) && edge(after)
    })
}

#[cfg(test)]
mod tests {
    use super::one_slip;

    #[test]
    fn one_slip_is_one_character_or_one_swap() {
        for (a, b) in [
            ("1042", "1043"),
            ("1042", "10042"),
            ("1042", "142"),
            ("1042", "1024"),
        ] {
            assert!(one_slip(a, b), "{a} {b}");
        }
        for (a, b) in [
            ("1042", "1042"),
            ("1042", "2041"),
            ("1042", "104233"),
            ("1042", "1420"),
        ] {
            assert!(!one_slip(a, b), "{a} {b}");
        }
    }
}
