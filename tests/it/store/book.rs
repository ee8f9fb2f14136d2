//! Merchants, orders and contacts.

use super::*;

async fn merchants_are_unique_and_found_by_key_hash(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    assert!(matches!(
        store.create_merchant(&merchant("acme")).await,
        Err(StoreError::Duplicate)
    ));
    let mut other = merchant("beta");
    other.api_key_hash = "hash-of-acme".into();
    assert!(matches!(
        store.create_merchant(&other).await,
        Err(StoreError::Duplicate)
    ));
    let found = store
        .merchant_by_key_hash("hash-of-acme")
        .await
        .unwrap()
        .unwrap();
    let want = Merchant {
        created_at: found.created_at,
        ..merchant("acme")
    };
    assert_eq!(found, want);
    assert!(store.merchant_by_key_hash("nope").await.unwrap().is_none());
    assert_eq!(store.merchant_count().await.unwrap(), 1);
}

async fn orders_round_trip_and_list_newest_first(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let old = order("1041", "u1", "256.00", 60);
    let mut new = order("1042", "u1", "128.00", 5);
    assert!(store.put_order(&old).await.unwrap());
    assert!(store.put_order(&new).await.unwrap());
    assert!(
        store
            .put_order(&order("2001", "u2", "1.00", 1))
            .await
            .unwrap()
    );
    new.refunded = cny("28.00");
    new.alipay_trade_no = Some(AlipayTradeNo::parse("2026112222001400001234567890").unwrap());
    assert!(
        !store.put_order(&new).await.unwrap(),
        "replacing is not creating"
    );
    let got = store
        .order(&new.merchant_id, &new.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, new);
    assert_eq!(got.refundable(), cny("100.00"));
    let listed = store
        .orders_for_user(&new.merchant_id, &new.user_id, 10)
        .await
        .unwrap();
    let ids: Vec<_> = listed.iter().map(|o| o.order_id.as_str()).collect();
    assert_eq!(ids, ["1042", "1041"]);
    let unknown = OrderId::parse("9999").unwrap();
    assert!(
        store
            .order(&new.merchant_id, &unknown)
            .await
            .unwrap()
            .is_none()
    );
}

async fn contacts_round_trip(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let mut c = Contact {
        merchant_id: MerchantId::parse("acme").unwrap(),
        contact_id: ContactId::parse("mum").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        name: "Mum".into(),
        aliases: vec!["Mom".into(), "妈妈".into()],
        verified: false,
        alipay: None,
        created_at: now(),
        updated_at: now(),
    };
    assert!(store.put_contact(&c).await.unwrap());
    c.verified = true;
    c.alipay =
        Some(AlipayPayee::parse("2088000000000003", AlipayIdentityType::UserId, None).unwrap());
    assert!(!store.put_contact(&c).await.unwrap());
    assert_eq!(
        store
            .contact(&c.merchant_id, &c.contact_id)
            .await
            .unwrap()
            .unwrap(),
        c
    );
    assert_eq!(
        store
            .contacts_for_user(&c.merchant_id, &c.user_id)
            .await
            .unwrap(),
        vec![c]
    );
}

async fn a_replaced_order_keeps_its_reservation_within_its_amount(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let mut o = order("1042", "u1", "100.00", 5);
    o.reserved = cny("5.00");
    assert!(store.put_order(&o).await.unwrap());
    let stored = store.order(&o.merchant_id, &o.order_id).await.unwrap();
    assert_eq!(
        stored.unwrap().reserved,
        cny("0"),
        "the service keeps reservations, never the merchant"
    );
    let s = new_session(store.as_ref()).await;
    let mut commit = Commit::new(
        s.change(now()),
        NewEvent {
            kind: EventKind::ProposalRefused,
            actor: Actor::System,
            payload: json!({}),
        },
        vec![],
    );
    commit.order = Some(OrderEffect::Reserve {
        merchant_id: o.merchant_id.clone(),
        order_id: o.order_id.clone(),
        minor: 6000,
    });
    store.apply(s.id, 1, &commit).await.unwrap();

    o.refunded = cny("30.00");
    o.reserved = cny("0");
    assert!(!store.put_order(&o).await.unwrap());
    let got = store
        .order(&o.merchant_id, &o.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.refunded, got.reserved), (cny("30.00"), cny("60.00")));

    o.refunded = cny("50.00");
    assert!(matches!(
        store.put_order(&o).await,
        Err(StoreError::Insufficient)
    ));
    let after = store
        .order(&o.merchant_id, &o.order_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, got, "a refused replacement changes nothing");
}

async fn concurrent_puts_of_a_new_order_create_it_once(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .put_order(&order("1042", "u1", "100.00", 5))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap());
    }
    assert_eq!(created, 1);
}

async fn a_replaced_contact_keeps_when_it_was_first_added(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let first = now() - TimeDelta::days(3);
    let mut c = Contact {
        merchant_id: MerchantId::parse("acme").unwrap(),
        contact_id: ContactId::parse("mum").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        name: "Mum".into(),
        aliases: vec![],
        verified: false,
        alipay: None,
        created_at: first,
        updated_at: first,
    };
    assert!(store.put_contact(&c).await.unwrap());
    c.name = "Mother".into();
    c.created_at = now();
    c.updated_at = c.created_at;
    assert!(!store.put_contact(&c).await.unwrap());
    let got = store
        .contact(&c.merchant_id, &c.contact_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (got.name.as_str(), got.created_at, got.updated_at),
        ("Mother", first, c.updated_at)
    );
}

backend_tests!(
    merchants_are_unique_and_found_by_key_hash,
    orders_round_trip_and_list_newest_first,
    contacts_round_trip,
    a_replaced_order_keeps_its_reservation_within_its_amount,
    concurrent_puts_of_a_new_order_create_it_once,
    a_replaced_contact_keeps_when_it_was_first_added,
);
