//! The order book and contacts over HTTP.

use serde_json::{Value, json};

use countersign::domain::{MerchantId, OrderId};

use crate::backend_tests;
use crate::helpers::{Backend, assert_error, spawn_app};

fn order(value: &str) -> Value {
    json!({"user_id": "u1", "amount": {"value": value, "currency": "CNY"}, "description": "teapot",
           "placed_at": "2026-11-20T10:00:00Z"})
}

async fn orders_are_created_then_replaced(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let (status, created) = app
        .put("/v1/orders/1042", &acme.api_key, &order("128.00"))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        created["amount"],
        json!({"value": "128.00", "currency": "CNY"})
    );
    assert_eq!(
        created["refundable"],
        json!({"value": "128.00", "currency": "CNY"})
    );
    assert_eq!(created["placed_at"], "2026-11-20T10:00:00Z");
    let mut replaced = order("128");
    replaced["refunded"] = json!({"value": "28.5", "currency": "CNY"});
    let (status, body) = app.put("/v1/orders/1042", &acme.api_key, &replaced).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["refundable"]["value"], "99.50");
    let stored = app
        .state
        .store
        .order(
            &MerchantId::parse("acme").unwrap(),
            &OrderId::parse("1042").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.refunded.minor(), 2850);
}

async fn hostile_orders_get_clear_errors_and_change_nothing(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    app.put("/v1/orders/1042", &acme.api_key, &order("128.00"))
        .await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut o = order("128.00");
        f(&mut o);
        o
    };
    let cases: Vec<(Value, &str)> = vec![
        (order("-5.00"), "amount"),
        (order("12.3.4"), "amount"),
        (order("1e3"), "amount"),
        (order("12.345"), "amount"),
        (order("0"), "amount.value"),
        (with(&|o| o["amount"]["value"] = json!(12.5)), "amount"),
        (
            with(&|o| o["amount"]["currency"] = json!("USD")),
            "amount.currency",
        ),
        (with(&|o| o["amount"]["currency"] = json!("XXX")), "amount"),
        (
            with(&|o| o["refunded"] = json!({"value": "200.00", "currency": "CNY"})),
            "refunded",
        ),
        (
            with(&|o| o["refunded"] = json!({"value": "-1", "currency": "CNY"})),
            "refunded",
        ),
        (with(&|o| o["placed_at"] = json!("yesterday")), "placed_at"),
        (with(&|o| o["status"] = json!("paid")), "status"),
        (
            with(&|o| o["description"] = json!("d".repeat(501))),
            "description",
        ),
        (
            json!({"amount": {"value": "1", "currency": "CNY"}}),
            "user_id",
        ),
    ];
    for (body, field) in cases {
        let got = app.put("/v1/orders/1042", &acme.api_key, &body).await;
        assert_error(&got, 422, "validation_failed", field);
    }
    assert_error(
        &app.put("/v1/orders/10%2042", &acme.api_key, &order("1"))
            .await,
        400,
        "invalid_path",
        "order id",
    );
    assert_error(
        &app.put("/v1/orders/1042", "csk_nope", &order("1")).await,
        401,
        "unauthorized",
        "",
    );
    let stored = app
        .state
        .store
        .order(
            &MerchantId::parse("acme").unwrap(),
            &OrderId::parse("1042").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.amount.minor(), stored.refunded.minor()),
        (12800, 0),
        "unchanged"
    );
    assert_eq!(app.count("orders").await, 1);
}

async fn a_merchant_with_another_currency_books_in_it(b: Backend) {
    let app = spawn_app(b).await;
    let shop = app
        .merchant("usshop", Some(json!({"currency": "USD"})))
        .await;
    let mut o = order("12.50");
    o["amount"]["currency"] = json!("USD");
    assert_eq!(app.put("/v1/orders/A-1", &shop.api_key, &o).await.0, 201);
    assert_error(
        &app.put("/v1/orders/A-2", &shop.api_key, &order("12.50"))
            .await,
        422,
        "validation_failed",
        "USD",
    );
}

async fn contacts_are_created_validated_and_replaced(b: Backend) {
    let app = spawn_app(b).await;
    let acme = app.merchant("acme", None).await;
    let mum = json!({"user_id": "u1", "name": "Mum", "aliases": ["Mom", "妈妈"], "verified": true});
    let (status, body) = app.put("/v1/contacts/mum", &acme.api_key, &mum).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["aliases"], json!(["Mom", "妈妈"]));
    assert_eq!(
        app.put("/v1/contacts/mum", &acme.api_key, &mum).await.0,
        200
    );
    let cases = [
        (json!({"user_id": "u1", "name": "Mum"}), "verified"),
        (
            json!({"user_id": "u1", "name": "  ", "verified": true}),
            "name",
        ),
        (
            json!({"user_id": "u1", "name": "Mum", "verified": "yes"}),
            "verified",
        ),
        (
            json!({"user_id": "u1", "name": "Mum", "aliases": [""], "verified": true}),
            "aliases[0]",
        ),
        (
            json!({"user_id": "u1", "name": "Mum", "verified": true, "iban": "x"}),
            "iban",
        ),
    ];
    for (body, field) in cases {
        assert_error(
            &app.put("/v1/contacts/mum", &acme.api_key, &body).await,
            422,
            "validation_failed",
            field,
        );
    }
    assert_eq!(app.count("contacts").await, 1);
}

backend_tests!(
    orders_are_created_then_replaced,
    hostile_orders_get_clear_errors_and_change_nothing,
    a_merchant_with_another_currency_books_in_it,
    contacts_are_created_validated_and_replaced,
);
