//! What of a streamed rephrasing the shopper may see while it streams: only text whose
//! every number and currency code is one the server's own wording has. A number still
//! being written is held back until it ends.

use super::prompt::{codes, numbers};

pub struct FactGate {
    numbers: Vec<String>,
    codes: Vec<String>,
    text: String,
    released: usize,
    tainted: bool,
}

/// Letters, digits and the point inside a number: a token that may still be growing.
fn in_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.'
}

/// Whether every item of `part` is in `whole`, as many times at least.
fn within(part: &[String], whole: &[String]) -> bool {
    let mut left = whole.to_vec();
    part.iter().all(|p| match left.iter().position(|w| w == p) {
        Some(i) => {
            left.swap_remove(i);
            true
        }
        None => false,
    })
}

impl FactGate {
    pub fn new(original: &str) -> Self {
        FactGate {
            numbers: numbers(original),
            codes: codes(original).into_iter().map(str::to_owned).collect(),
            text: String::new(),
            released: 0,
            tainted: false,
        }
    }

    /// Takes the next piece; returns what may be shown now. Once a piece brings a fact of
    /// its own, nothing more is released.
    pub fn push(&mut self, piece: &str) -> Option<String> {
        self.text.push_str(piece);
        if self.tainted {
            return None;
        }
        let safe = self
            .text
            .char_indices()
            .rev()
            .take_while(|&(_, c)| in_token(c))
            .last()
            .map_or(self.text.len(), |(i, _)| i);
        let prefix = &self.text[..safe];
        let own: Vec<String> = codes(prefix).into_iter().map(str::to_owned).collect();
        if !within(&numbers(prefix), &self.numbers) || !own.iter().all(|c| self.codes.contains(c)) {
            self.tainted = true;
            return None;
        }
        self.release(safe)
    }

    /// All that was streamed, released or not.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rest, once the stream has ended and the whole was found to keep the facts.
    pub fn finish(&mut self) -> Option<String> {
        if self.tainted {
            return None;
        }
        self.release(self.text.len())
    }

    fn release(&mut self, upto: usize) -> Option<String> {
        let out = &self.text[self.released..upto];
        self.released = upto;
        (!out.is_empty()).then(|| out.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::understanding::llm::prompt::keeps_facts;

    /// What the shopper sees of `pieces`, and whether the whole rephrasing stands.
    fn run(original: &str, pieces: &[&str]) -> (String, bool) {
        let mut gate = FactGate::new(original);
        let mut shown: String = pieces.iter().filter_map(|p| gate.push(p)).collect();
        let whole = keeps_facts(original, &pieces.concat());
        if whole {
            shown.extend(gate.finish());
        }
        (shown, whole)
    }

    #[test]
    fn a_faithful_rewording_streams_whole() {
        let original = "Refund 128.00 CNY for order 1042?";
        let pieces = ["Shall I refund 12", "8.00 C", "NY for order 10", "42?"];
        assert_eq!(
            run(original, &pieces),
            ("Shall I refund 128.00 CNY for order 1042?".into(), true)
        );
    }

    #[test]
    fn a_changed_number_is_never_shown() {
        let original = "Refund 128.00 CNY for order 1042?";
        let (shown, whole) = run(original, &["Your refund of 99", "99.00 CNY is approved!"]);
        assert_eq!(shown, "Your refund of ");
        assert!(!whole);
        let (shown, _) = run(original, &["Refund 128.00 ", "USD for order 1042?"]);
        assert!(!shown.contains("USD"), "{shown}");
        let (shown, _) = run(original, &["Refund 128.00 CNY ", "or 128.00 CNY?"]);
        assert!(
            !shown.contains("or 128"),
            "a number said more often: {shown}"
        );
    }

    #[test]
    fn a_rewording_that_drops_a_fact_keeps_its_tail_back() {
        let (shown, whole) = run("Refund 128.00 CNY?", &["Refund it? ", "Sure"]);
        assert_eq!(shown, "Refund it? ");
        assert!(!whole);
    }

    #[test]
    fn chinese_text_flows_between_numbers() {
        let original = "要为订单 1042 退款 128.00 CNY 吗？";
        let pieces = ["好的，订单 10", "42 将退款 128.", "00 CNY，可以吗？"];
        assert_eq!(
            run(original, &pieces),
            ("好的，订单 1042 将退款 128.00 CNY，可以吗？".into(), true)
        );
    }
}
