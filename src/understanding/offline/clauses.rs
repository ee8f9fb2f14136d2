//! Clauses: the message split at commas, full stops and line breaks, never inside a number.

use std::ops::Range;

/// A stretch of text between separators (commas, full stops, line breaks…).
#[derive(Debug, Clone)]
pub(super) struct Clause {
    pub(super) range: Range<usize>,
    /// The separator after it ends a sentence ('.', '!', '?', ';', line break).
    pub(super) ends_sentence: bool,
}

/// Splits `text` into clauses. A comma or point between digits is part of a
/// number, and the point of "no." is part of an order reference.
pub(super) fn split_clauses(text: &str) -> Vec<Clause> {
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
pub(super) fn clause_index(clauses: &[Clause], at: usize) -> usize {
    clauses
        .iter()
        .position(|c| at <= c.range.end)
        .unwrap_or(clauses.len().saturating_sub(1))
}
