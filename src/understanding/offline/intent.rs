//! Intent: the words and phrases that ask for something, and which request the message makes.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;

use super::reason::Marker;
use super::{CERTAIN, CONFLICT, GUESS, WEAK_OTHER_INTENT, re, scored};
use crate::understanding::extraction::{Intent, Scored};

/// A word or phrase that asks for something.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cue {
    pub(super) at: usize,
    pub(super) intent: Intent,
    /// Asks for an action (refund, transfer, cancel). Status questions and
    /// "never mind" are weak: they yield to an action in the same message.
    pub(super) strong: bool,
}

static REFUND_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:refund|reimburs|charge\s*back|money\s+back|pay\s+me\s+back|send\s+(?:it|them|this)\s+back|return|overcharg|charged\s+(?:me\s+)?twice|double[\s-]charged)|(?-u:\b)(?:get|want|need)\s+(?:(?:rmb|cny|usd)\s*)?[¥$]?\s*[0-9][0-9.,]*\s*(?:yuan|kuai|rmb|cny|元|块|dollars?)?\s+back(?-u:\b)|(?:(?-u:\b)(?:rmb|cny|usd)\s*|[¥$]\s*)[0-9][0-9.,]*\s+back(?-u:\b)|[0-9][0-9.,]*\s*(?:yuan|kuai|rmb|cny|元|块|dollars?)\s+back(?-u:\b)|退款|退钱|退货|退费|退回|退给|退还|退我|退掉|退了|全退|退全|(?:全额|全款|全部|都)退|退\s*[0-9¥$一二两三四五六七八九十百半]|退(?:这个|那个|这|那)?(?:订单|单)|返款|返还",
    )
});
static TRANSFER_RE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)(?-u:\b)(?:transfer|wire|remit)|转账|转给|转钱|打钱|打款|汇款|汇钱|给[^\s,，。.;!?0-9]{1,8}?(?:转|汇)|给[^\s,，。.;!?0-9]{1,8}?(?:打|发)\s*(?:人民币|rmb)?\s*[0-9¥$]|转\s*(?:人民币|rmb|cny)?\s*[0-9¥$]|(?:^|[\s,，。])转\s+[^\s0-9]{1,8}\s*[0-9¥$]",
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

/// Every cue in `text`, left to right.
pub(super) fn find_cues(text: &str) -> Vec<Cue> {
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
pub(super) fn read_intent(cues: &[Cue], markers: &[Marker]) -> Scored<Intent> {
    let outside = outside_markers(cues, markers);
    if outside.is_empty() {
        decide_intent(cues)
    } else {
        decide_intent(&outside)
    }
}

/// Cues inside the shopper's reason do not make the request itself less
/// clear: score it again without them, if that keeps the same intent.
pub(super) fn rescore_without(
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
