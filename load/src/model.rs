//! The scripted model a load run talks to: it answers every extraction at once with a
//! refund of the order number in the shopper's message, in full, and streams rephrasings
//! back in two pieces.

use std::sync::Arc;

use serde_json::{Value, json};

use countersign_scripted::{Reply, Responder, ScriptedModel};

pub async fn start() -> ScriptedModel {
    ScriptedModel::start_unrecorded(responder()).await
}

fn responder() -> Responder {
    Arc::new(|req: &Value| {
        let content = req["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default();
        if req["stream"] == true {
            let text = serde_json::from_str::<Value>(content).unwrap_or_default()["text"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let cut = text.char_indices().nth(text.chars().count() / 2);
            let cut = cut.map_or(0, |(i, _)| i);
            return Reply::Stream(vec![text[..cut].to_owned(), text[cut..].to_owned()]);
        }
        Reply::Json(refund_in_full(order_number(content)))
    })
}

/// The first run of digits in `text`.
fn order_number(text: &str) -> Option<String> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some(digits)
}

fn refund_in_full(order: Option<String>) -> Value {
    let scored = |v: Value| json!({"value": v, "ambiguity_score": 0.05});
    json!({
        "intent": scored(json!("refund")),
        "order": order.map(|id| scored(json!({"kind": "id", "id": id}))),
        "amount": scored(json!({"kind": "full"})),
        "contact": null,
        "reason": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_number_is_the_first_digits() {
        assert_eq!(
            order_number("refund order 100042 in full").as_deref(),
            Some("100042")
        );
        assert_eq!(order_number("no digits"), None);
    }
}
