//! Reason: the shopper's stated reason for a refund, or the note on a transfer.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::clauses::{Clause, clause_index};
use super::intent::Cue;
use super::numbers::Number;
use super::order::{OrderMention, id_words, written_like_an_id};
use super::{MAX_REASON_CHARS, overlaps, re};
use crate::understanding::extraction::Intent;

static BECAUSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:because(?:\s+of)?|since|due\s+to|cuz|(?:the\s+)?reason\s+(?:is|being))(?-u:\b)|(?-u:\b)reason\s*:|因为|由于|原因是|原因\s*:|理由是|理由\s*:|(?-u:\b)p\.?s\.?\s*:|附言\s*:",
    )
});
static NOTE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)for(?-u:\b)|(?-u:\b)(?:note|memo)(?:\s+(?:to|for)\s+[\p{L}]+)?\s*:|备注\s*:?|用于|用来|用作|作为",
    )
});
/// Clauses that say nothing of their own: courtesies, "just half", emoji.
static FILLER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)^(?:[\s\p{P}\p{S}]|please|pls|plz|thanks|thank\s+you|thx|ty|hi|hello|hey|ok|okay|asap|now|just|only|then|and|also|full|everything|all\s+of\s+it|in\s+full|half|some|is\s+fine|is\s+ok|is\s+enough|will\s+do|enough|谢谢|谢了|多谢|感谢|麻烦了|麻烦|请|你好|您好|嗨|好的|好|拜托|吧|啊|呀|哦|呢|了|就|只|行|可以|好了|全额|全款|全部|一部分|一些|一半|部分)*$",
    )
});

/// A courtesy closing a reason ("… for the tickets please").
static TRAILING_COURTESY_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?:(?-u:\b)(?:please|pls|plz|thanks|thank\s+you|thx)|谢谢|谢了|多谢|麻烦了)[\s\p{P}]*$",
    )
});

/// Words that speak to the agent.
static ADDRESS_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)(?:you|your|yours|u)(?-u:\b)|你|您"));

/// Where a stated reason ("because …") or transfer note ("for …") starts.
#[derive(Debug, Clone)]
pub(super) struct Marker {
    /// From the marker to the end of its clause, or of the message when it is a label.
    pub(super) region: Range<usize>,
    /// "reason:", "备注：": everything after the label is the reason or note.
    labelled: bool,
    /// Where the reason text itself starts.
    pub(super) text_start: usize,
    /// A transfer note ("for dinner"), not a reason.
    pub(super) note: bool,
}

pub(super) fn find_markers(text: &str, clauses: &[Clause]) -> Vec<Marker> {
    let mut out = Vec::new();
    for (pattern, note) in [(&BECAUSE_RE, false), (&NOTE_RE, true)] {
        for m in pattern.find_iter(text) {
            let clause = &clauses[clause_index(clauses, m.start())];
            let labelled = m.as_str().ends_with(':');
            let end = if labelled {
                text.len()
            } else {
                clause.range.end
            };
            out.push(Marker {
                region: m.start()..end.max(m.end()),
                labelled,
                text_start: m.end(),
                note,
            });
        }
    }
    out.sort_by_key(|m| m.region.start);
    out
}

/// The message as seen when looking for the shopper's reason (refunds) or
/// note (transfers).
pub(super) struct ReasonScan<'a> {
    pub(super) text: &'a str,
    pub(super) intent: Intent,
    pub(super) clauses: &'a [Clause],
    pub(super) cues: &'a [Cue],
    pub(super) markers: &'a [Marker],
    // What a reason clause must not contain: money, order references, the
    // recipient, "full refund".
    pub(super) numbers: &'a [Number],
    pub(super) orders: &'a [OrderMention],
    pub(super) contact: Option<Range<usize>>,
    pub(super) full: &'a [Range<usize>],
}

impl ReasonScan<'_> {
    /// First a stated reason ("because …", "因为…", and for transfers
    /// "for …", "用于…"); otherwise a plain clause after the request
    /// ("…, it arrived broken") or, failing that, before it ("收到的时候坏了，
    /// 退款…"). Other intents get only a stated one, so that money in it is
    /// not read as the amount.
    pub(super) fn find(&self) -> Option<Range<usize>> {
        let request = self.cues.iter().find(|c| {
            c.intent == self.intent && !self.markers.iter().any(|m| m.region.contains(&c.at))
        });
        if let Some(span) = self.stated(request) {
            return Some(span);
        }
        if !matches!(self.intent, Intent::Refund | Intent::Transfer) {
            return None;
        }
        let k = clause_index(self.clauses, request?.at);
        self.after(k).or_else(|| self.before(k))
    }

    /// From the first usable marker to the end of its clause, and on through
    /// plain clauses to the end of the sentence.
    fn stated(&self, request: Option<&Cue>) -> Option<Range<usize>> {
        let marker = self.markers.iter().find(|m| {
            // A note ("for dinner") follows the transfer it annotates.
            let fits = !m.note
                || m.labelled
                || self.intent == Intent::Transfer
                    && request.is_some_and(|r| r.at < m.region.start);
            fits && self.text[m.text_start..m.region.end.max(m.text_start)]
                .chars()
                .any(char::is_alphabetic)
        })?;
        if marker.labelled {
            return Some(marker.text_start..marker.region.end);
        }
        let mut i = clause_index(self.clauses, marker.text_start);
        while !self.clauses[i].ends_sentence
            && i + 1 < self.clauses.len()
            && self.qualifies(i + 1, false)
        {
            i += 1;
        }
        Some(marker.text_start..self.clauses[i].range.end.max(marker.text_start))
    }

    /// The first run of plain clauses after clause `k`.
    fn after(&self, k: usize) -> Option<Range<usize>> {
        let first = (k + 1..self.clauses.len()).find(|&i| self.qualifies(i, false))?;
        let mut last = first;
        while last + 1 < self.clauses.len() && self.qualifies(last + 1, false) {
            last += 1;
        }
        Some(self.clauses[first].range.start..self.clauses[last].range.end)
    }

    /// The nearest run of plain clauses before clause `k`. Here only a
    /// description counts, not words to the agent ("ignore your rules, …").
    fn before(&self, k: usize) -> Option<Range<usize>> {
        let describes = |i: usize| {
            self.qualifies(i, true)
                && !ADDRESS_RE.is_match(&self.text[self.clauses[i].range.clone()])
        };
        let last = (0..k).rev().find(|&i| describes(i))?;
        let mut first = last;
        while first > 0 && describes(first - 1) {
            first -= 1;
        }
        Some(self.clauses[first].range.start..self.clauses[last].range.end)
    }

    /// Clause `i` has words of its own and nothing the request is made of.
    /// Cues of other weak intents ("it never shipped") are allowed unless
    /// `any_cue_blocks`.
    fn qualifies(&self, i: usize, any_cue_blocks: bool) -> bool {
        let range = &self.clauses[i].range;
        let s = &self.text[range.clone()];
        s.chars().any(char::is_alphabetic)
            && !FILLER_RE.is_match(s)
            && !self.blocked(range)
            && !self.cues.iter().any(|c| {
                range.contains(&c.at) && (any_cue_blocks || c.strong || c.intent == self.intent)
            })
    }

    fn blocked(&self, range: &Range<usize>) -> bool {
        has_id(&self.text[range.clone()])
            || self
                .numbers
                .iter()
                .any(|n| !n.unit && overlaps(&n.span, range))
            || self.orders.iter().any(|o| overlaps(&o.span, range))
            || self.contact.as_ref().is_some_and(|c| overlaps(c, range))
            || self.full.iter().any(|f| overlaps(f, range))
    }
}

/// A word written like an order id ("SO-88107", "C305"): a clause naming one is part of
/// the request, not the reason.
fn has_id(clause: &str) -> bool {
    id_words(clause).any(written_like_an_id)
}

/// Trimmed, whitespace collapsed, a closing courtesy dropped, at most 200
/// chars; `None` if nothing is left.
pub fn clean_reason(raw: &str) -> Option<String> {
    let edge = |c: char| c.is_whitespace() || ",，、.。!?;:-—~…".contains(c);
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = collapsed.trim_matches(edge);
    let trimmed = match TRAILING_COURTESY_RE.find(trimmed) {
        Some(m) => trimmed[..m.start()].trim_end_matches(edge),
        None => trimmed,
    };
    let capped: String = trimmed.chars().take(MAX_REASON_CHARS).collect();
    let capped = capped.trim_end_matches(edge);
    capped
        .chars()
        .any(char::is_alphabetic)
        .then(|| capped.to_string())
}
