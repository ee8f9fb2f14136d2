use super::*;
use crate::domain::AlipayIdentityType;
use crate::domain::money::MAX_MINOR;

fn cny_fen(minor: i64) -> Money {
    Money::from_minor(minor, Currency::CNY).unwrap()
}

#[test]
fn yuan_has_exactly_two_decimals_from_integer_fen() {
    for (fen, text) in [
        (1, "0.01"),
        (10, "0.10"),
        (100, "1.00"),
        (12_800, "128.00"),
        (12_899, "128.99"),
        (123_456_789, "1234567.89"),
        (MAX_MINOR, "10000000000.00"),
    ] {
        assert_eq!(yuan(cny_fen(fen)).unwrap(), text);
    }
}

#[test]
fn only_yuan_moves_through_alipay() {
    for code in ["USD", "JPY", "HKD"] {
        let money = Money::parse("10", Currency::parse(code).unwrap()).unwrap();
        assert!(
            matches!(yuan(money), Err(ProviderError::Permanent(e)) if e.contains(code)),
            "{code}"
        );
    }
}

#[test]
fn a_refund_names_the_order_and_our_request_number() {
    let order = OrderId::parse("order-1042").unwrap();
    let content = refund_content(
        &order,
        None,
        cny_fen(12_800),
        Some("arrived broken"),
        "cs-refund-01",
    )
    .unwrap();
    assert_eq!(
        content,
        r#"{"out_trade_no":"order-1042","refund_amount":"128.00","refund_reason":"arrived broken","out_request_no":"cs-refund-01"}"#
    );
    let trade = AlipayTradeNo::parse("2026112222001400001234567890").unwrap();
    let by_trade = refund_content(&order, Some(&trade), cny_fen(50), None, "cs-refund-01").unwrap();
    assert_eq!(
        by_trade,
        r#"{"trade_no":"2026112222001400001234567890","refund_amount":"0.50","out_request_no":"cs-refund-01"}"#
    );
}

#[test]
fn a_transfer_goes_to_the_contacts_alipay_account() {
    let payee = AlipayPayee::parse("2088000000000003", AlipayIdentityType::UserId, None).unwrap();
    let content =
        transfer_content(&payee, cny_fen(5_000), "转账 to Mum", "cs-transfer-07").unwrap();
    assert_eq!(
        content,
        r#"{"out_biz_no":"cs-transfer-07","trans_amount":"50.00","product_code":"TRANS_ACCOUNT_NO_PWD","biz_scene":"DIRECT_TRANSFER","order_title":"转账 to Mum","payee_info":{"identity":"2088000000000003","identity_type":"ALIPAY_USER_ID"}}"#
    );
    let login =
        AlipayPayee::parse("mum@example.com", AlipayIdentityType::LogonId, Some("王芳")).unwrap();
    let content = transfer_content(&login, cny_fen(5_000), "t", "k").unwrap();
    assert!(
        content.contains(
            r#""payee_info":{"identity":"mum@example.com","identity_type":"ALIPAY_LOGON_ID","name":"王芳"}"#
        ),
        "{content}"
    );
}
