//! Reading a message into the draft: the answer to the last question, and the order,
//! amount and payee it names, each resolved against the book.

use chrono::TimeDelta;

use super::questions::{ask_contact, ask_order};
use super::{Book, Decision, Question, find_order};
use crate::domain::draft::{AmountChoice, Choice, Draft, Field, Goal};
use crate::domain::{ContactId, Lang, Money, MoneyError, OrderId, Policy};
use crate::store::{Contact, Order};
use crate::understanding::{AmountRef, OrderRef, Scored};

/// Two refundable orders placed this close together make "my last order" ambiguous.
const LAST_ORDER_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// Resolves the answer to the last question when the message is one of its candidates
/// (by id, label or position); returns the field it settled.
pub(super) fn answer_to_question(draft: &mut Draft, text: &str, book: &Book) -> Option<Field> {
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

pub(super) fn take_order(
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

/// The one order of the shopper's book whose id the message names as a word of its own, in
/// any case ("refund 1042", "退款1042", "so-88213 全退"): a number equal to one of the
/// shopper's orders is that order. `None` when no id or several are named; an id that is
/// only close to one of the book's is never taken for it.
pub(super) fn named_order(text: &str, book: &Book) -> Option<OrderId> {
    let is_id_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    let words: Vec<&str> = text.split(|c: char| !is_id_char(c)).collect();
    let mut named = book.orders.iter().filter(|o| {
        let id = o.order_id.as_str();
        words.iter().any(|w| w.eq_ignore_ascii_case(id))
    });
    match (named.next(), named.next()) {
        (Some(only), None) => Some(only.order_id.clone()),
        _ => None,
    }
}

/// Whether `amount` is only the order's id read as a sum: written bare, without currency.
pub(super) fn is_the_order(amount: &AmountRef, order: &OrderId) -> bool {
    matches!(amount, AmountRef::Exact { value, currency: None } if value == order.as_str())
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
pub(super) fn take_amount(
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
    let invalid = lang.say(
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

pub(super) fn take_contact(
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
