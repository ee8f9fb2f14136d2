//! The deterministic menu: goal → order or contact → amount → reason → the same signed
//! confirmation as the chat. Used when the model is unavailable or keeps guessing, and by
//! clients that cannot chat at all. Pure: the engine loads and saves.

use super::Error;
use super::dispose::{Book, order_label};
use crate::domain::draft::{AmountChoice, Choice, Draft, Goal};
use crate::domain::{ContactId, Lang, Money, OrderId, Policy};
use crate::workflow::frames::ServerFrame;

/// Where the menu is, derived from what the draft already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Goal,
    Order,
    Contact,
    Amount,
    Reason,
    Ready,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Move on to the next menu.
    Next,
    /// Everything is gathered: check it and ask for consent.
    Ready,
    Cancel,
}

const CANCEL: &str = "cancel";
const CUSTOM: &str = "custom";
const REASONS: &[(&str, &str, &str)] = &[
    ("damaged", "It arrived damaged", "收到时已损坏"),
    ("not_as_described", "Not as described", "与描述不符"),
    ("changed_mind", "I changed my mind", "不想要了"),
];
const SKIP: &str = "skip";

pub fn step(draft: &Draft) -> Step {
    match draft.goal {
        None => Step::Goal,
        Some(Goal::Refund) if draft.order_id.is_none() => Step::Order,
        Some(Goal::Transfer) if draft.contact_id.is_none() => Step::Contact,
        Some(_) if draft.amount.is_none() => Step::Amount,
        Some(_) if !draft.reason_settled => Step::Reason,
        Some(_) => Step::Ready,
    }
}

/// The menu for where the draft is now.
pub fn view(draft: &Draft, policy: &Policy, book: &Book) -> ServerFrame {
    let lang = draft.lang;
    let (prompt, mut options, accepts_value) = match step(draft) {
        Step::Goal | Step::Ready => (
            lang.say("What would you like to do?", "您想做什么？"),
            goals(lang, policy),
            false,
        ),
        Step::Order => (lang.say("Which order?", "哪个订单？"), orders(book), false),
        Step::Contact => (
            lang.say("Send money to whom?", "转账给谁？"),
            contacts(book),
            false,
        ),
        Step::Amount => (
            lang.say(
                "How much? Pick one or type an amount.",
                "金额是多少？请选择或输入金额。",
            ),
            amounts(draft, policy, book),
            true,
        ),
        Step::Reason => (
            lang.say("Any reason or note?", "原因或备注？"),
            reasons(lang),
            false,
        ),
    };
    options.push(Choice::new(CANCEL, lang.say("Cancel", "取消")));
    ServerFrame::Menu {
        prompt,
        options,
        accepts_value,
    }
}

/// Applies the option the shopper picked (and a typed amount, for `custom`).
pub fn select(
    draft: &mut Draft,
    option: &str,
    value: Option<&str>,
    policy: &Policy,
    book: &Book,
) -> Result<Outcome, Error> {
    if option == CANCEL {
        return Ok(Outcome::Cancel);
    }
    let unknown = || Error::UnknownOption;
    let offered = |options: Vec<Choice>| options.iter().any(|c| c.id == option);
    match step(draft) {
        Step::Goal | Step::Ready => {
            let goal = match option {
                "refund" if policy.refund.enabled => Goal::Refund,
                "transfer" if policy.transfer.enabled => Goal::Transfer,
                _ => return Err(unknown()),
            };
            *draft = Draft {
                lang: draft.lang,
                history: std::mem::take(&mut draft.history),
                ..Draft::default()
            };
            draft.goal = Some(goal);
        }
        Step::Order if offered(orders(book)) => draft.order_id = OrderId::parse(option).ok(),
        Step::Contact if offered(contacts(book)) => {
            draft.contact_id = ContactId::parse(option).ok()
        }
        Step::Amount => draft.amount = Some(amount(draft, option, value, policy, book)?),
        Step::Reason => {
            let reason = REASONS
                .iter()
                .find(|r| r.0 == option)
                .map(|r| draft.lang.say(r.1, r.2));
            if reason.is_none() && option != SKIP {
                return Err(unknown());
            }
            draft.reason = reason;
            draft.reason_settled = true;
        }
        _ => return Err(unknown()),
    }
    Ok(if step(draft) == Step::Ready {
        Outcome::Ready
    } else {
        Outcome::Next
    })
}

fn goals(lang: Lang, policy: &Policy) -> Vec<Choice> {
    let mut options = Vec::new();
    if policy.refund.enabled {
        options.push(Choice::new(
            "refund",
            lang.say("Refund an order", "订单退款"),
        ));
    }
    if policy.transfer.enabled {
        options.push(Choice::new(
            "transfer",
            lang.say("Send money to a contact", "转账给联系人"),
        ));
    }
    options
}

fn orders(book: &Book) -> Vec<Choice> {
    let refundable = book.orders.iter().filter(|o| !o.refundable().is_zero());
    refundable
        .take(5)
        .map(|o| Choice::new(o.order_id.as_str(), order_label(o)))
        .collect()
}

fn contacts(book: &Book) -> Vec<Choice> {
    let verified = book.contacts.iter().filter(|c| c.verified);
    verified
        .take(5)
        .map(|c| Choice::new(c.contact_id.as_str(), c.name.clone()))
        .collect()
}

fn refundable(draft: &Draft, book: &Book) -> Option<Money> {
    let id = draft.order_id.as_ref()?;
    book.orders
        .iter()
        .find(|o| &o.order_id == id)
        .map(|o| o.refundable())
}

fn half(m: Money) -> Option<Money> {
    Money::from_minor(m.minor() / 2, m.currency())
        .ok()
        .filter(|h| !h.is_zero())
}

fn amounts(draft: &Draft, policy: &Policy, book: &Book) -> Vec<Choice> {
    let lang = draft.lang;
    match (draft.goal, refundable(draft, book)) {
        (Some(Goal::Refund), Some(all)) => {
            let mut options = vec![Choice::new(
                "full",
                format!("{} ({all})", lang.say("Full refund", "全额退款")),
            )];
            options.extend(
                half(all)
                    .map(|h| Choice::new("half", format!("{} ({h})", lang.say("Half", "一半")))),
            );
            options
        }
        _ => ["50", "100", "200"]
            .iter()
            .filter_map(|v| Money::parse(v, policy.currency).ok())
            .filter(|m| !m.exceeds(policy.transfer.max_amount))
            .map(|m| Choice::new(m.value_string(), m.to_string()))
            .collect(),
    }
}

fn amount(
    draft: &Draft,
    option: &str,
    value: Option<&str>,
    policy: &Policy,
    book: &Book,
) -> Result<AmountChoice, Error> {
    let not_amount = || Error::InvalidAmount;
    let typed = |v: &str| {
        Money::parse(v.trim(), policy.currency)
            .ok()
            .filter(|m| !m.is_zero())
            .map(AmountChoice::Exact)
            .ok_or_else(not_amount)
    };
    match (option, value) {
        (CUSTOM, Some(v)) => typed(v),
        (CUSTOM, None) => Err(not_amount()),
        ("full", _) if draft.goal == Some(Goal::Refund) => Ok(AmountChoice::Full),
        ("half", _) => refundable(draft, book)
            .and_then(half)
            .map(AmountChoice::Exact)
            .ok_or_else(not_amount),
        (preset, _) if amounts(draft, policy, book).iter().any(|c| c.id == preset) => typed(preset),
        _ => Err(Error::UnknownOption),
    }
}

fn reasons(lang: Lang) -> Vec<Choice> {
    let mut options: Vec<Choice> = REASONS
        .iter()
        .map(|r| Choice::new(r.0, lang.say(r.1, r.2)))
        .collect();
    options.push(Choice::new(SKIP, lang.say("Skip", "跳过")));
    options
}

/// The option id a typed amount selects.
pub fn custom() -> &'static str {
    CUSTOM
}
