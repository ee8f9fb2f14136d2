//! Numbers: every number in the message, with the currency marker or unit written around it.

use std::ops::Range;

/// One number in the text, with any currency marker around it.
#[derive(Debug, Clone)]
pub(super) struct Number {
    /// The whole mention: sign, markers and digits.
    pub(super) span: Range<usize>,
    /// Sign, digits, point and exponent as written, thousands separators removed.
    pub(super) value: String,
    pub(super) currency: Option<&'static str>,
    /// Followed by a unit ("3 days", "2件"): a count, not money.
    pub(super) unit: bool,
    /// Followed by "%": a share, not a sum.
    pub(super) percent: bool,
    /// Written with a magnitude ("5万"): a sum, never an id.
    pub(super) scaled: bool,
}

impl Number {
    /// Could also be an order id: digits only, as written.
    pub(super) fn is_whole(&self) -> bool {
        !self.scaled && self.value.bytes().all(|b| b.is_ascii_digit())
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
const SUFFIX_MARKERS: [(&str, &str); 13] = [
    ("人民币", "CNY"),
    ("块钱", "CNY"),
    ("元", "CNY"),
    ("块", "CNY"),
    ("rmb", "CNY"),
    ("cny", "CNY"),
    ("yuan", "CNY"),
    ("kuai", "CNY"),
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
pub(super) fn scan_numbers(text: &str) -> Vec<Number> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let signed = matches!(b[i], b'-' | b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !b[i].is_ascii_digit() && !signed {
            i += 1;
            continue;
        }
        if glued_before(b, i, signed) && prefix_marker_glued(text, i).is_none() {
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
    // "5万", "1.5 千": the magnitude is part of the number, never dropped.
    let kilo = matches!(b.get(end), Some(b'k' | b'K'))
        && !b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
    let (zeros, end_of_magnitude) = match magnitude(text, skip_spaces(text, end)) {
        // "2k": thousands, written straight after the digits.
        _ if kilo => (3, end + 1),
        Some((zeros, len)) => (zeros, skip_spaces(text, end) + len),
        None => (0, end),
    };
    let after = skip_spaces(text, end_of_magnitude);
    let suffix = SUFFIX_MARKERS
        .iter()
        .find(|(m, _)| starts_with_marker(text, after, m));
    if suffix.is_none() && zeros == 0 && glued_after(b, end) {
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
        None => end_of_magnitude,
    };

    let written: String = text[digits_start..end]
        .chars()
        .filter(|&c| c != ',')
        .collect();
    let digits = times_ten_to(&written, zeros)?;
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
        scaled: zeros > 0,
    })
}

/// Chinese magnitudes written after a number, as powers of ten.
const MAGNITUDES: [(&str, usize); 4] = [("亿", 8), ("万", 4), ("千", 3), ("百", 2)];

/// A magnitude starting at `at`: its power of ten and its length in bytes.
fn magnitude(text: &str, at: usize) -> Option<(usize, usize)> {
    let rest = text.get(at..)?;
    MAGNITUDES
        .iter()
        .find(|(m, _)| rest.starts_with(m))
        .map(|(m, zeros)| (*zeros, m.len()))
}

/// `written` (digits with at most one point) times 10^`zeros`, exactly, as digits with at
/// most one point; `None` for a written exponent, which a magnitude cannot follow.
fn times_ten_to(written: &str, zeros: usize) -> Option<String> {
    if zeros == 0 {
        return Some(written.to_owned());
    }
    if written.contains(['e', 'E']) {
        return None;
    }
    let (whole, fraction) = written.split_once('.').unwrap_or((written, ""));
    let mut fraction = fraction.to_owned();
    fraction.extend(std::iter::repeat_n(
        '0',
        zeros.saturating_sub(fraction.len()),
    ));
    let (moved, rest) = fraction.split_at(zeros);
    let whole = format!("{whole}{moved}");
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    Some(match rest.trim_end_matches('0') {
        "" => whole.to_owned(),
        rest => format!("{whole}.{rest}"),
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

/// A currency marker of letters written straight before the number ("RMB30", "usd5"),
/// itself not the end of a longer word.
fn prefix_marker_glued(text: &str, start: usize) -> Option<&'static str> {
    let b = text.as_bytes();
    PREFIX_MARKERS.iter().find_map(|(m, code)| {
        let m_start = start.checked_sub(m.len())?;
        let letters = m.bytes().all(|c| c.is_ascii_alphabetic());
        let word_start = m_start == 0 || !b[m_start - 1].is_ascii_alphanumeric();
        (letters && word_start && b[m_start..start].eq_ignore_ascii_case(m.as_bytes()))
            .then_some(*code)
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
