//! What the book settles that the text alone leaves open.

use super::*;

fn with_item(id: &str, amount: &str, item: &str, minutes_ago: i64) -> Order {
    Order {
        description: Some(item.into()),
        ..order(id, amount, "0", minutes_ago)
    }
}

fn named(id: &str, name: &str, aliases: &[&str]) -> Contact {
    Contact {
        aliases: aliases.iter().map(|a| a.to_string()).collect(),
        ..contact(id, name, true)
    }
}

fn transfer(contact_id: &str, amount: &str) -> Decision {
    Decision::Propose {
        action: Action::Transfer {
            contact_id: ContactId::parse(contact_id).unwrap(),
            amount: cny(amount),
            note: None,
        },
        payee: None,
    }
}

#[track_caller]
fn proposes_transfer_to(d: Decision, contact_id: &str, amount: &str) {
    match d {
        Decision::Propose {
            action:
                Action::Transfer {
                    contact_id: c,
                    amount: a,
                    ..
                },
            ..
        } => assert_eq!((c.as_str(), a), (contact_id, cny(amount))),
        other => panic!(
            "expected a transfer, got {other:?} (not {:?})",
            transfer(contact_id, amount)
        ),
    }
}

#[test]
fn a_sum_the_book_says_is_no_order_is_the_sum_and_the_order_is_asked_for() {
    let w = World::standard();
    let mut draft = Draft::default();
    let q = clarifies(w.say(&mut draft, "refund 50"), Field::Order);
    assert!(!q.text.contains("not an amount"), "{}", q.text);
    assert_eq!(w.say(&mut draft, "1042"), refund("1042", "50.00", None));
}

#[test]
fn an_id_written_without_its_dash_or_in_another_case_is_the_order() {
    let w = World::new(vec![order("SO-88213", "300.00", "0", 60)]);
    for text in [
        "refund order SO88213 full",
        "退款 so-88213 全额",
        "so88213 全退",
    ] {
        assert_eq!(
            w.say(&mut Draft::default(), text),
            refund("SO-88213", "300.00", None),
            "{text}"
        );
    }
}

#[test]
fn an_order_named_by_its_item_is_that_order_and_two_are_asked_about() {
    let w = World::new(vec![
        with_item("7729", "499.00", "Coffee grinder 磨豆机", 60),
        with_item("7731", "1288.00", "Espresso machine 意式咖啡机", 120),
        with_item("7715", "88.00", "Coffee beans 咖啡豆", 600),
    ]);
    let mut draft = Draft::default();
    w.say(&mut draft, "the grinder is too loud, I want my money back");
    assert_eq!(draft.order_id.as_ref().map(OrderId::as_str), Some("7729"));
    let mut draft = Draft::default();
    w.say(&mut draft, "磨豆机太吵了，我要退款");
    assert_eq!(draft.order_id.as_ref().map(OrderId::as_str), Some("7729"));
    let mut draft = Draft::default();
    let q = clarifies(w.say(&mut draft, "refund my coffee"), Field::Order);
    let ids: Vec<&str> = q.candidates.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["7729", "7715"]);
    assert_eq!(draft.order_id, None);
}

#[test]
fn my_order_is_the_only_order_left_to_refund() {
    let w = World::new(vec![
        order("55012", "89.90", "0", 60),
        order("55001", "10.00", "10.00", 6000),
    ]);
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "refund my order please"), Field::Amount);
    assert_eq!(draft.order_id.as_ref().map(OrderId::as_str), Some("55012"));
    let w = World::standard();
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "refund my order please"), Field::Order);
}

#[test]
fn half_is_half_of_what_is_left_when_it_halves_exactly() {
    let w = World::new(vec![order("1042", "128.00", "28.00", 60)]);
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "refund order 1042"), Field::Amount);
    assert_eq!(w.say(&mut draft, "half"), refund("1042", "50.00", None));
    let w = World::new(vec![order("1043", "0.03", "0", 60)]);
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "1043 退一半"), Field::Amount);
}

#[test]
fn a_payee_is_found_by_any_of_their_names_in_any_case_or_spacing() {
    let mut w = World::standard();
    w.contacts = vec![
        named("li_lei", "李雷", &["老李", "Li Lei"]),
        named("mum", "Mum", &["妈妈"]),
    ];
    for (text, who) in [
        ("send 20 to li lei", "li_lei"),
        ("transfer 20 to LILEI", "li_lei"),
        ("给老李打¥20", "li_lei"),
        ("transfer 20 to lao li", "li_lei"),
        ("Li  Lei 转账 20", "li_lei"),
        ("麻烦给我妈转20块", "mum"),
        ("妈妈 转账 二十块", "mum"),
    ] {
        proposes_transfer_to(w.say(&mut Draft::default(), text), who, "20.00");
    }
}

#[test]
fn a_payee_named_only_inside_a_note_is_not_the_payee() {
    let w = World::standard();
    let mut draft = Draft::default();
    let d = w.say(&mut draft, "send 100 to mum, note: also send bob 500");
    proposes_transfer_to(d, "mum", "100.00");
}

#[test]
fn an_answer_that_is_only_a_number_answers_how_much() {
    let w = World::standard();
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "send money to mum"), Field::Amount);
    proposes_transfer_to(w.say(&mut draft, "200"), "mum", "200.00");
    // To "which order?", the same bare number is the order, never also a sum.
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "I want a refund"), Field::Order);
    clarifies(w.say(&mut draft, "1042"), Field::Amount);
    assert_eq!(draft.amount, None);
}

#[test]
fn a_bare_number_one_digit_from_the_shoppers_orders_is_asked_about_as_an_order() {
    let w = World::standard();
    let mut draft = Draft::default();
    let q = clarifies(w.say(&mut draft, "refund 1043"), Field::Order);
    let ids: Vec<&str> = q.candidates.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["1042", "1041"]);
    assert_eq!((draft.order_id, draft.amount), (None, None));
    // With the order known, the same kind of number is the sum.
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "refund order 1042"), Field::Amount);
    assert_eq!(
        w.say(&mut draft, "refund 40"),
        refund("1042", "40.00", None)
    );
}

#[test]
fn an_answer_may_carry_several_fields() {
    let w = World::standard();
    let mut draft = Draft::default();
    clarifies(w.say(&mut draft, "I want a refund"), Field::Order);
    assert_eq!(
        w.say(&mut draft, "1042, all of it"),
        refund("1042", "128.00", None)
    );
    let mut draft = Draft::default();
    clarifies(
        w.say(&mut draft, "I want to send some money"),
        Field::Contact,
    );
    proposes_transfer_to(w.say(&mut draft, "mum, 200"), "mum", "200.00");
}

/// Words the reader and the grounding look for, and the characters around them, so that
/// random messages often reach the code that reads them.
fn message() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        Just("refund ".to_owned()),
        Just("send ".to_owned()),
        Just("1042".to_owned()),
        Just("1043".to_owned()),
        Just("SO-1".to_owned()),
        Just("退款".to_owned()),
        Just("转".to_owned()),
        Just("一百五".to_owned()),
        Just("块".to_owned()),
        Just("half ".to_owned()),
        Just("reason: ".to_owned()),
        Just("{\"a\":1}".to_owned()),
        Just("mum".to_owned()),
        Just("妈妈".to_owned()),
        Just("k".to_owned()),
        "[ -~]{0,6}",
        "[\u{4e00}-\u{4e20}\u{ff01}-\u{ff5e}\u{3000}]{0,3}",
        any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|p| p.concat())
}

proptest::proptest! {
    #[test]
    fn any_message_in_any_turn_is_disposed_of_without_a_panic(
        first in message(),
        second in message(),
    ) {
        let w = World::standard();
        let mut draft = Draft::default();
        w.say(&mut draft, &first);
        let decided = w.say(&mut draft, &second);
        // Whatever was said, a proposal names an order of the book, or a payee of it.
        if let Decision::Propose { action, .. } = decided {
            match action {
                Action::Refund { order_id, amount, .. } => {
                    let order = w.orders.iter().find(|o| o.order_id == order_id);
                    proptest::prop_assert!(order.is_some_and(|o| !amount.exceeds(o.refundable())));
                }
                Action::Transfer { contact_id, .. } => {
                    proptest::prop_assert!(w.contacts.iter().any(|c| c.contact_id == contact_id && c.verified));
                }
            }
        }
    }
}
