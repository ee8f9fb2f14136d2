//! Understanding grounded in the shopper's book, over real sockets: a sum the book says is
//! no order is the sum, an id one digit off is asked about and never taken, and what a
//! model proposes is resolved against the book the same way.

use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{shop, state};
use crate::helpers::Backend;
use crate::model::{extraction, model, with_models};
use crate::shopper::Shopper;
use countersign_scripted::ScriptedModel;

/// The frames seen so far never held a confirmation card.
fn no_card(shopper: &Shopper) -> bool {
    shopper
        .seen
        .iter()
        .all(|f| f["type"] != "confirmation_required")
}

fn candidate_ids(question: &Value) -> Vec<&str> {
    question["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect()
}

async fn a_fine_sum_without_an_order_is_kept_while_the_order_is_asked_for(b: Backend) {
    let (app, key) = shop(b, None).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut shopper = app.connect(&s).await;
    shopper.say("refund 50").await;
    let question = shopper.until("clarify").await;
    assert_eq!(question["field"], "order", "{question}");
    let text = question["question"].as_str().unwrap();
    assert!(!text.contains("not an amount"), "{text}");
    // The order number that answers is the order, not a bad sum.
    shopper.say("1042").await;
    let card = shopper.until("confirmation_required").await;
    assert_eq!(
        card["payload"]["action"],
        json!({"kind": "refund", "order_id": "1042",
        "amount": {"value": "50.00", "currency": "CNY"}})
    );
}

async fn an_order_id_one_digit_off_is_asked_about_never_taken(b: Backend) {
    // The shopper's orders are 1042 and 1041: 1043 is one digit from both.
    let (app, key) = shop(b, None).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut shopper = app.connect(&s).await;
    shopper.say("refund order 1043 in full").await;
    let question = shopper.until("clarify").await;
    assert_eq!(question["field"], "order");
    let mut ids = candidate_ids(&question);
    ids.sort_unstable();
    assert_eq!(ids, ["1041", "1042"], "{question}");
    assert!(question["question"].as_str().unwrap().contains("1043"));
    assert!(no_card(&shopper));
    assert_eq!(state(&app, &s).await, "clarifying");
    shopper.say("1042").await;
    let card = shopper.until("confirmation_required").await;
    assert_eq!(card["payload"]["action"]["order_id"], "1042");
    assert_eq!(card["payload"]["action"]["amount"]["value"], "128.00");
}

async fn a_models_guess_is_checked_against_the_book(b: Backend) {
    let m = ScriptedModel::start(model(|text| {
        if text.contains("kettle") {
            // One digit swapped: never taken for 1042.
            extraction("refund", Some("1024"), Some(json!({"kind": "full"})), None)
        } else {
            let mut ex = extraction(
                "transfer",
                None,
                Some(json!({"kind": "exact", "value": "20", "currency": "CNY"})),
                None,
            );
            ex["contact"] = json!({"value": "MUM", "ambiguity_score": 0.05});
            ex
        }
    }))
    .await;
    let (app, key) = with_models(b, &[&m]).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut shopper = app.connect(&s).await;
    shopper.say("refund the kettle on 1024").await;
    let question = shopper.until("clarify").await;
    assert_eq!(question["field"], "order");
    assert_eq!(candidate_ids(&question), ["1042"], "{question}");
    assert!(no_card(&shopper));
    // "MUM" is the payee Mum, whatever the case the model wrote it in.
    shopper.say("send 20 to my mother").await;
    let card = shopper.until("confirmation_required").await;
    assert_eq!(
        card["payload"]["action"],
        json!({"kind": "transfer", "contact_id": "mum",
        "amount": {"value": "20.00", "currency": "CNY"}})
    );
}

backend_tests!(
    a_fine_sum_without_an_order_is_kept_while_the_order_is_asked_for,
    an_order_id_one_digit_off_is_asked_about_never_taken,
    a_models_guess_is_checked_against_the_book,
);
