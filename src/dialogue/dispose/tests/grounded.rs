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
