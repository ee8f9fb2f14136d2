//! Deterministic, rule-based reading of one chat message (English or Chinese).
//!
//! The message is capped, normalised (full-width forms folded to ASCII, invisible
//! and control characters dropped, code, JSON and markup blanked out), its slipped
//! keywords mended ("refnud") and its
//! sums in Chinese numerals written as digits, and then read one concept at a time:
//! intent, order, contact, reason, amount. Every pattern is a `regex` (linear time) or a
//! single forward scan, so any input is read in time bounded by the cap.
//!
//! Nothing here decides whether the request is allowed or even well formed: the
//! amount comes back as the text the shopper wrote, and the server checks it.
//!
//! [`extract`] runs the readers in that order; each concept has a file of its own
//! (`normalise`, `typing`, `numerals`, `numbers`, `clauses`, `intent`, `order`, `contact`,
//! `reason`, `amount`),
//! and the limits and ambiguity scores they share are here.

mod amount;
mod clauses;
mod contact;
mod intent;
mod normalise;
mod numbers;
mod numerals;
mod order;
mod reason;
mod typing;

use std::ops::Range;

use regex::Regex;

use super::extraction::{AmountRef, Extraction, Intent, Scored};
use amount::{AmountReading, find_full};
use clauses::split_clauses;
use contact::find_contact;
use intent::{find_cues, read_intent, rescore_without};
use normalise::{cap, drop_blobs};

pub(crate) use normalise::normalize;
use numbers::scan_numbers;
use order::{find_orders, pick_order};
pub(crate) use order::{id_words, written_like_an_id};
use reason::{ReasonScan, find_markers};
pub(crate) use typing::slip;

pub use reason::clean_reason;

/// Only this much of a message is read; the rest is ignored.
const MAX_INPUT_BYTES: usize = 4096;
const MAX_ID_CHARS: usize = 64;
const MAX_AMOUNT_CHARS: usize = 16;
const MAX_CONTACT_CHARS: usize = 64;
const MAX_REASON_CHARS: usize = 200;

const CERTAIN: f64 = 0.0;
/// A number with no currency marker that can only be the amount.
const BARE_AMOUNT: f64 = 0.15;
/// A whole number in a refund with no order named: amount or order id.
const AMOUNT_OR_ORDER: f64 = 0.6;
/// A whole number taken as the order id because nothing else names one.
const BARE_ORDER: f64 = 0.5;
/// An order id and "my last order" in one message: maybe the same order.
const ID_AND_LAST: f64 = 0.5;
/// A clear request next to a status question or a "never mind".
const WEAK_OTHER_INTENT: f64 = 0.3;
/// Two different requests in one message.
const CONFLICT: f64 = 0.8;
/// "him", "她": someone the server must still identify.
const PRONOUN: f64 = 0.9;
const GUESS: f64 = 1.0;

/// Reads one chat message into a structured, scored proposal.
pub fn extract(text: &str) -> Extraction {
    let text = prepare(text);
    let text = text.as_str();

    let numbers = scan_numbers(text);
    let clauses = split_clauses(text);
    let cues = find_cues(text);
    let markers = find_markers(text, &clauses);
    let mut intent = read_intent(&cues, &markers);

    let orders = find_orders(text, &numbers);
    let contact = match intent.value {
        Intent::Transfer => find_contact(text),
        _ => None,
    };
    let full = find_full(text);

    let reason_span = ReasonScan {
        text,
        intent: intent.value,
        clauses: &clauses,
        cues: &cues,
        markers: &markers,
        numbers: &numbers,
        orders: &orders,
        contact: contact.as_ref().map(|c| c.span.clone()),
        full: &full,
    }
    .find();

    if let Some(span) = &reason_span {
        intent = rescore_without(intent, &cues, &markers, span);
    }

    let reading = AmountReading::new(
        text,
        intent.value,
        &numbers,
        &orders,
        &full,
        reason_span.as_ref(),
    );
    let (amount, bare_order) = reading.pick(!orders.is_empty());

    let order = pick_order(&orders).or(bare_order);
    let reason = match intent.value {
        Intent::Refund | Intent::Transfer => reason_span
            .and_then(|span| clean_reason(&text[span]))
            .map(|r| scored(r, CERTAIN)),
        _ => None,
    };

    Extraction {
        intent,
        order,
        amount,
        contact: contact.map(|c| c.scored),
        reason,
    }
}

/// The message as the readers see it: capped, normalised, slipped keywords mended and
/// sums written in Chinese numerals turned to digits.
fn prepare(text: &str) -> String {
    numerals::to_digits(&typing::mend(&without_blobs(text)))
}

/// A message that is only a sum ("200", "150元", "八十块"), as the answer to "how much?".
pub fn lone_amount(text: &str) -> Option<Scored<AmountRef>> {
    let text = prepare(text);
    let numbers = scan_numbers(&text);
    let [n] = numbers.as_slice() else {
        return None;
    };
    let usable = !n.unit && !n.percent && n.value.len() <= MAX_AMOUNT_CHARS;
    usable.then(|| {
        let value = AmountRef::Exact {
            value: n.value.clone(),
            currency: n.currency.map(str::to_string),
        };
        scored(value, CERTAIN)
    })
}

/// The message with code, JSON and markup blanked out, as the reader reads it.
pub fn without_blobs(text: &str) -> String {
    drop_blobs(&normalize(cap(text)))
}

/// An id with case, width and separators folded away: "so88213" is "SO-88213".
pub(crate) fn fold_id(id: &str) -> String {
    normalize(id)
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The amount `text` names besides the word `id` (an order id written bare, which the
/// text alone could not tell from a sum): "1041退款150" is 150.
pub fn amount_besides(text: &str, id: &str) -> Option<Scored<AmountRef>> {
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let mut rest = String::with_capacity(text.len());
    let mut removed = false;
    for word in text.split_inclusive(|c: char| !is_id_char(c)) {
        let (w, sep) = word.split_at(word.trim_end_matches(|c: char| !is_id_char(c)).len());
        if !removed && fold_id(w) == fold_id(id) {
            removed = true;
            rest.push(' ');
        } else {
            rest.push_str(w);
        }
        rest.push_str(sep);
    }
    if !removed {
        return None;
    }
    extract(&rest).amount
}

fn scored<T>(value: T, ambiguity_score: f64) -> Scored<T> {
    Scored {
        value,
        ambiguity_score,
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Compiles a built-in pattern.
pub(crate) fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(err) => panic!("built-in pattern does not compile: {err}"),
    }
}

#[cfg(test)]
mod tests;
