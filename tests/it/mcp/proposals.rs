//! Proposals that only the shopper's answer on the countersign page settles or ends.

use serde_json::{Value, json};

use countersign::domain::SessionId;

use super::{Transcript, client, link_secret, sessions};
use crate::backend_tests;
use crate::fixtures::{shop, shop_with};
use crate::helpers::{Backend, assert_error, count_rows, spawn_app_with};

async fn a_refund_settles_only_once_the_page_confirms_it(b: Backend) {
    let (app, key) = shop(b, None).await;
    let c = client(&app, &key).await;
    let mut t = Transcript::default();
    let orders = t.ok(&c, "list_orders", json!({"user_id": "u1"})).await;
    assert_eq!(orders["orders"][0]["order_id"], "1042");
    assert_eq!(orders["orders"][0]["refundable"]["value"], "128.00");
    let args = json!({"user_id": "u1", "order_id": "1042",
        "amount": {"value": "100.00", "currency": "CNY"}, "reason": "arrived broken"});
    let p = t.ok(&c, "propose_refund", args).await;
    assert_eq!(
        p["summary"],
        "Refund 100.00 CNY for order 1042 to your original payment method. Reason: arrived broken."
    );
    assert_eq!(p["amount"], json!({"value": "100.00", "currency": "CNY"}));
    let id = p["session_id"].as_str().unwrap().to_owned();
    let status = t.ok(&c, "session_status", json!({"session_id": id})).await;
    assert_eq!(status["state"], "awaiting_confirmation");
    assert_eq!(status["expires_at"], p["expires_at"]);

    // The page's call: the exact signed summary and its token, for this session only.
    let secret = link_secret(&p);
    let (code, view) = app.get("/v1/countersign", &secret).await;
    assert_eq!(code, 200, "{view}");
    assert_eq!(view["session_id"], id);
    let token = view["confirmation"]["token"].as_str().unwrap().to_owned();
    assert_eq!(view["confirmation"]["payload"]["summary"], p["summary"]);
    t.never_mentions(&token);
    assert_eq!(count_rows(&app.db.url, "submissions").await, 0);
    // The link is no merchant key and no client token.
    let (code, _) = app.get(&format!("/v1/sessions/{id}"), &secret).await;
    assert_eq!(code, 401);

    let mut frames = app.state.flow.hub.subscribe(SessionId::parse(&id).unwrap());
    let body = json!({"type": "confirm", "token": token});
    let (code, after) = app.post("/v1/countersign", &secret, &body).await;
    assert_eq!(code, 200, "{after}");
    assert_ne!(after["state"], "awaiting_confirmation");
    loop {
        let f = frames.recv().await.expect("frames until settled");
        if f.frame["type"] == "status" && f.frame["state"] == "settled" {
            break;
        }
    }
    let status = t.ok(&c, "session_status", json!({"session_id": id})).await;
    assert_eq!(status["state"], "settled");
    assert!(status["provider_reference"].as_str().is_some(), "{status}");
    let order = t
        .ok(
            &c,
            "order_status",
            json!({"user_id": "u1", "order_id": "1042"}),
        )
        .await;
    assert_eq!(order["order"]["refunded"]["value"], "100.00");
    // A used token confirms nothing twice.
    let (code, again) = app.post("/v1/countersign", &secret, &body).await;
    assert_eq!(code, 409, "{again}");
    t.never_mentions(&token);
    t.never_mentions("cst_");
    c.cancel().await.unwrap();
}

async fn a_cancel_on_the_page_ends_the_proposal(b: Backend) {
    let (app, key) = shop(b, None).await;
    let c = client(&app, &key).await;
    let mut t = Transcript::default();
    let p = t
        .ok(
            &c,
            "propose_transfer",
            json!({"user_id": "u1", "contact_id": "mum",
            "amount": {"value": "50.00", "currency": "CNY"}, "note": "生日快乐"}),
        )
        .await;
    assert_eq!(
        p["summary"],
        "向 Mum（联系人 mum）转账 50.00 CNY。备注：生日快乐。"
    );
    let secret = link_secret(&p);
    let cancel = json!({"type": "cancel"});
    let (code, view) = app.post("/v1/countersign", &secret, &cancel).await;
    assert_eq!((code, &view["state"]), (200, &json!("cancelled")), "{view}");
    assert_eq!(view["confirmation"], Value::Null);
    let status = t
        .ok(&c, "session_status", json!({"session_id": p["session_id"]}))
        .await;
    assert_eq!(status["state"], "cancelled");
    assert_eq!(count_rows(&app.db.url, "submissions").await, 0);
}

async fn open_proposals_per_shopper_are_capped(b: Backend) {
    let app = spawn_app_with(b, |c| c.mcp.max_open_proposals = 2).await;
    let (app, key) = shop_with(app, None).await;
    let c = client(&app, &key).await;
    let mut t = Transcript::default();
    let refund = |v: &str| json!({"user_id": "u1", "order_id": "1041", "amount": {"value": v, "currency": "CNY"}});
    let first = t.ok(&c, "propose_refund", refund("1.00")).await;
    t.ok(&c, "propose_refund", refund("2.00")).await;
    let before = sessions(&app).await;
    let said = t.refused(&c, "propose_refund", refund("3.00")).await;
    assert!(said.contains("too_many_open_proposals"), "{said}");
    assert_eq!(sessions(&app).await, before);
    // Another shopper has a cap of their own; a cancelled proposal frees its place.
    let theirs = json!({"user_id": "u2", "amount": {"value": "30.00", "currency": "CNY"}});
    assert_eq!(app.put("/v1/orders/3001", &key, &theirs).await.0, 201);
    t.ok(
        &c,
        "propose_refund",
        json!({"user_id": "u2", "order_id": "3001"}),
    )
    .await;
    let cancel = json!({"type": "cancel"});
    let (code, _) = app
        .post("/v1/countersign", &link_secret(&first), &cancel)
        .await;
    assert_eq!(code, 200);
    t.ok(&c, "propose_refund", refund("3.00")).await;
}

async fn an_unconfirmed_proposal_expires_and_so_does_its_link(b: Backend) {
    let clock = countersign::clock::Clock::paused();
    let app = spawn_app_with(b, |c| {
        c.clock = clock.clone();
        c.mcp.max_open_proposals = 1;
        c.mcp.link_ttl_seconds = 60;
    })
    .await;
    let (app, key) = shop_with(app, Some(json!({"confirmation_ttl_seconds": 5}))).await;
    let c = client(&app, &key).await;
    let mut t = Transcript::default();
    let args = json!({"user_id": "u1", "order_id": "1042"});
    let p = t.ok(&c, "propose_refund", args.clone()).await;
    let id = p["session_id"].as_str().unwrap().to_owned();
    let secret = link_secret(&p);
    let (_, view) = app.get("/v1/countersign", &secret).await;
    let token = view["confirmation"]["token"].clone();

    let mut frames = app.state.flow.hub.subscribe(SessionId::parse(&id).unwrap());
    clock.advance(chrono::TimeDelta::seconds(5));
    loop {
        let f = frames.recv().await.expect("frames until expired");
        if f.frame["type"] == "status" && f.frame["state"] == "expired" {
            break;
        }
    }
    let status = t.ok(&c, "session_status", json!({"session_id": id})).await;
    assert_eq!(status["state"], "expired");
    let late = json!({"type": "confirm", "token": token});
    let (code, _) = app.post("/v1/countersign", &secret, &late).await;
    assert_eq!(code, 409);
    assert_eq!(count_rows(&app.db.url, "submissions").await, 0);
    // The expired proposal no longer counts against the cap.
    t.ok(&c, "propose_refund", args).await;

    clock.advance(chrono::TimeDelta::seconds(55));
    assert_error(
        &app.get("/v1/countersign", &secret).await,
        410,
        "link_expired",
        "expired",
    );
    t.never_mentions(token.as_str().unwrap());
}

backend_tests!(
    a_refund_settles_only_once_the_page_confirms_it,
    a_cancel_on_the_page_ends_the_proposal,
    open_proposals_per_shopper_are_capped,
    an_unconfirmed_proposal_expires_and_so_does_its_link,
);
