//! Normalisation: the message cut to the cap, full-width forms folded to ASCII, invisible
//! marks dropped and odd spaces made plain.

use std::sync::LazyLock;

use regex::Regex;

use super::{MAX_INPUT_BYTES, re};

/// Code fences, JSON-like objects and markup elements: text written for a machine, never
/// what a shopper asks. Instructions hidden in them are not read at all.
static BLOB_RES: LazyLock<[Regex; 3]> = LazyLock::new(|| {
    [
        re(r"(?s)```.*?(?:```|$)"),
        re(r#"\{[^{}]*["':=][^{}]*\}"#),
        re(r"(?s)<([A-Za-z_][A-Za-z0-9_-]*)[^<>]*>.*?</[A-Za-z_][A-Za-z0-9_-]*>"),
    ]
});

/// `text` with code, JSON and markup blobs blanked out.
pub(super) fn drop_blobs(text: &str) -> String {
    BLOB_RES.iter().fold(text.to_owned(), |text, blob| {
        blob.replace_all(&text, " ").into_owned()
    })
}

/// The first `MAX_INPUT_BYTES` of `text`, cut on a char boundary.
pub(super) fn cap(text: &str) -> &str {
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
pub(crate) fn normalize(text: &str) -> String {
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
