//! What the server asks, with the choices it offers, and its answer to an order-status
//! question.

use super::{Book, Question, find_order};
use crate::domain::draft::{Choice, Field};
use crate::domain::{Lang, OrderId, Policy};
use crate::store::{Contact, Order};
use crate::understanding::{OrderRef, Scored};

/// Orders offered as candidates.
const MAX_CANDIDATES: usize = 5;

pub(super) fn ask_intent(lang: Lang, policy: &Policy) -> Question {
    let mut candidates = Vec::new();
    if policy.refund.enabled {
        candidates.push(Choice::new("refund", lang.say("Refund", "退款")));
    }
    if policy.transfer.enabled {
        candidates.push(Choice::new("transfer", lang.say("Send money", "转账")));
    }
    let text = lang.say(
        "I can help with refunds and transfers. What would you like to do?",
        "我可以帮您退款或转账。您想做什么？",
    );
    Question {
        field: Field::Intent,
        text,
        candidates,
    }
}

pub(in crate::dialogue) fn order_label(o: &Order) -> String {
    let what = o
        .description
        .as_deref()
        .map(|d| format!(" · {d}"))
        .unwrap_or_default();
    format!("{}{what} · {}", o.order_id, o.refundable())
}

pub(super) fn ask_order(lang: Lang, unknown: Option<&str>, book: &Book) -> Question {
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
    let open = book.orders.iter().filter(|o| !o.refundable().is_zero());
    ask_which(lang, lead, open)
}

/// An id that is none of the shopper's but one slip from some: asks which of those was
/// meant, never assuming it.
pub(super) fn ask_near(lang: Lang, id: &str, near: &[&Order]) -> Question {
    let id: String = id.chars().take(64).collect();
    let lead = match lang {
        Lang::En => format!("I couldn't find order {id} among your orders; did you mean another? "),
        Lang::Zh => format!("在您的订单中找不到订单 {id}，是否输错了？"),
    };
    ask_which(lang, lead, near.iter().copied())
}

/// Asks which of `orders` (the first few) the shopper means.
pub(super) fn ask_which<'a>(
    lang: Lang,
    lead: String,
    orders: impl Iterator<Item = &'a Order>,
) -> Question {
    let candidates: Vec<Choice> = orders
        .take(MAX_CANDIDATES)
        .map(|o| Choice::new(o.order_id.as_str(), order_label(o)))
        .collect();
    let ask = if candidates.is_empty() {
        lang.say(
            "I can't find any order of yours with something left to refund.",
            "没有找到还可以退款的订单。",
        )
    } else {
        lang.say("Which order do you mean?", "您指的是哪个订单？")
    };
    Question {
        field: Field::Order,
        text: format!("{lead}{ask}"),
        candidates,
    }
}

pub(super) fn ask_refund_amount(lang: Lang, order: &Order) -> Question {
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

pub(super) fn ask_transfer_amount(lang: Lang, contact: &Contact) -> Question {
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

pub(super) fn ask_contact(lang: Lang, book: &Book) -> Question {
    let candidates = book
        .contacts
        .iter()
        .filter(|c| c.verified)
        .take(MAX_CANDIDATES)
        .map(|c| Choice::new(c.contact_id.as_str(), c.name.clone()))
        .collect();
    let text = lang.say("Who would you like to send money to?", "您要转账给谁？");
    Question {
        field: Field::Contact,
        text,
        candidates,
    }
}

pub(super) fn ask_reason(lang: Lang) -> Question {
    let text = lang.say("What is the reason for the refund?", "请问退款原因是什么？");
    Question {
        field: Field::Reason,
        text,
        candidates: Vec::new(),
    }
}

pub(super) fn order_status(lang: Lang, order: Option<&Scored<OrderRef>>, book: &Book) -> String {
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
