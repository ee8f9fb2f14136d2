//! Reading a message into the draft: the answer to the last question, and the order,
//! amount and payee it names, each resolved against the book.

use chrono::TimeDelta;

use super::ground::{self, Said};
use super::questions::{ask_contact, ask_near, ask_order, ask_which};
use super::{Book, Decision, Question, find_order};
use crate::domain::draft::{AmountChoice, Choice, Draft, Field, Goal};
use crate::domain::{ContactId, Lang, Money, MoneyError, OrderId, Policy};
use crate::store::Order;
use crate::understanding::offline::{amount_besides, lone_amount};
use crate::understanding::{AmountRef, Extraction, OrderRef, Scored};

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

/// What a message says of the order, resolved against the book.
pub(super) struct OrderReading {
    /// What to ask when the order named is unclear or none of the shopper's.
    pub(super) question: Option<Question>,
    /// The order the text names by an id the reader did not take for one; that number is
    /// the order, not also the amount.
    pub(super) by_id: Option<OrderId>,
}

impl OrderReading {
    fn asking(question: Question) -> Self {
        OrderReading {
            question: Some(question),
            by_id: None,
        }
    }

    fn settled() -> Self {
        OrderReading {
            question: None,
            by_id: None,
        }
    }
}

/// Takes the order the message names. An id of the shopper's, written anywhere in the
/// message, settles it; an id one slip from theirs is asked about; an order named by its
/// item, or "my order" from a shopper with one, is that order.
pub(super) fn take_order(
    draft: &mut Draft,
    order: Option<&Scored<OrderRef>>,
    said: &Said,
    clear: impl Fn(f64) -> bool,
    book: &Book,
) -> OrderReading {
    let lang = draft.lang;
    let named = ground::order_named(said, book);
    // An id the reader did not take for one, but none of the shopper's: asked about,
    // never replaced by "my last order" or an item.
    let foreign = ground::foreign_id(said, book);
    let read_id = matches!(order, Some(o) if matches!(o.value, OrderRef::Id { .. }));
    if let (None, Some(id), false) = (&named, &foreign, read_id) {
        draft.order_id = None;
        let near = ground::orders_near(id, book);
        return OrderReading::asking(if near.is_empty() {
            ask_order(lang, Some(id), book)
        } else {
            ask_near(lang, id, &near)
        });
    }
    let Some(order) = order else {
        if let Some(id) = named {
            draft.order_id = Some(id.clone());
            return OrderReading {
                question: None,
                by_id: Some(id),
            };
        }
        return take_unnamed(draft, said, book);
    };
    let id = match &order.value {
        OrderRef::Id { id } => Some(id.as_str()),
        OrderRef::Last => None,
    };
    let found = id.and_then(|id| ground::order_with_id(id, book));
    match (found, named) {
        (Some(found), _) if clear(order.ambiguity_score) => {
            draft.order_id = Some(found.order_id.clone());
            return OrderReading::settled();
        }
        (_, Some(named)) => {
            draft.order_id = Some(named.clone());
            return OrderReading {
                question: None,
                by_id: Some(named),
            };
        }
        _ => {}
    }
    if let Some(id) = id.filter(|_| found.is_none()) {
        draft.order_id = None;
        let near = ground::orders_near(id, book);
        if !near.is_empty() {
            return OrderReading::asking(ask_near(lang, id, &near));
        }
        let unknown = clear(order.ambiguity_score).then_some(id);
        return OrderReading::asking(ask_order(lang, unknown, book));
    }
    if !clear(order.ambiguity_score) {
        return OrderReading::asking(ask_order(lang, None, book));
    }
    match last_orders(book) {
        [only] => {
            draft.order_id = Some(only.order_id.clone());
            OrderReading::settled()
        }
        several => OrderReading::asking(ask_order(
            lang,
            None,
            &Book {
                orders: several,
                ..*book
            },
        )),
    }
}

/// A refund that names no order by id: the order whose item it names, or the shopper's
/// only one when it says "my order".
fn take_unnamed(draft: &mut Draft, said: &Said, book: &Book) -> OrderReading {
    if draft.order_id.is_some() || draft.goal != Some(Goal::Refund) {
        return OrderReading::settled();
    }
    match ground::orders_by_item(said, book).as_slice() {
        [one] => draft.order_id = Some(one.order_id.clone()),
        [] => draft.order_id = ground::the_only_order(&said.text, book),
        several => {
            return OrderReading::asking(ask_which(
                draft.lang,
                String::new(),
                several.iter().copied(),
            ));
        }
    }
    OrderReading::settled()
}

/// What a message may say of the sum.
pub(super) struct Sum<'a> {
    pub(super) ex: &'a Extraction,
    pub(super) text: &'a str,
    /// The order the text names by an id the reader did not take for one.
    pub(super) by_id: Option<&'a OrderId>,
    /// The message answers "how much?": a bare number in it is the sum.
    pub(super) answers: bool,
}

/// Takes the sum the message names, resolved against the book: not the order's id read
/// as a sum, a bare number that is none of the shopper's order ids taken as the sum, and
/// one a character from some of their ids asked about as an order.
pub(super) fn take_sum(
    draft: &mut Draft,
    sum: &Sum,
    clear: impl Fn(f64) -> bool,
    policy: &Policy,
    book: &Book,
) -> Option<Decision> {
    let amount = match (&sum.ex.amount, sum.by_id) {
        // The number read as the sum is the order's id, or may be: the sum, if any, is
        // what the message says besides the id.
        (Some(a), Some(id)) if is_the_order(&a.value, id) || !clear(a.ambiguity_score) => {
            amount_besides(sum.text, id.as_str())
        }
        (amount, _) => amount.clone(),
    };
    let mut amount = amount.or_else(|| sum.answers.then(|| lone_amount(sum.text)).flatten());
    if let Some(a) = amount.as_mut().filter(|a| !clear(a.ambiguity_score)) {
        if let Some(question) = near_id(draft, a, sum, book) {
            return Some(Decision::Clarify(question));
        }
        if is_plainly_amount(a, book) {
            a.ambiguity_score = 0.0;
        }
    }
    let decision = take_amount(draft, amount.as_ref(), clear, policy);
    if amount.is_none() {
        take_half(draft, sum.text, book);
    }
    decision
}

/// A bare number, in a message naming no order, one character from some of the
/// shopper's order ids: a slipped order id is likelier than a sum, so it is asked about.
fn near_id(draft: &Draft, amount: &Scored<AmountRef>, sum: &Sum, book: &Book) -> Option<Question> {
    let AmountRef::Exact {
        value,
        currency: None,
    } = &amount.value
    else {
        return None;
    };
    let bare_order = sum.ex.order.is_none() && sum.by_id.is_none() && draft.order_id.is_none();
    let near = ground::orders_near(value, book);
    (bare_order && !near.is_empty()).then(|| ask_near(draft.lang, value, &near))
}

/// Whether `amount` is only the order's id read as a sum: written bare, without currency.
fn is_the_order(amount: &AmountRef, order: &OrderId) -> bool {
    matches!(amount, AmountRef::Exact { value, currency: None } if value == order.as_str())
}

/// A bare whole number the reader could not tell from an order id (but not a guess
/// between two sums): when the book has no order with that id, it is the amount.
fn is_plainly_amount(amount: &Scored<AmountRef>, book: &Book) -> bool {
    match &amount.value {
        AmountRef::Exact {
            value,
            currency: None,
        } => {
            amount.ambiguity_score < 1.0
                && value.bytes().all(|b| b.is_ascii_digit())
                && ground::order_with_id(value, book).is_none()
        }
        _ => false,
    }
}

/// "Half" of the draft's order, when the message asks for that and it halves exactly.
fn take_half(draft: &mut Draft, text: &str, book: &Book) {
    if draft.goal != Some(Goal::Refund) {
        return;
    }
    let order = draft.order_id.as_ref().and_then(|id| find_order(book, id));
    if let Some(half) = order.and_then(|o| ground::half_of(text, o)) {
        draft.amount = Some(AmountChoice::Exact(half));
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
        // A usable sum, but not clearly the one meant: ask, without calling it unusable.
        Some(_) => ask(lang.say("How much, exactly?", "请告诉我具体金额。")),
        None => ask(invalid),
    }
}

/// Takes the payee: the one the reader found, when it is one of the book's names, or
/// else the one payee of the book the message names anywhere ("妈妈 转账 100", "to mum").
pub(super) fn take_contact(
    draft: &mut Draft,
    contact: Option<&Scored<String>>,
    said: &Said,
    clear: impl Fn(f64) -> bool,
    book: &Book,
) -> Option<Question> {
    if let Some(read) = contact.filter(|c| clear(c.ambiguity_score)) {
        let mut matches = book
            .contacts
            .iter()
            .filter(|c| ground::is_named(&read.value, c));
        if let (Some(one), None) = (matches.next(), matches.next()) {
            draft.contact_id = Some(one.contact_id.clone());
            return None;
        }
    }
    if contact.is_none() && draft.goal != Some(Goal::Transfer) {
        return None;
    }
    match ground::contacts_named(said, book).as_slice() {
        [one] => {
            draft.contact_id = Some(one.contact_id.clone());
            None
        }
        [] if contact.is_none() => None,
        _ => Some(ask_contact(draft.lang, book)),
    }
}
