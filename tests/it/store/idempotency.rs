//! Idempotency keys.

use super::*;

fn claim(key: &str, hash: &str, at: chrono::DateTime<chrono::Utc>) -> IdempotencyClaim {
    IdempotencyClaim {
        merchant_id: MerchantId::parse("acme").unwrap(),
        key: key.into(),
        request_hash: hash.into(),
        now: at,
        expires_at: at + TimeDelta::hours(24),
        stale_before: at - TimeDelta::seconds(60),
    }
}

async fn idempotency_keys_claim_replay_conflict_and_expire(b: Backend) {
    use IdempotencyBegin::*;
    let (_db, store) = store_with_merchant(b).await;
    let m = MerchantId::parse("acme").unwrap();
    let t0 = now();
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", t0))
            .await
            .unwrap(),
        Claimed
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", t0))
            .await
            .unwrap(),
        InFlight
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h2", t0))
            .await
            .unwrap(),
        Mismatch
    );
    store
        .idempotency_complete(&m, "k", 201, "{\"ok\":1}")
        .await
        .unwrap();
    let replay = Replay {
        status: 201,
        body: "{\"ok\":1}".into(),
    };
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", t0))
            .await
            .unwrap(),
        replay
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h2", t0))
            .await
            .unwrap(),
        Mismatch
    );
    // A day later the key is free again.
    let later = t0 + TimeDelta::hours(25);
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h2", later))
            .await
            .unwrap(),
        Claimed
    );
    // A released claim is free at once; an abandoned one after its lease.
    store.idempotency_release(&m, "k").await.unwrap();
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h3", later))
            .await
            .unwrap(),
        Claimed
    );
    let after_lease = later + TimeDelta::seconds(61);
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h3", after_lease))
            .await
            .unwrap(),
        Claimed
    );
    assert_eq!(
        store
            .idempotency_purge(later + TimeDelta::hours(48))
            .await
            .unwrap(),
        1
    );
}

async fn concurrent_claims_of_one_key_yield_one_owner(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let t0 = now();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .idempotency_begin(&claim("race", "h", t0))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut owners = 0;
    for t in tasks {
        match t.await.unwrap() {
            IdempotencyBegin::Claimed => owners += 1,
            IdempotencyBegin::InFlight => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(owners, 1);
}

async fn a_stale_claim_is_taken_over_only_by_its_own_request(b: Backend) {
    use IdempotencyBegin::*;
    let (_db, store) = store_with_merchant(b).await;
    let m = MerchantId::parse("acme").unwrap();
    let t0 = now();
    let stale = t0 + TimeDelta::seconds(61);
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", t0))
            .await
            .unwrap(),
        Claimed
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h2", stale))
            .await
            .unwrap(),
        Mismatch
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", stale))
            .await
            .unwrap(),
        Claimed
    );
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", stale))
            .await
            .unwrap(),
        InFlight
    );
    store
        .idempotency_complete(&m, "k", 200, "{}")
        .await
        .unwrap();
    let later = stale + TimeDelta::hours(1);
    let replay = Replay {
        status: 200,
        body: "{}".into(),
    };
    assert_eq!(
        store
            .idempotency_begin(&claim("k", "h1", later))
            .await
            .unwrap(),
        replay
    );
}

backend_tests!(
    idempotency_keys_claim_replay_conflict_and_expire,
    concurrent_claims_of_one_key_yield_one_owner,
    a_stale_claim_is_taken_over_only_by_its_own_request,
);
