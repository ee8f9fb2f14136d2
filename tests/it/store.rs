//! The storage conformance suite: every backend must behave the same.

use std::sync::Arc;

use chrono::TimeDelta;
use countersign::clock::now;
use countersign::domain::draft::Draft;
use countersign::domain::machine::{self, Event, RiskThresholds, Score};
use countersign::domain::*;
use countersign::store::*;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Backend, TestDb, count_rows};

fn merchant(id: &str) -> Merchant {
    Merchant {
        id: MerchantId::parse(id).unwrap(),
        api_key_hash: format!("hash-of-{id}"),
        api_secret_sealed: "sealed-api".into(),
        webhook_secret_sealed: "sealed-webhook".into(),
        signing_kid: "k1".into(),
        policy: PolicyDoc::default(),
        created_at: now(),
    }
}

fn cny(v: &str) -> Money {
    Money::parse(v, Currency::CNY).unwrap()
}

fn refund(order: &str, amount: &str) -> Action {
    Action::Refund {
        order_id: OrderId::parse(order).unwrap(),
        amount: cny(amount),
        reason: None,
    }
}

fn order(id: &str, user: &str, amount: &str, age_minutes: i64) -> Order {
    Order {
        merchant_id: MerchantId::parse("acme").unwrap(),
        order_id: OrderId::parse(id).unwrap(),
        user_id: UserId::parse(user).unwrap(),
        amount: cny(amount),
        refunded: cny("0"),
        reserved: cny("0"),
        description: Some("tea".into()),
        alipay_trade_no: None,
        placed_at: now() - TimeDelta::minutes(age_minutes),
        updated_at: now(),
    }
}

fn opened() -> NewEvent {
    NewEvent {
        kind: EventKind::Opened,
        actor: Actor::Merchant,
        payload: json!({"text": "hi"}),
    }
}

async fn store_with_merchant(backend: Backend) -> (TestDb, Arc<dyn Store>) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    store.create_merchant(&merchant("acme")).await.unwrap();
    (db, store)
}

async fn new_session(store: &dyn Store) -> Session {
    let s = NewSession {
        id: SessionId::new(),
        merchant_id: MerchantId::parse("acme").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        channel: Mode::Chat,
        device: Some("phone".into()),
        client_token_hash: "token-hash".into(),
        created_at: now(),
        draft: Default::default(),
        frames: Vec::new(),
    };
    store.create_session(&s, &opened()).await.unwrap()
}

async fn a_session_opens_with_its_draft_and_first_frames(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let draft = Draft {
        opening: Some("退款订单 1042".into()),
        ..Draft::default()
    };
    let greeting = vec![
        json!({"type": "agent_message", "text": "hi"}),
        json!({"n": 2}),
    ];
    let new = NewSession {
        id: SessionId::new(),
        merchant_id: MerchantId::parse("acme").unwrap(),
        user_id: UserId::parse("u1").unwrap(),
        channel: Mode::Chat,
        device: None,
        client_token_hash: "token-hash".into(),
        created_at: now(),
        draft: draft.clone(),
        frames: greeting.clone(),
    };
    let s = store.create_session(&new, &opened()).await.unwrap();
    assert_eq!((s.frame_seq, s.version, &s.draft), (2, 1, &draft));
    let stored = store.frames_after(s.id, 0, 10).await.unwrap();
    let got: Vec<_> = stored.iter().map(|f| (f.seq, f.frame.clone())).collect();
    assert_eq!(
        got,
        vec![(1, greeting[0].clone()), (2, greeting[1].clone())]
    );
    let next = store.append_frames(s.id, &[json!({"n": 3})]).await.unwrap();
    assert_eq!(next, 3, "numbered after the first frames");
    assert_eq!(store.events(s.id).await.unwrap().len(), 1);
}

/// Runs `event` through the state machine and persists the result.
async fn step(store: &dyn Store, s: &Session, event: Event) -> Result<Session> {
    let t = machine::transition(s.state, &event).expect("allowed");
    let mut change = s.change(now());
    change.state = t.to;
    change.reason = t.reason;
    let e = NewEvent {
        kind: event.kind(),
        actor: Actor::System,
        payload: json!({}),
    };
    store
        .apply(
            s.id,
            s.version,
            &Commit::new(change.clone(), e.clone(), vec![]),
        )
        .await
}

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

async fn a_session_starts_collecting_with_its_opened_event(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    assert_eq!(
        (s.state, s.mode, s.version, s.clarifications),
        (SessionState::Collecting, Mode::Chat, 1, 0)
    );
    assert_eq!(store.session(s.id).await.unwrap().unwrap(), s);
    let events = store.events(s.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].seq, events[0].from, events[0].to),
        (1, None, SessionState::Collecting)
    );
    assert_eq!(events[0].payload, json!({"text": "hi"}));
}

async fn transitions_append_events_and_stale_versions_are_refused(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let mut change = s.change(now());
    change.state = SessionState::AwaitingConfirmation;
    change.proposed_action = Some(refund("1042", "28.00"));
    change.confirmation_hash = Some("abc".into());
    change.confirmation_expires_at = Some(now() + TimeDelta::minutes(5));
    let e = NewEvent {
        kind: EventKind::ConfirmationIssued,
        actor: Actor::System,
        payload: json!({"n": 1}),
    };
    let moved = store
        .apply(s.id, 1, &Commit::new(change.clone(), e.clone(), vec![]))
        .await
        .unwrap();
    assert_eq!(
        (moved.version, moved.state),
        (2, SessionState::AwaitingConfirmation)
    );
    assert_eq!(moved.proposed_action, change.proposed_action);
    assert_eq!(
        moved.confirmation_expires_at,
        change.confirmation_expires_at
    );

    let mut stale = s.change(now());
    stale.state = SessionState::Cancelled;
    let cancel = NewEvent {
        kind: EventKind::Cancelled,
        actor: Actor::Shopper,
        payload: json!({}),
    };
    assert!(matches!(
        store
            .apply(s.id, 1, &Commit::new(stale.clone(), cancel.clone(), vec![]))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.session(s.id).await.unwrap().unwrap(),
        moved,
        "a stale write changes nothing"
    );
    assert_eq!(count_rows(&db.url, "session_events").await, 2);
    let events = store.events(s.id).await.unwrap();
    assert_eq!(events[1].seq, 2);
    assert_eq!(events[1].from, Some(SessionState::Collecting));
    assert_eq!(events[1].to, SessionState::AwaitingConfirmation);
    assert_eq!(events[1].kind, EventKind::ConfirmationIssued);
    assert!(matches!(
        store
            .apply(
                SessionId::new(),
                1,
                &Commit::new(stale.clone(), cancel.clone(), vec![])
            )
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_writers_at_one_version_yield_one_winner(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (store, s) = (store.clone(), s.clone());
            tokio::spawn(async move {
                let mut change = s.change(now());
                change.clarifications = i + 1;
                change.state = SessionState::Clarifying;
                let e = NewEvent {
                    kind: EventKind::ClarificationNeeded,
                    actor: Actor::System,
                    payload: json!({"i": i}),
                };
                store
                    .apply(s.id, 1, &Commit::new(change.clone(), e.clone(), vec![]))
                    .await
            })
        })
        .collect();
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(count_rows(&db.url, "session_events").await, 2);
    assert_eq!(store.session(s.id).await.unwrap().unwrap().version, 2);
}

async fn the_event_log_replays_to_the_stored_state(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let mut s = new_session(store.as_ref()).await;
    let thresholds = RiskThresholds::default();
    let path = [
        Event::ClarificationNeeded { asked: 0, max: 3 },
        Event::ConfirmationIssued,
        Event::Confirmed,
        Event::RiskScored {
            score: Score::new(0.1).unwrap(),
            thresholds,
        },
        Event::SettlementSucceeded,
    ];
    for event in path.clone() {
        s = step(store.as_ref(), &s, event).await.unwrap();
    }
    assert_eq!(s.state, SessionState::Settled);
    let log = store.events(s.id).await.unwrap();
    let kinds: Vec<_> = log.iter().skip(1).map(|e| e.kind).collect();
    assert_eq!(kinds, path.iter().map(Event::kind).collect::<Vec<_>>());
    let mut replayed = SessionState::Collecting;
    for (e, event) in log.iter().skip(1).zip(path.iter()) {
        assert_eq!(e.from, Some(replayed));
        replayed = machine::transition(replayed, event).unwrap().to;
        assert_eq!(e.to, replayed);
    }
    assert_eq!(replayed, s.state);
    assert!(
        machine::transition(s.state, &Event::Cancelled).is_err(),
        "terminal"
    );
}

async fn the_schema_refuses_free_text_states_and_edits_to_the_log(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let id = s.id.to_string();
    let bad_state = format!("UPDATE sessions SET state = 'paid' WHERE id = '{id}'");
    let edit_log =
        format!("UPDATE session_events SET kind = 'confirmed' WHERE session_id = '{id}'");
    let drop_log = format!("DELETE FROM session_events WHERE session_id = '{id}'");
    for sql in [bad_state, edit_log, drop_log] {
        assert!(execute(&db.url, &sql).await.is_err(), "{sql} should fail");
    }
    assert_eq!(store.session(s.id).await.unwrap().unwrap(), s);
    assert_eq!(store.events(s.id).await.unwrap().len(), 1);
}

async fn execute(url: &str, sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    } else {
        let mut c = sqlx::PgConnection::connect(url).await?;
        sqlx::query(sql).execute(&mut c).await.map(|_| ())
    }
}

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

async fn frames_are_numbered_per_session_and_replayed_in_order(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let other = new_session(store.as_ref()).await;
    assert_eq!(
        store
            .append_frames(s.id, &[json!({"n": 1}), json!({"n": 2})])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .append_frames(other.id, &[json!({"n": "x"})])
            .await
            .unwrap(),
        1
    );
    let mut change = s.change(now());
    change.state = SessionState::Clarifying;
    let e = NewEvent {
        kind: EventKind::ClarificationNeeded,
        actor: Actor::System,
        payload: json!({}),
    };
    let moved = store
        .apply(
            s.id,
            1,
            &Commit::new(change.clone(), e.clone(), vec![json!({"n": 3})]),
        )
        .await
        .unwrap();
    assert_eq!(moved.frame_seq, 3);
    let stale = store
        .apply(
            s.id,
            1,
            &Commit::new(change.clone(), e.clone(), vec![json!({"n": "lost"})]),
        )
        .await;
    assert!(matches!(stale, Err(StoreError::Conflict)));
    let all: Vec<_> = store
        .frames_after(s.id, 0, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.seq, f.frame))
        .collect();
    assert_eq!(
        all,
        vec![
            (1, json!({"n": 1})),
            (2, json!({"n": 2})),
            (3, json!({"n": 3}))
        ]
    );
    let tail = store.frames_after(s.id, 1, 1).await.unwrap();
    assert_eq!((tail.len(), tail[0].seq), (1, 2));
    assert!(matches!(
        store.append_frames(SessionId::new(), &[json!({})]).await,
        Err(StoreError::NotFound)
    ));
}

async fn concurrent_appends_never_share_a_seq(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { store.append_frames(s.id, &[json!({"i": i})]).await.unwrap() },
            )
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=10).collect::<Vec<i64>>());
}

async fn expiring_finds_only_confirmations_past_their_time(b: Backend) {
    let (_db, store) = store_with_merchant(b).await;
    let due = new_session(store.as_ref()).await;
    let later = new_session(store.as_ref()).await;
    for (s, minutes) in [(&due, -1), (&later, 5)] {
        let mut change = s.change(now());
        change.state = SessionState::AwaitingConfirmation;
        change.confirmation_expires_at = Some(now() + TimeDelta::minutes(minutes));
        let e = NewEvent {
            kind: EventKind::ConfirmationIssued,
            actor: Actor::System,
            payload: json!({}),
        };
        store
            .apply(s.id, 1, &Commit::new(change.clone(), e.clone(), vec![]))
            .await
            .unwrap();
    }
    new_session(store.as_ref()).await;
    assert_eq!(store.expiring(now(), 10).await.unwrap(), vec![due.id]);
}

/// A session in `submitted` with its outbox row, written as the engine writes it.
async fn submitted_session(store: &dyn Store) -> (Session, String) {
    submitted_session_leased(store, None).await
}

/// As `submitted_session`, the row leased until `leased_until` when given.
async fn submitted_session_leased(
    store: &dyn Store,
    leased_until: Option<chrono::DateTime<chrono::Utc>>,
) -> (Session, String) {
    let s = new_session(store).await;
    let mut change = s.change(now());
    change.state = SessionState::Submitted;
    let e = NewEvent {
        kind: EventKind::RiskScored,
        actor: Actor::System,
        payload: json!({}),
    };
    let key = format!("cs_{}", s.id.to_string().replace('-', ""));
    let mut commit = Commit::new(change, e, vec![]);
    commit.submission = Some(NewSubmission {
        idempotency_key: key.clone(),
        session_id: s.id,
        merchant_id: MerchantId::parse("acme").unwrap(),
        provider: "sandbox".into(),
        action: refund("1042", "10.00"),
        amount: cny("10.00"),
        at: now(),
        leased_until,
    });
    (store.apply(s.id, 1, &commit).await.unwrap(), key)
}

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
        payload: json!({}),
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

/// A session of `user` that has just consented (entered `pending_risk_check`).
async fn consented_session(store: &dyn Store, user: &str) -> Session {
    let mut s = new_session(store).await;
    if user != "u1" {
        s = store
            .create_session(
                &NewSession {
                    id: SessionId::new(),
                    user_id: UserId::parse(user).unwrap(),
                    merchant_id: s.merchant_id.clone(),
                    channel: Mode::Chat,
                    device: None,
                    client_token_hash: "token-hash".into(),
                    created_at: now(),
                    draft: Default::default(),
                    frames: Vec::new(),
                },
                &opened(),
            )
            .await
            .unwrap();
    }
    let mut change = s.change(now());
    change.state = SessionState::PendingRiskCheck;
    let e = NewEvent {
        kind: EventKind::Confirmed,
        actor: Actor::Shopper,
        payload: json!({}),
    };
    store
        .apply(s.id, s.version, &Commit::new(change, e, vec![]))
        .await
        .unwrap()
}

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

async fn a_row_that_does_not_parse_is_corrupt(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let s = new_session(store.as_ref()).await;
    assert_eq!(s.draft, countersign::domain::draft::Draft::default());
    assert_eq!(s.proposed_action, None);
    let id = s.id.to_string();
    let bad = [
        format!("UPDATE sessions SET draft = '{{\"lang\": \"fr\"}}' WHERE id = '{id}'"),
        format!(
            "UPDATE sessions SET draft = '{{}}', proposed_action = '{{\"kind\": \"refund\"}}' WHERE id = '{id}'"
        ),
    ];
    for sql in bad {
        execute(&db.url, &sql).await.unwrap();
        assert!(
            matches!(store.session(s.id).await, Err(StoreError::Corrupt(_))),
            "{sql}"
        );
    }
}

backend_tests!(
    a_settlement_applies_straight_from_its_submission,
    risk_facts_carry_the_refunds_order,
    a_session_opens_with_its_draft_and_first_frames,
    a_row_written_leased_waits_for_its_lease,
    merchants_are_unique_and_found_by_key_hash,
    orders_round_trip_and_list_newest_first,
    contacts_round_trip,
    a_session_starts_collecting_with_its_opened_event,
    transitions_append_events_and_stale_versions_are_refused,
    concurrent_writers_at_one_version_yield_one_winner,
    the_event_log_replays_to_the_stored_state,
    the_schema_refuses_free_text_states_and_edits_to_the_log,
    idempotency_keys_claim_replay_conflict_and_expire,
    concurrent_claims_of_one_key_yield_one_owner,
    frames_are_numbered_per_session_and_replayed_in_order,
    concurrent_appends_never_share_a_seq,
    expiring_finds_only_confirmations_past_their_time,
    outbox_rows_are_claimed_by_one_dispatcher_at_a_time,
    a_submission_is_found_by_its_idempotency_key,
    a_session_gets_one_outbox_row_ever,
    refund_holds_never_exceed_the_order,
    the_sandbox_accepts_a_key_once_and_counts_requests,
    a_webhook_event_is_recorded_once_with_its_transition,
    risk_stats_count_consents_per_shopper_and_merchant,
    a_replaced_order_keeps_its_reservation_within_its_amount,
    concurrent_puts_of_a_new_order_create_it_once,
    a_replaced_contact_keeps_when_it_was_first_added,
    a_stale_claim_is_taken_over_only_by_its_own_request,
    a_row_that_does_not_parse_is_corrupt,
);
