use super::*;

fn reply(code: &str, sub_code: Option<&str>) -> Reply {
    Reply {
        code: code.into(),
        msg: Some("Business Failed".into()),
        sub_code: sub_code.map(str::to_owned),
        sub_msg: sub_code.map(|_| "交易不存在".to_owned()),
        ..Reply::default()
    }
}

fn refund(code: &str, sub_code: Option<&str>) -> Answer {
    classify(Call::Refund, &reply(code, sub_code), "cs_key")
}

fn transfer(code: &str, sub_code: Option<&str>) -> Answer {
    classify(Call::Transfer, &reply(code, sub_code), "cs_key")
}

#[test]
fn a_successful_refund_is_accepted_with_the_trade_number() {
    let mut r = reply("10000", None);
    r.trade_no = Some("2026112222001400001234567890".into());
    r.fund_change = Some("Y".into());
    assert_eq!(
        classify(Call::Refund, &r, "cs_key"),
        Answer::Accepted("2026112222001400001234567890".into())
    );
}

#[test]
fn a_repeated_refund_is_already_done_never_a_second_refund() {
    let mut r = reply("10000", None);
    r.trade_no = Some("2026112222001400001234567890".into());
    r.fund_change = Some("N".into());
    assert_eq!(
        classify(Call::Refund, &r, "cs_key"),
        Answer::AlreadyDone("2026112222001400001234567890".into())
    );
    assert_eq!(
        refund("40004", Some("ACQ.DISCORDANT_REPEAT_REQUEST")),
        Answer::AlreadyDone("cs_key".into())
    );
}

#[test]
fn passing_trouble_is_retried() {
    for (code, sub) in [
        ("20000", Some("isp.unknow-error")),
        ("20000", None),
        ("40004", Some("ACQ.SYSTEM_ERROR")),
        ("40004", Some("SYSTEM_ERROR")),
        ("40004", Some("ACQ.SELLER_BALANCE_NOT_ENOUGH")),
        ("40004", Some("PAYER_BALANCE_NOT_ENOUGH")),
        ("99999", None),
    ] {
        assert!(
            matches!(refund(code, sub), Answer::Retry(_)),
            "{code} {sub:?}"
        );
    }
}

#[test]
fn business_refusals_are_permanent_unknown_sub_codes_included() {
    for sub in [
        "ACQ.TRADE_NOT_EXIST",
        "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
        "ACQ.TRADE_STATUS_ERROR",
        "ACQ.TRADE_HAS_FINISHED",
        "ACQ.TRADE_NOT_ALLOW_REFUND",
        "ACQ.SOMETHING_NEW",
    ] {
        assert!(
            matches!(refund("40004", Some(sub)), Answer::Refused(_)),
            "{sub}"
        );
    }
    for sub in [
        "PAYEE_NOT_EXIST",
        "PAYEE_USERINFO_ERROR",
        "EXCEED_LIMIT_SM_AMOUNT",
    ] {
        assert!(
            matches!(transfer("40004", Some(sub)), Answer::Refused(_)),
            "{sub}"
        );
    }
    assert!(matches!(
        refund("40002", Some("isv.invalid-app-id")),
        Answer::Refused(_)
    ));
}

#[test]
fn a_refusal_says_code_sub_code_and_message() {
    assert_eq!(
        refund("40004", Some("ACQ.TRADE_NOT_EXIST")),
        Answer::Refused("40004 ACQ.TRADE_NOT_EXIST: 交易不存在".into())
    );
}

#[test]
fn transfers_follow_their_status() {
    let mut r = reply("10000", None);
    r.order_id = Some("20261122110070000006780000012345".into());
    r.status = Some("SUCCESS".into());
    assert_eq!(
        classify(Call::Transfer, &r, "cs_key"),
        Answer::Accepted("20261122110070000006780000012345".into())
    );
    r.status = Some("DEALING".into());
    assert!(matches!(
        classify(Call::Transfer, &r, "cs_key"),
        Answer::Accepted(_)
    ));
    r.status = Some("FAIL".into());
    assert!(matches!(
        classify(Call::Transfer, &r, "cs_key"),
        Answer::Refused(_)
    ));
}
