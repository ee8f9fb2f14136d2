//! Contact: the recipient a transfer names.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::{CERTAIN, GUESS, MAX_CONTACT_CHARS, PRONOUN, re, scored};
use crate::understanding::extraction::Scored;

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
pub(super) struct Contact {
    pub(super) span: Range<usize>,
    pub(super) scored: Scored<String>,
}

/// The first named recipient: certain for a name, nearly a guess for a
/// pronoun, a guess when two different recipients are named.
pub(super) fn find_contact(text: &str) -> Option<Contact> {
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
