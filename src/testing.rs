//! What the unit tests share: a fresh embedded store with one shopper and one session.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::{
    Actor, Currency, EventKind, MerchantId, Mode, Money, OrderId, PolicyDoc, SessionId, UserId,
};
use crate::secrets::MasterKey;
use crate::store::{self, NewEvent, NewSession, Order, Store};

/// A store in `dir` holding merchant `acme` (with `policy`), shopper `u1`'s order 1042
/// (128.00 CNY) and a chat session opened for them at `now`.
pub async fn shop(
    dir: &tempfile::TempDir,
    policy: PolicyDoc,
    now: DateTime<Utc>,
) -> (Arc<dyn Store>, MasterKey, SessionId) {
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = store::connect(&url).await.unwrap();
    let keys = MasterKey::generate();
    let merchant = MerchantId::parse("acme").unwrap();
    crate::merchants::create(store.as_ref(), &keys, merchant.clone(), policy)
        .await
        .unwrap();
    let user = UserId::parse("u1").unwrap();
    let order = Order {
        merchant_id: merchant.clone(),
        order_id: OrderId::parse("1042").unwrap(),
        user_id: user.clone(),
        amount: Money::parse("128.00", Currency::CNY).unwrap(),
        refunded: Money::zero(Currency::CNY),
        reserved: Money::zero(Currency::CNY),
        description: None,
        alipay_trade_no: None,
        placed_at: now,
        updated_at: now,
    };
    store.put_order(&order).await.unwrap();
    let new = NewSession {
        id: SessionId::new(),
        merchant_id: merchant,
        user_id: user,
        channel: Mode::Chat,
        device: None,
        client_token_hash: "h".into(),
        created_at: now,
        draft: Default::default(),
        frames: Vec::new(),
    };
    let opened = NewEvent {
        kind: EventKind::Opened,
        actor: Actor::Merchant,
        payload: json!({}),
    };
    let session = store.create_session(&new, &opened).await.unwrap();
    (store, keys, session.id)
}
