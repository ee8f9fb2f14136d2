//! Typing: the slips people make in the words a request is made of, put right before the
//! message is read. Only keywords are mended ("refnud", "ordr", "推款"), never names or ids,
//! and only within one slip of the keyword: a dropped, doubled or extra letter, or two
//! neighbours swapped.

use std::sync::LazyLock;

use regex::Regex;

use super::re;

/// How far a typed word may be from the keyword.
#[derive(Clone, Copy, PartialEq)]
enum Slack {
    /// Any one letter dropped, added or changed, or two neighbours swapped.
    OneEdit,
    /// Only two neighbours swapped, or a letter doubled or dropped where it was doubled
    /// ("sned", "fulll", "ful"): short words are too close to other words for more.
    Swap,
}

const KEYWORDS: [(&str, Slack); 10] = [
    ("refund", Slack::OneEdit),
    ("transfer", Slack::OneEdit),
    ("order", Slack::OneEdit),
    ("completely", Slack::OneEdit),
    ("complete", Slack::OneEdit),
    ("entire", Slack::OneEdit),
    ("please", Slack::OneEdit),
    ("send", Slack::Swap),
    ("full", Slack::Swap),
    ("whole", Slack::Swap),
];

/// Real words one slip from a keyword: never mended.
const WORDS: [&str; 13] = [
    "border",
    "older",
    "odder",
    "orders",
    "refunds",
    "transfers",
    "sender",
    "sends",
    "fully",
    "pleased",
    "pleas",
    "whale",
    "while",
];

/// Chinese slips of the pinyin keyboard, and pinyin typed for a character.
const CHINESE: [(&str, &str); 12] = [
    ("推款", "退款"),
    ("腿款", "退款"),
    ("退宽", "退款"),
    ("退kuan", "退款"),
    ("tui款", "退款"),
    ("tuikuan", "退款"),
    ("专账", "转账"),
    ("转帐", "转账"),
    ("zhuan账", "转账"),
    ("转zhang", "转账"),
    ("zhuanzhang", "转账"),
    ("退货退钱", "退货退款"),
];

/// "给小芳专500", "给爸爸赚66": a slip for 转 between a payee and a sum.
static GIVE_SLIP_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(给[^\s,，。.;!?0-9]{1,8}?)[专赚砖](\s*[0-9¥一二两三四五六七八九十百千])")
});

/// `text` with slipped keywords put right.
pub(super) fn mend(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphabetic()) {
        out.push_str(&rest[..start]);
        let word_len = rest[start..]
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len() - start);
        let word = &rest[start..start + word_len];
        let glued = out.ends_with(|c: char| c.is_ascii_digit() || c == '-' || c == '_')
            || rest[start + word_len..].starts_with(|c: char| c.is_ascii_digit() || c == '-');
        match (!glued).then(|| keyword_for(word)).flatten() {
            Some(keyword) => out.push_str(keyword),
            None => out.push_str(word),
        }
        rest = &rest[start + word_len..];
    }
    out.push_str(rest);
    let mut out = CHINESE.iter().fold(out, |text, (slip, word)| {
        replace_caseless(&text, slip, word)
    });
    if GIVE_SLIP_RE.is_match(&out) {
        out = GIVE_SLIP_RE.replace_all(&out, "${1}转${2}").into_owned();
    }
    out
}

/// The keyword `word` is a slip of, if any.
fn keyword_for(word: &str) -> Option<&'static str> {
    if word.len() < 3 || word.len() > 12 {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    if WORDS.contains(&lower.as_str()) || KEYWORDS.iter().any(|(k, _)| *k == lower) {
        return None;
    }
    KEYWORDS
        .iter()
        .find(|(keyword, slack)| one_slip(lower.as_bytes(), keyword.as_bytes(), *slack))
        .map(|(keyword, _)| *keyword)
}

/// `typed` is one slip of `keyword` under `slack`.
fn one_slip(typed: &[u8], keyword: &[u8], slack: Slack) -> bool {
    // The first letter is never the slip: "order" is not "border".
    match slip(typed, keyword) {
        Some(Slip::Swapped(at)) => at > 0,
        Some(Slip::Changed(at)) => slack == Slack::OneEdit && at > 0,
        Some(Slip::Added(at)) => at > 0 && (slack == Slack::OneEdit || typed[at] == typed[at - 1]),
        Some(Slip::Dropped(at)) => {
            at > 0 && (slack == Slack::OneEdit || keyword[at] == keyword[at - 1])
        }
        None => false,
    }
}

/// How `typed` differs from `meant` by one slip, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slip {
    /// One item changed.
    Changed(usize),
    /// This item and the next swapped.
    Swapped(usize),
    /// One item typed that `meant` lacks.
    Added(usize),
    /// One item of `meant` left out.
    Dropped(usize),
}

/// The one slip that turns `meant` into `typed`; `None` when they are equal or further
/// apart. An added or dropped item is placed at the first difference.
pub(crate) fn slip<T: PartialEq>(typed: &[T], meant: &[T]) -> Option<Slip> {
    if typed.len() == meant.len() {
        let diff: Vec<usize> = (0..typed.len()).filter(|&i| typed[i] != meant[i]).collect();
        return match diff.as_slice() {
            [i] => Some(Slip::Changed(*i)),
            [i, j] if *j == i + 1 && typed[*i] == meant[*j] && typed[*j] == meant[*i] => {
                Some(Slip::Swapped(*i))
            }
            _ => None,
        };
    }
    let (long, short) = if typed.len() > meant.len() {
        (typed, meant)
    } else {
        (meant, typed)
    };
    if long.len() != short.len() + 1 {
        return None;
    }
    let at = (0..short.len())
        .find(|&i| long[i] != short[i])
        .unwrap_or(short.len());
    if long[at + 1..] != short[at..] {
        return None;
    }
    Some(if typed.len() > meant.len() {
        Slip::Added(at)
    } else {
        Slip::Dropped(at)
    })
}

/// `text` with every `from` replaced by `to`, ASCII case ignored.
fn replace_caseless(text: &str, from: &str, to: &str) -> String {
    let lower = text.to_ascii_lowercase();
    if !lower.contains(from) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(from) {
        out.push_str(&text[last..at]);
        out.push_str(to);
        last = at + from.len();
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::mend;

    #[test]
    fn slipped_keywords_are_put_right() {
        for (typed, meant) in [
            ("refnud order 1 in full", "refund order 1 in full"),
            ("reufnd my order", "refund my order"),
            ("rfund SO-1", "refund SO-1"),
            ("Refudn 55012 full", "refund 55012 full"),
            ("refund ordr #7729 in ful", "refund order #7729 in full"),
            (
                "plz refund ordre C305 compltely",
                "plz refund order C305 completely",
            ),
            ("trasnfer 66 to mum", "transfer 66 to mum"),
            ("tranfser 20 to Tom", "transfer 20 to Tom"),
            ("sned 500 to alice", "send 500 to alice"),
            ("in fulll", "in full"),
            ("推款订单1042", "退款订单1042"),
            ("退kuan 1", "退款 1"),
            ("给小芳专500元", "给小芳转500元"),
            ("给爸爸赚66.6元", "给爸爸转66.6元"),
        ] {
            assert_eq!(mend(typed), meant, "{typed}");
        }
    }

    #[test]
    fn names_ids_and_real_words_are_left_alone() {
        for text in [
            "across the border",
            "my older brother",
            "send 5 to Fred",
            "order SO-refnd",
            "a1refnud",
            "I earned 100 yuan",
            "我赚了100元",
            "专门买的",
            "fill it in",
            "the whale",
        ] {
            assert_eq!(mend(text), text, "{text}");
        }
    }
}
