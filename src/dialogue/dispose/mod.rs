//! The server disposes: every proposal, from the model or the rules, is checked against the
//! merchant's policy and order book here. Pure: no I/O, no clock of its own.
//!
//! The two entry points are here: [`dispose`] takes a message into the draft and decides,
//! [`next_step`] checks the draft against the policy and the book. How a message's order,
//! amount and payee are resolved is in `reading`; the wording of what the server asks and
//! answers is in `questions`.

mod ground;
mod questions;
mod reading;

use chrono::{DateTime, Utc};

use crate::domain::draft::{AmountChoice, Asking, Choice, Draft, Field, Goal};
use crate::domain::{Action, Lang, Money, OrderId, Policy};
use crate::store::{Contact, Order};
use crate::understanding::{Extraction, Intent};

use ground::Said;
use questions::{
    ask_contact, ask_intent, ask_order, ask_reason, ask_refund_amount, ask_transfer_amount,
    order_status,
};
use reading::{Sum, answer_to_question, take_contact, take_order, take_sum};

pub(super) use questions::order_label;
pub use reading::pick;

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

impl Question {
    /// Remembers what was asked so a bare answer resolves it.
    pub fn asking(&self) -> Asking {
        Asking {
            field: self.field,
            candidates: self.candidates.clone(),
        }
    }
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
    let said = Said::new(text, ex.reason.as_ref().map(|r| r.value.as_str()));
    let mut pending = Vec::new();
    let mut by_id = None;
    if answered != Some(Field::Order) {
        let order = take_order(draft, ex.order.as_ref(), &said, clear, book);
        by_id = order.by_id;
        pending.extend(order.question.map(Decision::Clarify));
    }
    if answered != Some(Field::Amount) {
        let sum = Sum {
            ex,
            text: &said.text,
            by_id: by_id.as_ref(),
            // "200" answers "how much?", and "mum, 200" answers "to whom?" for both fields.
            answers: names_nothing(ex)
                && (asked == Some(Field::Amount)
                    || asked == Some(Field::Contact) && draft.goal == Some(Goal::Transfer)),
        };
        pending.extend(take_sum(draft, &sum, clear, policy, book));
    }
    if answered != Some(Field::Contact) {
        pending.extend(
            take_contact(draft, ex.contact.as_ref(), &said, clear, book).map(Decision::Clarify),
        );
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
            lang.say("Refunds are not available here.", "此处不支持退款。"),
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
            lang.say("Transfers are not available here.", "此处不支持转账。"),
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

#[cfg(test)]
mod tests;
