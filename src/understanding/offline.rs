//! Deterministic, rule-based reading of one chat message (English or Chinese).
//!
//! The message is capped, normalised (full-width forms folded to ASCII, invisible
//! and control characters dropped), and then read one concept at a time: intent,
//! order, contact, reason, amount. Every pattern is a `regex` (linear time) or a
//! single forward scan, so any input is read in time bounded by the cap.
//!
//! Nothing here decides whether the request is allowed or even well formed: the
//! amount comes back as the text the shopper wrote, and the server checks it.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::extraction::{AmountRef, Extraction, Intent, OrderRef, Scored};

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

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

/// The first `MAX_INPUT_BYTES` of `text`, cut on a char boundary.
fn cap(text: &str) -> &str {
    if text.len() <= MAX_INPUT_BYTES {
        return text;
    }
    let mut end = MAX_INPUT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Folds full-width forms to ASCII, drops invisible marks, turns control
/// characters and odd spaces into plain spaces (line breaks stay).
fn normalize(text: &str) -> String {
    text.chars()
        .filter_map(|c| match c {
            // The full-width comma is kept: it separates clauses, never digits.
            '\u{FF0C}' => Some(c),
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0),
            '\u{FFE5}' => Some('¥'),
            '\n' | '\r' => Some('\n'),
            c if is_invisible(c) => None,
            c if c.is_control() || c.is_whitespace() => Some(' '),
            c => Some(c),
        })
        .collect()
}

/// Zero-width and bidirectional formatting characters.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// One number in the text, with any currency marker around it.
#[derive(Debug, Clone)]
struct Number {
    /// The whole mention: sign, markers and digits.
    span: Range<usize>,
    /// Sign, digits, point and exponent as written, thousands separators removed.
    value: String,
    currency: Option<&'static str>,
    /// Followed by a unit ("3 days", "2件"): a count, not money.
    unit: bool,
    /// Followed by "%": a share, not a sum.
    percent: bool,
}

impl Number {
    /// Could also be an order id: digits only.
    fn is_whole(&self) -> bool {
        self.value.bytes().all(|b| b.is_ascii_digit())
    }
}

/// Currency markers written before the number; longer forms first.
const PREFIX_MARKERS: [(&str, &str); 7] = [
    ("us$", "USD"),
    ("$", "USD"),
    ("usd", "USD"),
    ("¥", "CNY"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
    ("人民币", "CNY"),
];

/// Currency markers written after the number; longer forms first.
const SUFFIX_MARKERS: [(&str, &str); 12] = [
    ("人民币", "CNY"),
    ("块钱", "CNY"),
    ("元", "CNY"),
    ("块", "CNY"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
    ("yuan", "CNY"),
    ("美元", "USD"),
    ("美金", "USD"),
    ("usd", "USD"),
    ("dollars", "USD"),
    ("dollar", "USD"),
];

const EN_UNITS: [&str; 32] = [
    "day", "days", "hour", "hours", "hr", "hrs", "week", "weeks", "month", "months", "year",
    "years", "minute", "minutes", "min", "mins", "item", "items", "piece", "pieces", "pc", "pcs",
    "time", "times", "kg", "lb", "lbs", "cm", "mm", "km", "am", "pm",
];

const CN_UNITS: [&str; 24] = [
    "小时", "公斤", "星期", "天", "个", "件", "次", "周", "月", "年", "点", "分", "斤", "岁", "条",
    "份", "箱", "瓶", "盒", "包", "双", "台", "张", "只",
];

/// Every number in `text`, left to right. Digits glued to letters or to
/// other digits by '-', '/' or ':' ("A-1042", "3/4", "12:30") are not numbers.
fn scan_numbers(text: &str) -> Vec<Number> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let signed = matches!(b[i], b'-' | b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !b[i].is_ascii_digit() && !signed {
            i += 1;
            continue;
        }
        if glued_before(b, i, signed) {
            i = skip_token(b, i);
            continue;
        }
        let digits_start = if signed { i + 1 } else { i };
        let end = number_end(b, digits_start);
        match read_number(text, i, digits_start, end) {
            Some(number) => {
                i = number.span.end.max(end);
                out.push(number);
            }
            None => i = skip_token(b, i),
        }
    }
    out
}

/// True when the number at `i` continues a longer token.
fn glued_before(b: &[u8], i: usize, signed: bool) -> bool {
    let Some(&prev) = i.checked_sub(1).and_then(|p| b.get(p)) else {
        return false;
    };
    if prev.is_ascii_alphanumeric() || prev == b'_' {
        return true;
    }
    if signed {
        return false;
    }
    let before = i.checked_sub(2).and_then(|p| b.get(p)).copied();
    match prev {
        b'-' | b'/' | b'.' => before.is_some_and(|c| c.is_ascii_alphanumeric()),
        b':' => before.is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// The end of the token starting at `i` (always past `i`).
fn skip_token(b: &[u8], i: usize) -> usize {
    let mut j = i + 1;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b"-_/:.,".contains(&b[j])) {
        j += 1;
    }
    j
}

/// The end of the decimal text starting at `start`: digits, thousands
/// groups, a fraction and an exponent.
fn number_end(b: &[u8], start: usize) -> usize {
    let digit_at = |k: usize| b.get(k).is_some_and(u8::is_ascii_digit);
    let mut j = start;
    while digit_at(j) {
        j += 1;
    }
    if j - start <= 3 {
        while b.get(j) == Some(&b',') && (1..=3).all(|d| digit_at(j + d)) && !digit_at(j + 4) {
            j += 4;
        }
    }
    if b.get(j) == Some(&b'.') && digit_at(j + 1) {
        j += 1;
        while digit_at(j) {
            j += 1;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        let k = if matches!(b.get(j + 1), Some(b'-' | b'+')) {
            j + 2
        } else {
            j + 1
        };
        if digit_at(k) {
            j = k;
            while digit_at(j) {
                j += 1;
            }
        }
    }
    j
}

/// The number whose sign (if any) is at `start`, digits at `digits_start..end`;
/// `None` when letters follow it ("3pm", "1042abc").
fn read_number(text: &str, start: usize, digits_start: usize, end: usize) -> Option<Number> {
    let b = text.as_bytes();
    let after = skip_spaces(text, end);
    let suffix = SUFFIX_MARKERS
        .iter()
        .find(|(m, _)| starts_with_marker(text, after, m));
    if suffix.is_none() && glued_after(b, end) {
        return None;
    }

    let mut sign = text[start..digits_start].to_string();
    let mut span_start = start;
    let mut currency = suffix.map(|(_, c)| *c);
    if let Some((marker_start, code)) = prefix_marker(text, start) {
        currency = Some(code);
        span_start = marker_start;
        // "-¥5": a sign written before the marker still belongs to the number.
        if sign.is_empty() {
            if let Some(p) = marker_start.checked_sub(1) {
                let before_sign = p.checked_sub(1).and_then(|q| b.get(q));
                if matches!(b[p], b'-' | b'+')
                    && !before_sign.is_some_and(u8::is_ascii_alphanumeric)
                {
                    sign = char::from(b[p]).to_string();
                    span_start = p;
                }
            }
        }
    }
    let span_end = match suffix {
        Some((m, _)) => after + m.len(),
        None => end,
    };

    let digits: String = text[digits_start..end]
        .chars()
        .filter(|&c| c != ',')
        .collect();
    let (unit, percent) = if currency.is_some() {
        (false, false)
    } else {
        (is_unit(text, after), b.get(after) == Some(&b'%'))
    };
    Some(Number {
        span: span_start..span_end,
        value: sign + &digits,
        currency,
        unit,
        percent,
    })
}

/// True when the digits ending at `end` run straight into letters or into
/// another number ("1042-A", "3/4", "12:30", "1.2.3").
fn glued_after(b: &[u8], end: usize) -> bool {
    let next = b.get(end).copied();
    let then = b.get(end + 1).copied();
    match next {
        Some(c) if c.is_ascii_alphabetic() || c == b'_' => true,
        Some(b'-' | b'/' | b'.') => then.is_some_and(|c| c.is_ascii_alphanumeric()),
        Some(b':') => then.is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// Index after any ASCII spaces starting at `i`.
fn skip_spaces(text: &str, i: usize) -> usize {
    let b = text.as_bytes();
    let mut j = i;
    while b.get(j) == Some(&b' ') {
        j += 1;
    }
    j
}

/// `marker` (ASCII case-insensitive) starts at `at`; a marker made of
/// letters must also end there ("50 usd" but not "50 usdt").
fn starts_with_marker(text: &str, at: usize, marker: &str) -> bool {
    let b = text.as_bytes();
    let Some(head) = b.get(at..at + marker.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(marker.as_bytes()) {
        return false;
    }
    !marker.is_ascii()
        || !b
            .get(at + marker.len())
            .is_some_and(u8::is_ascii_alphanumeric)
}

/// A currency marker just before `start` (spaces allowed): its start and code.
fn prefix_marker(text: &str, start: usize) -> Option<(usize, &'static str)> {
    let b = text.as_bytes();
    let mut end = start;
    while end > 0 && b[end - 1] == b' ' {
        end -= 1;
    }
    PREFIX_MARKERS.iter().find_map(|(m, code)| {
        let m_start = end.checked_sub(m.len())?;
        if !b[m_start..end].eq_ignore_ascii_case(m.as_bytes()) {
            return None;
        }
        let letters = m.bytes().all(|c| c.is_ascii_alphabetic());
        let glued = m_start
            .checked_sub(1)
            .is_some_and(|p| b[p].is_ascii_alphanumeric());
        (!(letters && glued)).then_some((m_start, *code))
    })
}

/// A unit word or character starts at `at`.
fn is_unit(text: &str, at: usize) -> bool {
    let rest = &text[at..];
    if CN_UNITS.iter().any(|u| rest.starts_with(u)) {
        return true;
    }
    let word: String = rest
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .take(16)
        .collect::<String>()
        .to_ascii_lowercase();
    EN_UNITS.contains(&word.as_str())
}

// ---------------------------------------------------------------------------
// Clauses
// ---------------------------------------------------------------------------

/// A stretch of text between separators (commas, full stops, line breaks…).
#[derive(Debug, Clone)]
struct Clause {
    range: Range<usize>,
    /// The separator after it ends a sentence ('.', '!', '?', ';', line break).
    ends_sentence: bool,
}

/// Splits `text` into clauses. A comma or point between digits is part of a
/// number, and the point of "no." is part of an order reference.
fn split_clauses(text: &str) -> Vec<Clause> {
    let b = text.as_bytes();
    let digit = |k: Option<usize>| k.and_then(|k| b.get(k)).is_some_and(u8::is_ascii_digit);
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        let ends_sentence = match c {
            ',' | '，' | '、' => false,
            '.' | '。' | '!' | '?' | ';' | '\n' | '…' => true,
            _ => continue,
        };
        let between_digits = digit(i.checked_sub(1)) && digit(Some(i + 1));
        if (c == ',' || c == '.') && between_digits {
            continue;
        }
        if c == '.' && after_no(b, i) {
            continue;
        }
        out.push(Clause {
            range: start..i,
            ends_sentence,
        });
        start = i + c.len_utf8();
    }
    out.push(Clause {
        range: start..text.len(),
        ends_sentence: true,
    });
    out
}

/// The point at `i` follows the word "no".
fn after_no(b: &[u8], i: usize) -> bool {
    i >= 2
        && b[i - 2..i].eq_ignore_ascii_case(b"no")
        && !i
            .checked_sub(3)
            .is_some_and(|p| b[p].is_ascii_alphanumeric())
}

/// Index of the clause holding byte `at`.
fn clause_index(clauses: &[Clause], at: usize) -> usize {
    clauses
        .iter()
        .position(|c| at <= c.range.end)
        .unwrap_or(clauses.len().saturating_sub(1))
}

// ---------------------------------------------------------------------------
// Intent
// ---------------------------------------------------------------------------

/// A word or phrase that asks for something.
#[derive(Debug, Clone, Copy)]
struct Cue {
    at: usize,
    intent: Intent,
    /// Asks for an action (refund, transfer, cancel). Status questions and
    /// "never mind" are weak: they yield to an action in the same message.
    strong: bool,
}

static REFUND_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:refund|reimburs|charge\s*back|money\s+back|pay\s+me\s+back|send\s+(?:it|them|this)\s+back|return)|退款|退钱|退货|退费|退回|退给|退还|退我|退\s*[0-9¥$]|返款|返还",
    )
});
static TRANSFER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:transfer|wire|remit)|转账|转给|转钱|打钱|打款|汇款|汇钱|给[^\s,，。.;!?0-9]{1,8}?(?:转|汇)|转\s*[0-9¥$]",
    )
});
/// "send"/"pay"/"give" and the two words after them, to tell
/// "send 50 to Mum" from "send me a refund".
static SEND_PAY_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(?:send|pay|give)(?-u:\b)(?:\s+([\p{L}']+))?(?:\s+([\p{L}']+))?")
});
static CANCEL_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"(?i)(?-u:\b)(?:cancel|abort|call\s+(?:it\s+)?off)|取消|撤销|撤回"));
static CANCEL_WEAK_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(?:never\s*mind|nvm|forget\s+(?:about\s+)?it)(?-u:\b)|算了|不用了|不要了")
});
static STATUS_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:where(?:'s|’s|\s+is|\s+are)\s+(?:my|the)\s+(?:order|package|parcel|delivery|shipment|stuff|item)s?|where(?:'s|’s|\s+is)\s+order|order\s+status|status|track(?:ing)?|shipped|arrive\s+yet)(?-u:\b)|(?-u:\b)where(?:'s|’s|\s+is)\s+(?:order\s+)?#?[0-9]|订单状态|到哪了|到哪里了|到哪儿了|物流|快递到|发货了吗|发货了没|发货没|什么时候到|什么时候发货|查订单|查一下订单|查询订单",
    )
});

/// Compiles a pattern written in this file.
fn re(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(re) => re,
        Err(err) => panic!("built-in pattern does not compile: {err}"),
    }
}

/// Every cue in `text`, left to right.
fn find_cues(text: &str) -> Vec<Cue> {
    let mut cues = Vec::new();
    let table: [(&Regex, Intent, bool); 5] = [
        (&REFUND_RE, Intent::Refund, true),
        (&TRANSFER_RE, Intent::Transfer, true),
        (&CANCEL_RE, Intent::Cancel, true),
        (&CANCEL_WEAK_RE, Intent::Cancel, false),
        (&STATUS_RE, Intent::OrderStatus, false),
    ];
    for (pattern, intent, strong) in table {
        cues.extend(pattern.find_iter(text).map(|m| Cue {
            at: m.start(),
            intent,
            strong,
        }));
    }
    for caps in SEND_PAY_RE.captures_iter(text) {
        let word = |i| caps.get(i).map(|m| m.as_str().to_lowercase());
        let first = word(1).unwrap_or_default();
        let second = word(2).unwrap_or_default();
        let to_self = ["me", "us", "back", "for", "off", "attention"].contains(&first.as_str());
        let sent_back =
            ["it", "them", "this", "that"].contains(&first.as_str()) && second == "back";
        if let (false, false, Some(m)) = (to_self, sent_back, caps.get(0)) {
            cues.push(Cue {
                at: m.start(),
                intent: Intent::Transfer,
                strong: true,
            });
        }
    }
    cues.sort_by_key(|c| c.at);
    cues
}

/// Cues that are not inside a stated reason or note.
fn outside_markers(cues: &[Cue], markers: &[Marker]) -> Vec<Cue> {
    cues.iter()
        .filter(|c| !markers.iter().any(|m| m.region.contains(&c.at)))
        .copied()
        .collect()
}

/// The intent, ignoring cues inside "because …" / "for …" (unless that is
/// all there is).
fn read_intent(cues: &[Cue], markers: &[Marker]) -> Scored<Intent> {
    let outside = outside_markers(cues, markers);
    if outside.is_empty() {
        decide_intent(cues)
    } else {
        decide_intent(&outside)
    }
}

/// Cues inside the shopper's reason do not make the request itself less
/// clear: score it again without them, if that keeps the same intent.
fn rescore_without(
    intent: Scored<Intent>,
    cues: &[Cue],
    markers: &[Marker],
    reason: &Range<usize>,
) -> Scored<Intent> {
    let rest: Vec<Cue> = outside_markers(cues, markers)
        .into_iter()
        .filter(|c| !reason.contains(&c.at))
        .collect();
    let rescored = decide_intent(&rest);
    if rescored.value == intent.value {
        rescored
    } else {
        intent
    }
}

/// The first action wins over status questions and "never mind"; two
/// different actions, or two different weak cues alone, are a conflict.
fn decide_intent(cues: &[Cue]) -> Scored<Intent> {
    let strong: Vec<&Cue> = cues.iter().filter(|c| c.strong).collect();
    if let Some(first) = strong.first() {
        let score = if strong.iter().any(|c| c.intent != first.intent) {
            CONFLICT
        } else if cues.iter().any(|c| c.intent != first.intent) {
            WEAK_OTHER_INTENT
        } else {
            CERTAIN
        };
        return scored(first.intent, score);
    }
    match cues.first() {
        Some(first) if cues.iter().any(|c| c.intent != first.intent) => {
            scored(first.intent, CONFLICT)
        }
        Some(first) => scored(first.intent, CERTAIN),
        None => scored(Intent::Unknown, GUESS),
    }
}

// ---------------------------------------------------------------------------
// Order
// ---------------------------------------------------------------------------

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
        r"(?i)(?-u:\b)(?:last|latest|most\s+recent|previous|recent|newest|prior)\s+(?:order|purchase|package|parcel)(?-u:\b)|上(?:一个|一笔|个|笔)订单|上一单|上一笔|最近(?:的|一个|一笔|那个|那笔)?订单|最近一单|最后(?:一个|一笔|的)?订单|最新(?:的|一个|一笔)?订单",
    )
});

/// An order named in the text.
#[derive(Debug, Clone)]
struct OrderMention {
    span: Range<usize>,
    order: OrderRef,
}

/// Every order reference, left to right: ids ("order 1042", "#1042",
/// "订单号1042", "1042号订单") and "my last order".
fn find_orders(text: &str, numbers: &[Number]) -> Vec<OrderMention> {
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
fn pick_order(orders: &[OrderMention]) -> Option<Scored<OrderRef>> {
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

// ---------------------------------------------------------------------------
// Contact
// ---------------------------------------------------------------------------

/// "send 50 to Mum", "transfer ¥200 to Alice", "give it to 妈妈".
static EN_TO_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:send|transfer|wire|pay|give|remit)(?-u:\b)[^;!?\n。]{0,60}?(?-u:\b)to\s+(?P<name>[\p{L}\p{M}][\p{L}\p{M}'’.-]*(?: [\p{L}\p{M}][\p{L}\p{M}'’.-]*){0,3})",
    )
});
/// "pay Bob 30", "send Mum 50".
static EN_VERB_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(?:pay|send|give|transfer|wire)\s+(?P<name>[\p{L}\p{M}][\p{L}\p{M}'’.-]*)")
});
/// "转账给妈妈", "转200给小王", "打钱给他".
static CN_GIVE_AFTER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?:转账|转钱|转|打钱|打款|汇款|汇钱|汇)[^，。;!?\n]{0,20}?给\s*(?P<name>[^\s\p{P}\p{S}0-9]{1,16})",
    )
});
/// "给小王转200", "给妈妈汇款".
static CN_GIVE_BEFORE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"给\s*(?P<name>[^\s\p{P}\p{S}0-9]{1,16}?)\s*(?:转账|转钱|转|打钱|打款|汇款|汇钱|汇)")
});

/// Words that end a name ("Mum for dinner") or cannot be one ("send money").
const NAME_STOP_WORDS: [&str; 50] = [
    "for",
    "because",
    "since",
    "due",
    "please",
    "pls",
    "plz",
    "now",
    "today",
    "tonight",
    "tomorrow",
    "asap",
    "and",
    "with",
    "via",
    "from",
    "on",
    "at",
    "by",
    "in",
    "back",
    "money",
    "cash",
    "it",
    "the",
    "a",
    "an",
    "some",
    "all",
    "everything",
    "half",
    "yuan",
    "dollars",
    "dollar",
    "usd",
    "rmb",
    "cny",
    "thanks",
    "thank",
    "thx",
    "as",
    "of",
    "account",
    "card",
    "wallet",
    "bank",
    "so",
    "to",
    "too",
    "right",
];

/// Chinese particles and verbs that end a name written without spaces.
const CN_NAME_END: [char; 13] = [
    '吧', '啊', '呀', '呢', '哦', '了', '用', '买', '作', '当', '的', '吗', '嘛',
];

const PRONOUNS: [&str; 13] = [
    "him", "her", "them", "me", "us", "you", "他", "她", "他们", "她们", "它", "ta", "对方",
];

/// The recipient of a transfer and where it was written.
struct Contact {
    span: Range<usize>,
    scored: Scored<String>,
}

/// The first named recipient: certain for a name, nearly a guess for a
/// pronoun, a guess when two different recipients are named.
fn find_contact(text: &str) -> Option<Contact> {
    let mut found: Vec<(Range<usize>, String)> = Vec::new();
    for pattern in [
        &EN_TO_RE,
        &EN_VERB_RE,
        &CN_GIVE_AFTER_RE,
        &CN_GIVE_BEFORE_RE,
    ] {
        for caps in pattern.captures_iter(text) {
            if let Some(m) = caps.name("name") {
                if let Some(name) = clean_name(m.as_str()) {
                    found.push((m.range(), name));
                }
            }
        }
    }
    found.sort_by_key(|(span, _)| span.start);
    let (span, name) = found.first()?.clone();
    let lower = name.to_lowercase();
    let score = if found.iter().any(|(_, other)| other.to_lowercase() != lower) {
        GUESS
    } else if PRONOUNS.contains(&lower.as_str()) {
        PRONOUN
    } else {
        CERTAIN
    };
    Some(Contact {
        span,
        scored: scored(name, score),
    })
}

/// The name at the start of `raw`, without "my", stop words or trailing
/// particles; `None` if nothing is left or it is too long.
fn clean_name(raw: &str) -> Option<String> {
    let mut words: Vec<&str> = Vec::new();
    for (i, word) in raw.split(' ').filter(|w| !w.is_empty()).enumerate() {
        let lower = word.to_lowercase();
        if i == 0 && ["my", "our", "your"].contains(&lower.as_str()) {
            continue;
        }
        if NAME_STOP_WORDS.contains(&lower.as_str()) {
            break;
        }
        match word.find(CN_NAME_END) {
            Some(cut) => {
                words.push(&word[..cut]);
                break;
            }
            None => words.push(word),
        }
    }
    let name = words.join(" ");
    let name = name.trim_end_matches(['.', '\'', '’', '-']).trim();
    let len = name.chars().count();
    (len > 0 && len <= MAX_CONTACT_CHARS).then(|| name.to_string())
}

// ---------------------------------------------------------------------------
// Reason
// ---------------------------------------------------------------------------

static BECAUSE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:because(?:\s+of)?|since|due\s+to|cuz|(?:the\s+)?reason\s+(?:is|being))(?-u:\b)|(?-u:\b)reason\s*:|因为|由于|原因是|原因\s*:|理由是|理由\s*:",
    )
});
static NOTE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)for(?-u:\b)|(?-u:\b)(?:note|memo)\s*:|备注\s*:?|用于|用来|用作|作为")
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
struct Marker {
    /// From the marker to the end of its clause.
    region: Range<usize>,
    /// Where the reason text itself starts.
    text_start: usize,
    /// A transfer note ("for dinner"), not a reason.
    note: bool,
}

fn find_markers(text: &str, clauses: &[Clause]) -> Vec<Marker> {
    let mut out = Vec::new();
    for (pattern, note) in [(&BECAUSE_RE, false), (&NOTE_RE, true)] {
        for m in pattern.find_iter(text) {
            let clause = &clauses[clause_index(clauses, m.start())];
            out.push(Marker {
                region: m.start()..clause.range.end.max(m.end()),
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
struct ReasonScan<'a> {
    text: &'a str,
    intent: Intent,
    clauses: &'a [Clause],
    cues: &'a [Cue],
    markers: &'a [Marker],
    // What a reason clause must not contain: money, order references, the
    // recipient, "full refund".
    numbers: &'a [Number],
    orders: &'a [OrderMention],
    contact: Option<Range<usize>>,
    full: &'a [Range<usize>],
}

impl ReasonScan<'_> {
    /// First a stated reason ("because …", "因为…", and for transfers
    /// "for …", "用于…"); otherwise a plain clause after the request
    /// ("…, it arrived broken") or, failing that, before it ("收到的时候坏了，
    /// 退款…"). Other intents get only a stated one, so that money in it is
    /// not read as the amount.
    fn find(&self) -> Option<Range<usize>> {
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
                || self.intent == Intent::Transfer
                    && request.is_some_and(|r| r.at < m.region.start);
            fits && self.text[m.text_start..m.region.end.max(m.text_start)]
                .chars()
                .any(char::is_alphabetic)
        })?;
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
        self.numbers
            .iter()
            .any(|n| !n.unit && overlaps(&n.span, range))
            || self.orders.iter().any(|o| overlaps(&o.span, range))
            || self.contact.as_ref().is_some_and(|c| overlaps(c, range))
            || self.full.iter().any(|f| overlaps(f, range))
    }
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

// ---------------------------------------------------------------------------
// Amount
// ---------------------------------------------------------------------------

static FULL_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:full(?:\s+(?:refund|amount|price|sum|payment))?|in\s+full|everything|all\s+of\s+it|the\s+whole\s+(?:amount|sum|thing)|entire\s+amount)(?-u:\b)|全额|全款|全部|全退",
    )
});
static VAGUE_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?i)(?-u:\b)(?:half|some|partial(?:ly)?|part\s+of\s+it)(?-u:\b)|一部分|一些|部分|一半")
});

/// Every "full refund" phrase, except "full of …" and "全部都/坏/破/是".
fn find_full(text: &str) -> Vec<Range<usize>> {
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
struct AmountReading {
    intent: Intent,
    /// Numbers with a currency marker, and "full refund" phrases.
    concrete: Vec<Candidate>,
    /// Numbers with no marker, not an order id, not a count.
    bare: Vec<Candidate>,
    /// "half", "some", "一部分", "30%".
    vague: bool,
}

impl AmountReading {
    fn new(
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
        let mut vague = VAGUE_RE.find_iter(text).any(|m| outside(&m.range()));
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
        if matches!(intent, Intent::Refund | Intent::Transfer) {
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
    fn pick(self, order_named: bool) -> (Option<Scored<AmountRef>>, Option<Scored<OrderRef>>) {
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

#[cfg(test)]
mod tests;
