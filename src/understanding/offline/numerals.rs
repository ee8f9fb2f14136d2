//! Chinese numerals: a sum written in characters ("一百五十元", "退两百", "转一百五") is turned
//! into digits, so the rest of the reader sees it as it sees "150元". Only where it can
//! be nothing but money: before a currency marker, or straight after the verb of a refund
//! or transfer. "一半", "一下", "第一个" and counts are left alone.

use std::sync::LazyLock;

use regex::Regex;

use super::re;

static NUMERAL_RE: LazyLock<Regex> = LazyLock::new(|| re(r"[零〇一二两三四五六七八九十百千万亿]+"));

/// Written after a sum.
const MARKERS: [&str; 8] = ["元", "块", "rmb", "yuan", "kuai", "人民币", "cny", "圆"];
/// A verb a sum follows directly.
const VERBS: [&str; 5] = ["退", "转", "打", "汇", "款"];
/// After these the numeral is a count or a share, not money.
const NOT_MONEY: [&str; 15] = [
    "半", "下", "个", "单", "点", "些", "件", "次", "天", "号", "笔", "部", "样", "遍", "份",
];

/// `text` with the sums written in Chinese numerals turned into digits.
pub(super) fn to_digits(text: &str) -> String {
    if !NUMERAL_RE.is_match(text) {
        return with_jiao(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in NUMERAL_RE.find_iter(text) {
        let before = text[..m.start()].trim_end_matches(' ');
        let after = text[m.end()..].trim_start_matches(' ');
        let marked = MARKERS.iter().any(|k| starts_caseless(after, k));
        let after_verb = VERBS.iter().any(|v| before.ends_with(v));
        // "五百", "就八十吧": a message that is only a sum.
        let alone = before.trim_end_matches('就').trim().is_empty()
            && after
                .trim_start_matches(['吧', '。', '!', '.'])
                .trim()
                .is_empty();
        let money =
            (marked || after_verb || alone) && !NOT_MONEY.iter().any(|n| after.starts_with(n));
        if let Some(value) = money.then(|| parse(m.as_str())).flatten() {
            out.push_str(&text[last..m.start()]);
            out.push_str(&value.to_string());
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    with_jiao(&out)
}

/// "66块6", "3块5毛": the digit after 块 is tenths ("66.6块").
static JIAO_RE: LazyLock<Regex> =
    LazyLock::new(|| re(r"([0-9]+)块([0-9一二两三四五六七八九])(毛|角)?"));

fn with_jiao(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for caps in JIAO_RE.captures_iter(text) {
        let (Some(all), Some(yuan), Some(tenth)) = (caps.get(0), caps.get(1), caps.get(2)) else {
            continue;
        };
        let next = text[all.end()..].chars().next();
        let ends = caps.get(3).is_some()
            || !next.is_some_and(|c| c.is_alphanumeric() && !"吧的呢啊".contains(c));
        let tenth = tenth.as_str().chars().next().and_then(digit);
        if let (true, Some(tenth)) = (ends, tenth) {
            out.push_str(&text[last..all.start()]);
            out.push_str(&format!("{}.{tenth}块", yuan.as_str()));
            last = all.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

fn starts_caseless(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn digit(c: char) -> Option<u64> {
    if let Some(d) = c.to_digit(10) {
        return Some(u64::from(d));
    }
    Some(match c {
        '零' | '〇' => 0,
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        _ => return None,
    })
}

fn unit(c: char) -> Option<u64> {
    Some(match c {
        '十' => 10,
        '百' => 100,
        '千' => 1_000,
        '万' => 10_000,
        '亿' => 100_000_000,
        _ => return None,
    })
}

/// The value of a Chinese numeral, with the spoken shortening "一百五" = 150 and
/// "两万三" = 23000; `None` for digit strings ("一二三") and anything malformed.
pub(super) fn parse(numeral: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut section: u64 = 0;
    let mut pending: Option<u64> = None;
    // The unit just written, for "一百五": a last digit counts one step below it.
    let mut last_unit: u64 = 1;
    let mut zero_since_unit = false;
    for c in numeral.chars() {
        if let Some(d) = digit(c) {
            if pending.is_some_and(|p| p != 0) {
                return None;
            }
            if d == 0 {
                zero_since_unit = true;
            }
            pending = Some(d);
            continue;
        }
        let u = unit(c)?;
        if u >= 10_000 {
            let part = section.checked_add(pending.take().unwrap_or(0))?;
            if part == 0 && total == 0 {
                return None;
            }
            total = if u == 100_000_000 {
                total.checked_add(part)?.checked_mul(u)?
            } else {
                total.checked_add(part.checked_mul(u)?)?
            };
            section = 0;
        } else {
            // "十五" is 15: a bare 十 is one ten.
            let n = pending.take().unwrap_or(if u == 10 { 1 } else { 0 });
            if n == 0 {
                return None;
            }
            section = section.checked_add(n.checked_mul(u)?)?;
        }
        last_unit = u;
        zero_since_unit = false;
    }
    if let Some(d) = pending {
        let step = if zero_since_unit || last_unit < 100 {
            1
        } else {
            last_unit / 10
        };
        section = section.checked_add(d.checked_mul(step)?)?;
    }
    let value = total.checked_add(section)?;
    (value > 0).then_some(value)
}

#[cfg(test)]
mod tests {
    use super::{parse, to_digits};

    #[test]
    fn numerals_are_read_as_spoken() {
        for (numeral, value) in [
            ("五十", 50),
            ("十五", 15),
            ("两百", 200),
            ("一百二十八", 128),
            ("一百五", 150),
            ("一百零五", 105),
            ("两千五", 2500),
            ("一万五", 15000),
            ("三万两千", 32000),
            ("八", 8),
            ("一亿五千万", 150_000_000),
        ] {
            assert_eq!(parse(numeral), Some(value), "{numeral}");
        }
        for bad in ["一二三", "零", "百", "万万", "两两"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_sums_become_digits() {
        for (text, read) in [
            ("退款五十元", "退款50元"),
            ("申请退款两百元，单号1036", "申请退款200元，单号1036"),
            ("1041退款一百五", "1041退款150"),
            ("转一百块给李雷", "转100块给李雷"),
            ("八十块", "80块"),
            ("给姐姐转两百块钱", "给姐姐转200块钱"),
            ("退一半", "退一半"),
            ("帮我看一下", "帮我看一下"),
            ("第一个订单", "第一个订单"),
            ("买了三件", "买了三件"),
            ("五百", "500"),
            ("给Lulu转 九十九", "给Lulu转 99"),
            ("66块6", "66.6块"),
            ("三块五", "3.5块"),
            ("20块5毛", "20.5块"),
            ("20块 5个", "20块 5个"),
        ] {
            assert_eq!(to_digits(text), read, "{text}");
        }
    }
}
