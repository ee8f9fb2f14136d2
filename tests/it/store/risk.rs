//! What the risk check reads.

use super::*;

/// The risk facts for a check of `session` by shopper u1 of acme.
async fn risk_facts(
    store: &dyn Store,
    device: Option<&str>,
    session: SessionId,
    since: chrono::DateTime<chrono::Utc>,
    order: Option<&OrderId>,
) -> RiskFacts {
    let (acme, u1) = (
        MerchantId::parse("acme").unwrap(),
        UserId::parse("u1").unwrap(),
    );
    let q = RiskQuery {
        merchant: &acme,
        user: &u1,
        device,
        session,
        shopper_since: since,
        order,
    };
    store.risk_facts(&q).await.unwrap()
}

async fn merchant_consents(store: &dyn Store, since: chrono::DateTime<chrono::Utc>) -> i64 {
    let acme = MerchantId::parse("acme").unwrap();
    store.merchant_consents(&acme, since).await.unwrap()
}

async fn risk_stats_count_consents_per_shopper_and_merchant(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let store = store.as_ref();
    let hour_ago = now() - chrono::TimeDelta::hours(1);
    let fresh = risk_facts(store, Some("phone"), SessionId::new(), hour_ago, None).await;
    assert_eq!(fresh.shopper_recent, 0);
    assert_eq!(merchant_consents(store, hour_ago).await, 0);
    assert!(!fresh.returning);
    assert_eq!(fresh.order, None);

    new_session(store).await; // opened, never consented
    consented_session(store, "u1").await;
    consented_session(store, "u1").await;
    consented_session(store, "u2").await;
    let now_session = SessionId::new();
    let facts = risk_facts(store, Some("phone"), now_session, hour_ago, None).await;
    assert_eq!(facts.shopper_recent, 2);
    assert_eq!(merchant_consents(store, hour_ago).await, 3);
    assert!(facts.returning);
    assert!(facts.device_known);
    let unknown = risk_facts(store, Some("laptop"), now_session, hour_ago, None).await;
    assert!(!unknown.device_known);

    let later = now() + chrono::TimeDelta::minutes(1);
    let outside = risk_facts(store, None, now_session, later, None).await;
    assert_eq!(outside.shopper_recent, 0);
    assert_eq!(merchant_consents(store, later).await, 0);
}

/// The refund's order comes with the counts, as the store has it; an order the merchant
/// does not have is `None` and the counts are still there.
async fn risk_facts_carry_the_refunds_order(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let o = order("1042", "u1", "100.00", 5);
    store.put_order(&o).await.unwrap();
    consented_session(store.as_ref(), "u1").await;
    let hour_ago = now() - chrono::TimeDelta::hours(1);
    let id = OrderId::parse("1042").unwrap();
    let facts = risk_facts(store.as_ref(), None, SessionId::new(), hour_ago, Some(&id)).await;
    assert_eq!((facts.order, facts.shopper_recent), (Some(o), 1));
    let missing = OrderId::parse("9999").unwrap();
    let none = risk_facts(
        store.as_ref(),
        None,
        SessionId::new(),
        hour_ago,
        Some(&missing),
    )
    .await;
    assert_eq!((none.order, none.shopper_recent), (None, 1));
}

backend_tests!(
    risk_stats_count_consents_per_shopper_and_merchant,
    risk_facts_carry_the_refunds_order,
);
