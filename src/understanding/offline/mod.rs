//! Deterministic, rule-based reading of one chat message (English or Chinese).
//!
//! The message is capped, normalised (full-width forms folded to ASCII, invisible
//! and control characters dropped), and then read one concept at a time: intent,
//! order, contact, reason, amount. Every pattern is a `regex` (linear time) or a
//! single forward scan, so any input is read in time bounded by the cap.
//!
//! Nothing here decides whether the request is allowed or even well formed: the
//! amount comes back as the text the shopper wrote, and the server checks it.
//!
//! [`extract`] runs the readers in that order; each concept has a file of its own
//! (`normalise`, `numbers`, `clauses`, `intent`, `order`, `contact`, `reason`, `amount`),
//! and the limits and ambiguity scores they share are here.

mod amount;
mod clauses;
mod contact;
mod intent;
mod normalise;
mod numbers;
mod order;
mod reason;

use std::ops::Range;

use regex::Regex;

use super::extraction::{Extraction, Intent, Scored};
use amount::{AmountReading, find_full};
use clauses::split_clauses;
use contact::find_contact;
use intent::{find_cues, read_intent, rescore_without};
use normalise::{cap, normalize};
use numbers::scan_numbers;
use order::{find_orders, pick_order};
use reason::{ReasonScan, find_markers};

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
    let text = normalize(cap(text));
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

fn scored<T>(value: T, ambiguity_score: f64) -> Scored<T> {
    Scored {
        value,
        ambiguity_score,
    }
}

fn overlaps(a: &Range<usize>, b: &Range<usize>) -> bool {
    a.start < b.end && b.start < a.end
}

/// Compiles a pattern written in this module.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(err) => panic!("built-in pattern does not compile: {err}"),
    }
}

#[cfg(test)]
mod tests;
