//! The server disposes: every proposal, from the model or the rules, is checked against the
//! merchant's policy and order book here. Pure: no I/O, no clock of its own.

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::draft::{AmountChoice, Asking, Choice, Draft, Field, Goal};
use crate::domain::{Action, ContactId, Lang, Money, MoneyError, OrderId, Policy};
use crate::store::{Contact, Order};
use crate::understanding::{AmountRef, Extraction, Intent, OrderRef, Scored};

/// Two refundable orders placed this close together make "my last order" ambiguous.
const LAST_ORDER_WINDOW: TimeDelta = TimeDelta::minutes(10);
/// Orders offered as candidates.
const MAX_CANDIDATES: usize = 5;

/// The shopper's side of the merchant's books.
pub struct Book<'a> {
    /// This shopper's orders, most recently placed first.
    pub orders: &'a [Order],
    pub contacts: &'a [Contact],
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Question {
    pub field: Field,
    pub text: String,
    pub candidates: Vec<Choice>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Everything is known and allowed: ask the shopper to countersign.
    Propose {
        action: Action,
        payee: Option<String>,
    },
    /// Something is missing or unclear.
    Clarify(Question),
    /// Not allowed; `code` is for the audit log, `text` for the shopper.
    Refuse {
        code: &'static str,
        text: String,
    },
    /// A read-only answer; nothing changes.
    Answer(String),
    Cancel,
}

pub(super) fn t(lang: Lang, en: &str, zh: &str) -> String {
    match lang {
        Lang::En => en.to_owned(),
        Lang::Zh => zh.to_owned(),
    }
}

/// Decides what the shopper's message means for this session, updating `draft`.
pub fn dispose(
    draft: &mut Draft,
    ex: &Extraction,
    text: &str,
    policy: &Policy,
    book: &Book,
) -> Decision {
    let asked = draft.asking.as_ref().map(|a| a.field);
    let answered = answer_to_question(draft, text, book);
    let threshold = policy.ambiguity_threshold;
    let clear = |score: f64| score <= threshold;
    match ex.intent.value {
        Intent::Cancel if clear(ex.intent.ambiguity_score) => return Decision::Cancel,
        Intent::OrderStatus if clear(ex.intent.ambiguity_score) && policy.order_status_enabled => {
            return Decision::Answer(order_status(draft.lang, ex.order.as_ref(), book));
        }
        Intent::Refund if clear(ex.intent.ambiguity_score) => draft.switch_goal(Goal::Refund),
        Intent::Transfer if clear(ex.intent.ambiguity_score) => draft.switch_goal(Goal::Transfer),
        _ => {}
    }
    // Take everything the message says before asking about any of it.
    let mut pending = Vec::new();
    if answered != Some(Field::Order) {
        pending.extend(take_order(draft, ex.order.as_ref(), clear, book).map(Decision::Clarify));
    }
    if answered != Some(Field::Amount) {
        pending.extend(take_amount(draft, ex.amount.as_ref(), clear, policy));
    }
    if answered != Some(Field::Contact) {
        pending
            .extend(take_contact(draft, ex.contact.as_ref(), clear, book).map(Decision::Clarify));
    }
    if let Some(reason) = ex.reason.as_ref().filter(|r| clear(r.ambiguity_score)) {
        draft.reason = Some(reason.value.clone());
    } else if asked == Some(Field::Reason) && pending.is_empty() && names_nothing(ex) {
        // The answer to "what is the reason?" is the reason, in the shopper's words.
        draft.reason = crate::understanding::offline::clean_reason(text).or(draft.reason.take());
    }
    match pending.into_iter().next() {
        Some(question) => question,
        None => next_step(draft, policy, book),
    }
}

/// Whether a message names no order, amount or payee.
fn names_nothing(ex: &Extraction) -> bool {
    ex.order.is_none() && ex.amount.is_none() && ex.contact.is_none()
}

/// What is still missing, or the checked proposal.
pub fn next_step(draft: &mut Draft, policy: &Policy, book: &Book) -> Decision {
    match draft.goal {
        None => Decision::Clarify(ask_intent(draft.lang, policy)),
        Some(Goal::Refund) => refund_step(draft, policy, book),
        Some(Goal::Transfer) => transfer_step(draft, policy, book),
    }
}

fn refund_step(draft: &mut Draft, policy: &Policy, book: &Book) -> Decision {
    let lang = draft.lang;
    if !policy.refund.enabled {
        draft.goal = None;
        return refuse(
            "refund_disabled",
            t(lang, "Refunds are not available here.", "此处不支持退款。"),
        );
    }
    if let Some(AmountChoice::Exact(amount)) = draft.amount {
        if let Some(refused) = over_limit(draft, amount, policy.refund.max_amount) {
            return refused;
        }
    }
    let Some(order) = draft.order_id.as_ref().and_then(|id| find_order(book, id)) else {
        return Decision::Clarify(ask_order(lang, None, book));
    };
    let refundable = order.refundable();
    if refundable.is_zero() {
        draft.order_id = None;
        let text = match lang {
            Lang::En => format!("Order {} has nothing left to refund.", order.order_id),
            Lang::Zh => format!("订单 {} 已没有可退金额。", order.order_id),
        };
        return refuse("nothing_refundable", text);
    }
    let amount = match draft.amount {
        None => return Decision::Clarify(ask_refund_amount(lang, order)),
        Some(AmountChoice::Full) => refundable,
        Some(AmountChoice::Exact(amount)) => amount,
    };
    if amount.exceeds(refundable) {
        draft.amount = None;
        let text = match lang {
            Lang::En => format!(
                "Order {} has {refundable} left to refund, so I can't refund {amount}.",
                order.order_id
            ),
            Lang::Zh => format!(
                "订单 {} 最多还可退 {refundable}，无法退 {amount}。",
                order.order_id
            ),
        };
        return refuse("above_refundable", text);
    }
    if let Some(refused) = over_limit(draft, amount, policy.refund.max_amount) {
        return refused;
    }
    if policy.refund.reason_required && draft.reason.is_none() {
        return Decision::Clarify(ask_reason(lang));
    }
    let action = Action::Refund {
        order_id: order.order_id.clone(),
        amount,
        reason: draft.reason.clone(),
    };
    Decision::Propose {
        action,
        payee: None,
    }
}

fn transfer_step(draft: &mut Draft, policy: &Policy, book: &Book) -> Decision {
    let lang = draft.lang;
    if !policy.transfer.enabled {
        draft.goal = None;
        return refuse(
            "transfer_disabled",
            t(
                lang,
                "Transfers are not available here.",
                "此处不支持转账。",
            ),
        );
    }
    let Some(contact) = draft
        .contact_id
        .as_ref()
        .and_then(|id| book.contacts.iter().find(|c| &c.contact_id == id))
    else {
        return Decision::Clarify(ask_contact(lang, book));
    };
    if policy.transfer.verified_contacts_only && !contact.verified {
        draft.contact_id = None;
        let text = match lang {
            Lang::En => format!(
                "{} is not a verified contact, so I can't send money to them.",
                contact.name
            ),
            Lang::Zh => format!("{} 不是已验证的联系人，无法转账。", contact.name),
        };
        return refuse("unverified_contact", text);
    }
    let amount = match draft.amount {
        Some(AmountChoice::Exact(amount)) => amount,
        _ => return Decision::Clarify(ask_transfer_amount(lang, contact)),
    };
    if let Some(refused) = over_limit(draft, amount, policy.transfer.max_amount) {
        return refused;
    }
    let action = Action::Transfer {
        contact_id: contact.contact_id.clone(),
        amount,
        note: draft.reason.clone(),
    };
    Decision::Propose {
        action,
        payee: Some(contact.name.clone()),
    }
}

fn refuse(code: &'static str, text: String) -> Decision {
    Decision::Refuse { code, text }
}

/// Refuses `amount` when it is over the policy's `max` for the draft's goal, and forgets it.
fn over_limit(draft: &mut Draft, amount: Money, max: Money) -> Option<Decision> {
    if !amount.exceeds(max) {
        return None;
    }
    draft.amount = None;
    let text = match (draft.goal, draft.lang) {
        (Some(Goal::Transfer), Lang::En) => format!("Transfers above {max} can't be made here."),
        (Some(Goal::Transfer), Lang::Zh) => format!("此处无法办理超过 {max} 的转账。"),
        (_, Lang::En) => format!("Refunds above {max} can't be made here."),
        (_, Lang::Zh) => format!("此处无法办理超过 {max} 的退款。"),
    };
    Some(refuse("above_policy_max", text))
}

fn find_order<'a>(book: &'a Book, id: &OrderId) -> Option<&'a Order> {
    book.orders.iter().find(|o| &o.order_id == id)
}

/// Resolves the answer to the last question when the message is one of its candidates
/// (by id, label or position); returns the field it settled.
fn answer_to_question(draft: &mut Draft, text: &str, book: &Book) -> Option<Field> {
    let asking = draft.asking.take()?;
    let choice = pick(&asking.candidates, text)?;
    let id = choice.id.clone();
    match asking.field {
        Field::Intent if id == "refund" => draft.switch_goal(Goal::Refund),
        Field::Intent if id == "transfer" => draft.switch_goal(Goal::Transfer),
        Field::Order => {
            draft.order_id = OrderId::parse(&id)
                .ok()
                .filter(|o| find_order(book, o).is_some())
        }
        Field::Amount if id == "full" => draft.amount = Some(AmountChoice::Full),
        Field::Contact => draft.contact_id = ContactId::parse(&id).ok(),
        Field::Reason => draft.reason = Some(choice.label.clone()),
        _ => return None,
    }
    Some(asking.field)
}

const ORDINALS: &[(&str, usize)] = &[
    ("first", 0),
    ("1st", 0),
    ("第一个", 0),
    ("第一", 0),
    ("second", 1),
    ("2nd", 1),
    ("第二个", 1),
    ("第二", 1),
    ("third", 2),
    ("3rd", 2),
    ("第三个", 2),
    ("第三", 2),
];

/// The candidate `text` names: its id, its label, its 1-based number or an ordinal word.
pub fn pick<'a>(candidates: &'a [Choice], text: &str) -> Option<&'a Choice> {
    let said = text
        .trim()
        .trim_end_matches(['.', '。', '!', '！'])
        .to_lowercase();
    let said = said.trim_start_matches("the ").trim_end_matches(" one");
    if let Some(c) = candidates
        .iter()
        .find(|c| c.id.to_lowercase() == said || c.label.to_lowercase() == said)
    {
        return Some(c);
    }
    let position = said
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=candidates.len()).contains(n))
        .map(|n| n - 1);
    let position = position.or_else(|| ORDINALS.iter().find(|(w, _)| *w == said).map(|(_, i)| *i));
    position.and_then(|i| candidates.get(i))
}

fn take_order(
    draft: &mut Draft,
    order: Option<&Scored<OrderRef>>,
    clear: impl Fn(f64) -> bool,
    book: &Book,
) -> Option<Question> {
    let order = order?;
    let lang = draft.lang;
    if !clear(order.ambiguity_score) {
        return Some(ask_order(lang, None, book));
    }
    match &order.value {
        OrderRef::Last => match last_orders(book) {
            [] => Some(ask_order(lang, None, book)),
            [only] => {
                draft.order_id = Some(only.order_id.clone());
                None
            }
            several => Some(ask_order(
                lang,
                None,
                &Book {
                    orders: several,
                    ..*book
                },
            )),
        },
        OrderRef::Id { id } => match OrderId::parse(id)
            .ok()
            .filter(|o| find_order(book, o).is_some())
        {
            Some(found) => {
                draft.order_id = Some(found);
                None
            }
            None => {
                draft.order_id = None;
                Some(ask_order(lang, Some(id), book))
            }
        },
    }
}

/// The most recent refundable order, and any other placed within ten minutes of it.
fn last_orders<'a>(book: &Book<'a>) -> &'a [Order] {
    let refundable: Vec<usize> = (0..book.orders.len())
        .filter(|&i| !book.orders[i].refundable().is_zero())
        .collect();
    let Some(&first) = refundable.first() else {
        return &[];
    };
    let newest = book.orders[first].placed_at;
    let close = refundable
        .iter()
        .take_while(|&&i| newest - book.orders[i].placed_at <= LAST_ORDER_WINDOW)
        .count();
    if close <= 1 {
        return &book.orders[first..=first];
    }
    // Orders with nothing left to refund may sit between them; the question skips those.
    &book.orders[first..=refundable[close - 1]]
}

/// The most a single action of the draft's goal may move.
fn goal_max(goal: Option<Goal>, policy: &Policy) -> Money {
    match goal {
        Some(Goal::Transfer) => policy.transfer.max_amount,
        _ => policy.refund.max_amount,
    }
}

/// Takes the amount from the message. An unclear one is asked again, unless whatever it
/// could mean is over the policy's limit anyway: that is refused outright.
fn take_amount(
    draft: &mut Draft,
    amount: Option<&Scored<AmountRef>>,
    clear: impl Fn(f64) -> bool,
    policy: &Policy,
) -> Option<Decision> {
    let amount = amount?;
    let lang = draft.lang;
    let ask = |text: String| {
        Some(Decision::Clarify(Question {
            field: Field::Amount,
            text,
            candidates: Vec::new(),
        }))
    };
    let invalid = t(
        lang,
        "That is not an amount I can use. How much, for example 12.50?",
        "这不是有效的金额。请告诉我金额，例如 12.50。",
    );
    let (value, currency) = match &amount.value {
        AmountRef::Full if clear(amount.ambiguity_score) => {
            draft.amount = Some(AmountChoice::Full);
            return None;
        }
        AmountRef::Full => return ask(invalid),
        AmountRef::Exact { value, currency } => (value, currency.as_deref()),
    };
    if currency.is_some_and(|c| c != policy.currency.code()) {
        let text = match lang {
            Lang::En => format!("I can only work in {}. How much, in {0}?", policy.currency),
            Lang::Zh => format!("只支持 {}。请用 {0} 告诉我金额。", policy.currency),
        };
        return ask(text);
    }
    let parsed = match Money::parse(value, policy.currency) {
        Err(MoneyError::AboveMaximum(_) | MoneyError::Overflow) => {
            let max = Money::largest(policy.currency);
            return ask(match lang {
                Lang::En => format!("Amounts above {max} are not accepted. How much?"),
                Lang::Zh => format!("不接受超过 {max} 的金额。请告诉我金额。"),
            });
        }
        parsed => parsed.ok().filter(|m| !m.is_zero()),
    };
    match parsed {
        Some(m) if m.exceeds(goal_max(draft.goal, policy)) => {
            draft.amount = Some(AmountChoice::Exact(m));
            None
        }
        Some(m) if clear(amount.ambiguity_score) => {
            draft.amount = Some(AmountChoice::Exact(m));
            None
        }
        _ => ask(invalid),
    }
}

fn take_contact(
    draft: &mut Draft,
    contact: Option<&Scored<String>>,
    clear: impl Fn(f64) -> bool,
    book: &Book,
) -> Option<Question> {
    let contact = contact?;
    if !clear(contact.ambiguity_score) {
        return Some(ask_contact(draft.lang, book));
    }
    let said = contact.value.trim().to_lowercase();
    let matches: Vec<&Contact> = book
        .contacts
        .iter()
        .filter(|c| {
            c.contact_id.as_str().to_lowercase() == said
                || c.name.to_lowercase() == said
                || c.aliases.iter().any(|a| a.to_lowercase() == said)
        })
        .collect();
    match matches.as_slice() {
        [one] => {
            draft.contact_id = Some(one.contact_id.clone());
            None
        }
        _ => Some(ask_contact(draft.lang, book)),
    }
}

fn ask_intent(lang: Lang, policy: &Policy) -> Question {
    let mut candidates = Vec::new();
    if policy.refund.enabled {
        candidates.push(Choice::new("refund", t(lang, "Refund", "退款")));
    }
    if policy.transfer.enabled {
        candidates.push(Choice::new("transfer", t(lang, "Send money", "转账")));
    }
    let text = t(
        lang,
        "I can help with refunds and transfers. What would you like to do?",
        "我可以帮您退款或转账。您想做什么？",
    );
    Question {
        field: Field::Intent,
        text,
        candidates,
    }
}

pub(super) fn order_label(o: &Order) -> String {
    let what = o
        .description
        .as_deref()
        .map(|d| format!(" · {d}"))
        .unwrap_or_default();
    format!("{}{what} · {}", o.order_id, o.refundable())
}

fn ask_order(lang: Lang, unknown: Option<&str>, book: &Book) -> Question {
    let candidates: Vec<Choice> = book
        .orders
        .iter()
        .filter(|o| !o.refundable().is_zero())
        .take(MAX_CANDIDATES)
        .map(|o| Choice::new(o.order_id.as_str(), order_label(o)))
        .collect();
    let lead = match (unknown, lang) {
        (Some(id), Lang::En) => format!(
            "I couldn't find order {} among your orders. ",
            id.chars().take(64).collect::<String>()
        ),
        (Some(id), Lang::Zh) => format!(
            "在您的订单中找不到订单 {}。",
            id.chars().take(64).collect::<String>()
        ),
        (None, _) => String::new(),
    };
    let ask = if candidates.is_empty() {
        t(
            lang,
            "I can't find any order of yours with something left to refund.",
            "没有找到还可以退款的订单。",
        )
    } else {
        t(lang, "Which order do you mean?", "您指的是哪个订单？")
    };
    Question {
        field: Field::Order,
        text: format!("{lead}{ask}"),
        candidates,
    }
}

fn ask_refund_amount(lang: Lang, order: &Order) -> Question {
    let refundable = order.refundable();
    let text = match lang {
        Lang::En => format!(
            "How much should be refunded for order {}? Up to {refundable} is refundable.",
            order.order_id
        ),
        Lang::Zh => format!("订单 {} 要退多少？最多可退 {refundable}。", order.order_id),
    };
    let full = match lang {
        Lang::En => format!("Full refund ({refundable})"),
        Lang::Zh => format!("全额退款（{refundable}）"),
    };
    Question {
        field: Field::Amount,
        text,
        candidates: vec![Choice::new("full", full)],
    }
}

fn ask_transfer_amount(lang: Lang, contact: &Contact) -> Question {
    let text = match lang {
        Lang::En => format!("How much would you like to send to {}?", contact.name),
        Lang::Zh => format!("您要给 {} 转多少钱？", contact.name),
    };
    Question {
        field: Field::Amount,
        text,
        candidates: Vec::new(),
    }
}

fn ask_contact(lang: Lang, book: &Book) -> Question {
    let candidates = book
        .contacts
        .iter()
        .filter(|c| c.verified)
        .take(MAX_CANDIDATES)
        .map(|c| Choice::new(c.contact_id.as_str(), c.name.clone()))
        .collect();
    let text = t(
        lang,
        "Who would you like to send money to?",
        "您要转账给谁？",
    );
    Question {
        field: Field::Contact,
        text,
        candidates,
    }
}

fn ask_reason(lang: Lang) -> Question {
    let text = t(
        lang,
        "What is the reason for the refund?",
        "请问退款原因是什么？",
    );
    Question {
        field: Field::Reason,
        text,
        candidates: Vec::new(),
    }
}

fn order_status(lang: Lang, order: Option<&Scored<OrderRef>>, book: &Book) -> String {
    let found = match order.map(|o| &o.value) {
        Some(OrderRef::Id { id }) => OrderId::parse(id).ok().and_then(|id| find_order(book, &id)),
        _ => book.orders.first(),
    };
    match (found, lang) {
        (None, Lang::En) => "I couldn't find that order among your orders.".into(),
        (None, Lang::Zh) => "在您的订单中找不到该订单。".into(),
        (Some(o), Lang::En) => format!(
            "Order {} was placed on {}: {} paid, {} refunded, {} still refundable.",
            o.order_id,
            o.placed_at.format("%Y-%m-%d"),
            o.amount,
            o.refunded,
            o.refundable()
        ),
        (Some(o), Lang::Zh) => format!(
            "订单 {} 下单于 {}：已付 {}，已退 {}，可退 {}。",
            o.order_id,
            o.placed_at.format("%Y-%m-%d"),
            o.amount,
            o.refunded,
            o.refundable()
        ),
    }
}

impl Question {
    /// Remembers what was asked so a bare answer resolves it.
    pub fn asking(&self) -> Asking {
        Asking {
            field: self.field,
            candidates: self.candidates.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
