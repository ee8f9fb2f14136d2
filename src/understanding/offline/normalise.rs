//! Normalisation: the message cut to the cap, full-width forms folded to ASCII, invisible
//! marks dropped and odd spaces made plain.

use super::MAX_INPUT_BYTES;

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
pub(super) fn normalize(text: &str) -> String {
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
