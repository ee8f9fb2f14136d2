use serde_json::{Value, json};

use super::*;

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/alipay/vectors.json"
);

/// The vectors' valid refund notification, as form fields.
fn refund_form() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(VECTORS).unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    let case = all
        .iter()
        .find(|c| c["kind"] == "notify" && c["valid"] == true)
        .unwrap();
    form(&case["form"])
}

fn form(fields: &Value) -> Vec<(String, String)> {
    fields
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}

fn with(mut form: Vec<(String, String)>, name: &str, value: Option<&str>) -> Vec<(String, String)> {
    form.retain(|(k, _)| k != name);
    if let Some(v) = value {
        form.push((name.to_owned(), v.to_owned()));
    }
    form
}

fn transfer_form(status: &str) -> Vec<(String, String)> {
    let content = json!({"out_biz_no": "cs-transfer-07", "order_id": "20261122110070000006780000012345",
        "status": status, "trans_amount": "50.00", "fail_reason": "PAYEE_NOT_EXIST"});
    form(&json!({
        "notify_id": "2026112200222101602012345679",
        "utc_timestamp": "1795400160000",
        "msg_method": "alipay.fund.trans.order.changed",
        "app_id": "2021000000000001",
        "version": "1.1",
        "charset": "utf-8",
        "biz_content": content.to_string(),
        "sign_type": "RSA2",
        "sign": "ignored here",
    }))
}

#[test]
fn the_vector_refund_notification_names_our_request_and_amount() {
    let n = read(&refund_form()).unwrap();
    assert_eq!(n.call, Call::Refund);
    assert_eq!(n.app_id, "2021000000000001");
    assert_eq!(n.request_no, "cs-refund-01");
    assert_eq!(n.out_trade_no.as_deref(), Some("order-1042"));
    assert_eq!(n.alipay_no.as_deref(), Some("2026112222001400001234567890"));
    assert_eq!(n.amount, "128.00");
    assert_eq!(n.status, Status::Succeeded);
    assert_eq!(
        n.event_id(),
        "alipay:2026112200222101502012345678:order-1042:cs-refund-01"
    );
}

#[test]
fn a_full_refund_closes_the_trade_and_still_succeeded() {
    let closed = with(refund_form(), "trade_status", Some("TRADE_CLOSED"));
    assert_eq!(read(&closed).unwrap().status, Status::Succeeded);
    let failed = with(refund_form(), "refund_status", Some("REFUND_FAIL"));
    assert_eq!(
        read(&failed).unwrap().status,
        Status::Failed("refund_status REFUND_FAIL".into())
    );
}

#[test]
fn notifications_not_about_a_refund_of_ours_are_refused() {
    let payment = with(refund_form(), "gmt_refund", None);
    assert!(read(&payment).unwrap_err().0.contains("not a refund"));
    let waiting = with(refund_form(), "trade_status", Some("WAIT_BUYER_PAY"));
    assert!(read(&waiting).is_err());
    for field in [
        "notify_id",
        "app_id",
        "out_biz_no",
        "out_trade_no",
        "refund_fee",
    ] {
        let missing = with(refund_form(), field, None);
        assert_eq!(
            read(&missing).unwrap_err().0,
            format!("no {field}"),
            "{field}"
        );
    }
    let long = "9".repeat(200);
    let too_long = with(refund_form(), "out_biz_no", Some(&long));
    assert!(read(&too_long).is_err());
}

#[test]
fn transfer_messages_report_their_status() {
    let done = read(&transfer_form("SUCCESS")).unwrap();
    assert_eq!(done.call, Call::Transfer);
    assert_eq!(
        (done.request_no.as_str(), done.amount.as_str()),
        ("cs-transfer-07", "50.00")
    );
    assert_eq!(done.status, Status::Succeeded);
    assert_eq!(
        done.event_id(),
        "alipay:2026112200222101602012345679:20261122110070000006780000012345:cs-transfer-07"
    );
    assert_eq!(
        read(&transfer_form("FAIL")).unwrap().status,
        Status::Failed("transfer FAIL: PAYEE_NOT_EXIST".into())
    );
    assert_eq!(
        read(&transfer_form("DEALING")).unwrap().status,
        Status::Pending("DEALING".into())
    );
    let other = with(transfer_form("SUCCESS"), "msg_method", Some("alipay.other"));
    assert!(read(&other).is_err());
    let garbled = with(transfer_form("SUCCESS"), "biz_content", Some("{not json"));
    assert!(read(&garbled).is_err());
}
