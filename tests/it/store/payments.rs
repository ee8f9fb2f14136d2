//! The outbox, refund holds, the sandbox's books and the webhook inbox.

use super::*;

/// A settlement applied from its submission without reading the session: one statement on
/// Postgres, which applies only to the matching `submitted` session and tells a duplicate
/// apart; SQLite leaves it to the general path.
async fn a_settlement_applies_straight_from_its_submission(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    store
        .put_order(&order("1042", "u1", "100.00", 5))
        .await
        .unwrap();
    let (s, key) = submitted_session(store.as_ref()).await;
    let hold = OrderEffect::Reserve {
        merchant_id: s.merchant_id.clone(),
        order_id: OrderId::parse("1042").unwrap(),
        minor: 1000,
    };
    let mut commit = Commit::new(s.change(now()), opened(), vec![]);
    commit.order = Some(hold);
    let s = store.apply(s.id, s.version, &commit).await.unwrap();
    let entry = InboxEntry {
        merchant_id: s.merchant_id.clone(),
        event_id: "evt_direct".into(),
        session_id: s.id.to_string(),
        kind: "settlement.succeeded".into(),
        idempotency_key: key.clone(),
        outcome: InboxOutcome::Applied,
        payload: json!({}),
        received_at: now(),
    };
    let event = NewEvent {
        kind: EventKind::SettlementSucceeded,
        actor: Actor::Provider,
        payload: json!({"event_id": "evt_direct", "provider_reference": "参考-1", "failure_reason": null}),
    };
    let (en, zh) = (vec![json!({"text": "done"})], vec![json!({"text": "完成"})]);
    let direct = DirectSettlement {
        entry: &entry,
        session_id: s.id,
        idempotency_key: &key,
        amount: cny("10.00"),
        to: SessionState::Settled,
        reason: None,
        event: &event,
        frames: [&en, &zh],
        settled: true,
        at: now(),
    };
    let elsewhere = DirectSettlement {
        idempotency_key: "cs_other",
        ..direct.clone()
    };
    let undecided = store.settle_direct(&elsewhere).await.unwrap();
    assert_eq!(undecided, Direct::Undecided, "another submission's key");
    let short = DirectSettlement {
        amount: cny("9.99"),
        ..direct.clone()
    };
    let undecided = store.settle_direct(&short).await.unwrap();
    assert_eq!(undecided, Direct::Undecided, "another amount");
    let applied = store.settle_direct(&direct).await.unwrap();
    if b == Backend::Sqlite {
        assert_eq!(
            applied,
            Direct::Undecided,
            "SQLite settles through the general path"
        );
        return;
    }
    let Direct::Applied(saved) = applied else {
        panic!("not applied: {applied:?}");
    };
    assert_eq!(
        (saved.state, saved.version),
        (SessionState::Settled, s.version + 1)
    );
    assert_eq!(saved.frame_seq, s.frame_seq + 1);
    let framed = store.frames_after(s.id, s.frame_seq, 10).await.unwrap();
    assert_eq!(
        framed[0].frame, en[0],
        "the session's language (English) picks"
    );
    let o = store
        .order(&s.merchant_id, &OrderId::parse("1042").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.refunded, o.reserved), (cny("10.00"), cny("0.00")));
    let sub = store.submission_for_session(s.id).await.unwrap().unwrap();
    assert_eq!(sub.state, SubmissionState::Done);
    let log = store.events(s.id).await.unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.kind),
        (
            Some(SessionState::Submitted),
            SessionState::Settled,
            EventKind::SettlementSucceeded
        )
    );
    // The statement chained the event's hash itself, as the general path does in Rust.
    let before = log[log.len() - 2].hash.as_deref().unwrap();
    assert_eq!(last.hash, last.link().hash(before));
    assert_eq!(saved.event_hash, last.hash);
    let checked = countersign::evidence::audit::session(store.as_ref(), s.id)
        .await
        .unwrap();
    assert_eq!(
        (checked.events, checked.breaks.len()),
        (4, 0),
        "{checked:?}"
    );
    assert_eq!(count_rows(&db.url, "webhook_inbox").await, 1);
    let again = store.settle_direct(&direct).await.unwrap();
    assert_eq!(again, Direct::Seen);
}

/// A row written leased to the instance that delivers it is that instance's first attempt:
/// no dispatcher claims it until the lease runs out (its instance died), and then the
/// claim counts the second.
async fn a_row_written_leased_waits_for_its_lease(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let t0 = now();
    let lease = t0 + TimeDelta::seconds(30);
    let (s, key) = submitted_session_leased(store.as_ref(), Some(lease)).await;
    let written = store.submission_for_session(s.id).await.unwrap().unwrap();
    assert_eq!(
        (written.attempts, written.state),
        (1, SubmissionState::Pending)
    );
    let early = store.claim_submissions(t0, lease, 10).await.unwrap();
    assert!(early.is_empty(), "its instance is delivering it");
    let later = lease + TimeDelta::seconds(1);
    let taken = store
        .claim_submissions(later, later + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(
        (
            taken.len(),
            taken[0].attempts,
            taken[0].idempotency_key.as_str()
        ),
        (1, 2, key.as_str())
    );
}

async fn outbox_rows_are_claimed_by_one_dispatcher_at_a_time(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let (_, key) = submitted_session(store.as_ref()).await;
    let t0 = now();
    let lease = t0 + TimeDelta::seconds(30);
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_submissions(t0, lease, 10).await.unwrap().len() })
        })
        .collect();
    let mut claimed = 0;
    for c in claims {
        claimed += c.await.unwrap();
    }
    assert_eq!(claimed, 1, "leased to one dispatcher");
    // The holder died: after the lease another takes it, and the attempt is counted.
    let later = lease + TimeDelta::seconds(1);
    let again = store
        .claim_submissions(later, later + TimeDelta::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(
        (
            again.len(),
            again[0].attempts,
            again[0].idempotency_key.as_str()
        ),
        (1, 2, key.as_str())
    );
    let retry_at = later + TimeDelta::minutes(1);
    store
        .submission_retry(&key, retry_at, "timeout", later)
        .await
        .unwrap();
    assert!(
        store
            .claim_submissions(later, later, 10)
            .await
            .unwrap()
            .is_empty(),
        "not before its time"
    );
    assert_eq!(
        store
            .claim_submissions(retry_at, retry_at, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store
        .submission_sent(&key, "ref_1", retry_at)
        .await
        .unwrap();
    let far = retry_at + TimeDelta::hours(1);
    assert!(
        store
            .claim_submissions(far, far, 10)
            .await
            .unwrap()
            .is_empty(),
        "sent is not resent"
    );
}

async fn a_submission_is_found_by_its_idempotency_key(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let (s, key) = submitted_session(store.as_ref()).await;
    let found = store.submission_by_key(&key).await.unwrap().expect("found");
    assert_eq!((found.session_id, found.amount), (s.id, cny("10.00")));
    assert_eq!(
        found,
        store.submission_for_session(s.id).await.unwrap().unwrap()
    );
    assert!(
        store
            .submission_by_key("cs_unknown")
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_session_gets_one_outbox_row_ever(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let (s, _) = submitted_session(store.as_ref()).await;
    let mut change = s.change(now());
    change.state = SessionState::Submitted;
    let e = NewEvent {
        kind: EventKind::ReviewApproved,
        actor: Actor::Operator,
        payload: json!({}),
    };
    let mut commit = Commit::new(change, e, vec![]);
    commit.submission = Some(NewSubmission {
        idempotency_key: "cs_other".into(),
        session_id: s.id,
        merchant_id: MerchantId::parse("acme").unwrap(),
        provider: "sandbox".into(),
        action: refund("1042", "1.00"),
        amount: cny("1.00"),
        at: now(),
        leased_until: None,
    });
    assert!(matches!(
        store.apply(s.id, s.version, &commit).await,
        Err(StoreError::Duplicate)
    ));
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap().version,
        s.version,
        "nothing was written"
    );
}

async fn refund_holds_never_exceed_the_order(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    store
        .put_order(&order("1042", "u1", "100.00", 5))
        .await
        .unwrap();
    let hold = |minor| OrderEffect::Reserve {
        merchant_id: MerchantId::parse("acme").unwrap(),
        order_id: OrderId::parse("1042").unwrap(),
        minor,
    };
    for (minor, ok) in [(6000, true), (5000, false), (4000, true), (1, false)] {
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
        commit.order = Some(hold(minor));
        let got = store.apply(s.id, 1, &commit).await;
        assert_eq!(got.is_ok(), ok, "{minor}: {got:?}");
        if !ok {
            assert!(matches!(got, Err(StoreError::Insufficient)));
            assert_eq!(
                store.session(s.id).await.unwrap().unwrap().version,
                1,
                "all or nothing"
            );
        }
    }
    let o = store
        .order(
            &MerchantId::parse("acme").unwrap(),
            &OrderId::parse("1042").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((o.reserved.minor(), o.refundable().minor()), (10000, 0));
}

async fn the_sandbox_accepts_a_key_once_and_counts_requests(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let p = SandboxPayment {
        idempotency_key: "cs_1".into(),
        merchant_id: MerchantId::parse("acme").unwrap(),
        session_id: s.id,
        reference: "sbx_1".into(),
        amount: cny("5.00"),
        succeeds: true,
        requests: 1,
        deliver_at: now(),
    };
    let first = store.sandbox_accept(&p).await.unwrap();
    let second = store
        .sandbox_accept(&SandboxPayment {
            reference: "sbx_2".into(),
            ..p.clone()
        })
        .await
        .unwrap();
    assert_eq!((second.reference.as_str(), second.requests), ("sbx_1", 2));
    assert_eq!(first.reference, "sbx_1");
    assert_eq!(
        store
            .sandbox_due(now() + TimeDelta::seconds(1), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    store.sandbox_delivered("cs_1", now()).await.unwrap();
    assert!(
        store
            .sandbox_due(now() + TimeDelta::seconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn a_webhook_event_is_recorded_once_with_its_transition(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let (s, key) = submitted_session(store.as_ref()).await;
    let entry = InboxEntry {
        merchant_id: MerchantId::parse("acme").unwrap(),
        event_id: "evt_1".into(),
        session_id: s.id.to_string(),
        kind: "settlement.succeeded".into(),
        idempotency_key: key,
        outcome: InboxOutcome::Applied,
        payload: json!({}),
        received_at: now(),
    };
    let mut change = s.change(now());
    change.state = SessionState::Settled;
    let e = NewEvent {
        kind: EventKind::SettlementSucceeded,
        actor: Actor::Provider,
        payload: json!({}),
    };
    let mut commit = Commit::new(change, e, vec![json!({"type": "status"})]);
    commit.finish_submission = true;
    let saved = store
        .settle_webhook(&entry, s.id, s.version, &commit)
        .await
        .unwrap()
        .expect("the first copy settles");
    assert_eq!(saved.state, SessionState::Settled);
    assert!(
        store
            .settle_webhook(&entry, s.id, s.version, &commit)
            .await
            .unwrap()
            .is_none(),
        "a duplicate changes nothing"
    );
    let after = store.session(s.id).await.unwrap().unwrap();
    assert_eq!(
        (after.state, after.version),
        (SessionState::Settled, s.version + 1)
    );
    assert_eq!(
        store
            .submission_for_session(s.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        SubmissionState::Done
    );
    assert_eq!(count_rows(&db.url, "webhook_inbox").await, 1);
    // A stale commit rolls back its inbox row too.
    let late = InboxEntry {
        event_id: "evt_2".into(),
        ..entry
    };
    assert!(matches!(
        store.settle_webhook(&late, s.id, s.version, &commit).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(count_rows(&db.url, "webhook_inbox").await, 1);
}

backend_tests!(
    a_settlement_applies_straight_from_its_submission,
    a_row_written_leased_waits_for_its_lease,
    outbox_rows_are_claimed_by_one_dispatcher_at_a_time,
    a_submission_is_found_by_its_idempotency_key,
    a_session_gets_one_outbox_row_ever,
    refund_holds_never_exceed_the_order,
    the_sandbox_accepts_a_key_once_and_counts_requests,
    a_webhook_event_is_recorded_once_with_its_transition,
);
