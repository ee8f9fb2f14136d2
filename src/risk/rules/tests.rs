use chrono::{TimeDelta, Utc};

use super::*;
use crate::domain::{
    ContactId, Currency, MerchantId, Money, OrderId, PolicyDoc, SessionId, UserId,
};
use crate::store::{Contact, Order, RiskStats};

fn cny(v: &str) -> Money {
    Money::parse(v, Currency::CNY).unwrap()
}

fn order(amount: &str) -> Order {
    Order {
        merchant_id: MerchantId::parse("acme").unwrap(),
        order_id: OrderId::parse("1042").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        amount: cny(amount),
        refunded: cny("0"),
        reserved: cny("0"),
        description: None,
        alipay_trade_no: None,
        placed_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fn refund(amount: &str, order_amount: &str) -> RiskInput {
    RiskInput {
        session_id: SessionId::new(),
        merchant_id: "acme".into(),
        user_id: "u1".into(),
        device: None,
        action: Action::Refund {
            order_id: OrderId::parse("1042").unwrap(),
            amount: cny(amount),
            reason: None,
        },
        order: Some(order(order_amount)),
        contact: None,
        policy: PolicyDoc::default().parse().unwrap(),
        stats: RiskStats::default(),
    }
}

#[test]
fn an_ordinary_refund_scores_low() {
    let a = score(&refund("50.00", "128.00"));
    assert_eq!((a.score, a.codes.len()), (0.0, 0));
}

#[test]
fn a_refund_above_review_above_goes_to_review() {
    let a = score(&refund("600.00", "900.00"));
    assert_eq!(a.codes, ["amount_above_review"]);
    assert_eq!(a.score, 0.5);
}

#[test]
fn more_than_refundable_or_a_missing_order_is_declined() {
    assert_eq!(score(&refund("200.00", "128.00")).score, 1.0);
    let mut input = refund("10.00", "128.00");
    input.order = None;
    assert_eq!(score(&input).codes, ["order_missing"]);
}

#[test]
fn velocity_and_new_devices_add_up() {
    let mut input = refund("50.00", "128.00");
    input.device = Some("new-phone".into());
    input.stats = RiskStats {
        shopper_recent: 3,
        merchant_recent: 0,
        device_known: false,
        returning: true,
    };
    let a = score(&input);
    assert_eq!(a.codes, ["velocity_shopper", "new_device"]);
    assert!((a.score - 0.4).abs() < 1e-9);
    input.stats.shopper_recent = 6;
    assert!(score(&input).score >= 0.7);
}

#[test]
fn a_transfer_to_a_payee_added_today_is_flagged() {
    let mut input = refund("50.00", "128.00");
    input.action = Action::Transfer {
        contact_id: ContactId::parse("mum").unwrap(),
        amount: cny("50"),
        note: None,
    };
    input.contact = Some(Contact {
        merchant_id: MerchantId::parse("acme").unwrap(),
        contact_id: ContactId::parse("mum").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        name: "Mum".into(),
        aliases: vec![],
        verified: true,
        alipay: None,
        created_at: Utc::now() - TimeDelta::hours(1),
        updated_at: Utc::now(),
    });
    assert_eq!(score(&input).codes, ["new_contact"]);
}
