//! Sessions, their event log and their frames.

use super::*;

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

/// Every event is chained to the one before it and the session keeps the last hash; one
/// edited event row is a break at that event, in that session only.
async fn the_event_chain_links_every_event_and_an_edit_breaks_it(b: Backend) {
    let (db, store) = store_with_merchant(b).await;
    let other = new_session(store.as_ref()).await;
    let s = new_session(store.as_ref()).await;
    let mut change = s.change(now());
    change.state = SessionState::AwaitingConfirmation;
    change.proposed_action = Some(refund("1042", "28.00"));
    let issued = NewEvent {
        kind: EventKind::ConfirmationIssued,
        actor: Actor::System,
        payload: json!({"summary": "退款 28.00 CNY", "score": 0.35, "n": 1}),
    };
    let s = store
        .apply(s.id, 1, &Commit::new(change, issued, vec![]))
        .await
        .unwrap();
    let s = step(store.as_ref(), &s, Event::Cancelled).await.unwrap();
    let log = store.events(s.id).await.unwrap();
    let mut previous = countersign::chain::GENESIS.to_owned();
    for e in &log {
        let hash = e.hash.clone().expect("chained");
        assert_eq!(
            Some(&hash),
            e.link().hash(&previous).as_ref(),
            "seq {}",
            e.seq
        );
        previous = hash;
    }
    assert_eq!(s.event_hash.as_deref(), Some(previous.as_str()));
    let clean = countersign::evidence::audit::all(store.as_ref())
        .await
        .unwrap();
    assert_eq!((clean.sessions, clean.events), (2, 4));
    assert!(clean.breaks.is_empty(), "{:?}", clean.breaks);

    let unlock = match b {
        Backend::Sqlite => "DROP TRIGGER session_events_no_update",
        Backend::Postgres => "ALTER TABLE session_events DISABLE TRIGGER session_events_no_change",
    };
    execute(&db.url, unlock).await.unwrap();
    let edit = format!(
        "UPDATE session_events SET payload = '{{\"summary\": \"退款 28.00 CNY\", \"score\": 0.35, \"n\": 2}}' \
         WHERE session_id = '{}' AND seq = 2",
        s.id
    );
    execute(&db.url, &edit).await.unwrap();
    let found = countersign::evidence::audit::all(store.as_ref())
        .await
        .unwrap();
    assert_eq!(found.breaks.len(), 1, "{:?}", found.breaks);
    assert_eq!(
        (found.breaks[0].session_id.as_str(), found.breaks[0].seq),
        (s.id.to_string().as_str(), 2)
    );
    let alone = countersign::evidence::audit::session(store.as_ref(), other.id)
        .await
        .unwrap();
    assert!(alone.breaks.is_empty());

    // The last event gone: the head no longer matches.
    let drop_last = format!(
        "DELETE FROM session_events WHERE session_id = '{}' AND seq = 1",
        other.id
    );
    let unlock = match b {
        Backend::Sqlite => "DROP TRIGGER session_events_no_delete",
        Backend::Postgres => "SELECT 1",
    };
    execute(&db.url, unlock).await.unwrap();
    execute(&db.url, &drop_last).await.unwrap();
    let gone = countersign::evidence::audit::session(store.as_ref(), other.id)
        .await
        .unwrap();
    assert_eq!(gone.breaks.len(), 1, "{:?}", gone.breaks);
}

backend_tests!(
    the_event_chain_links_every_event_and_an_edit_breaks_it,
    a_session_opens_with_its_draft_and_first_frames,
    a_session_starts_collecting_with_its_opened_event,
    transitions_append_events_and_stale_versions_are_refused,
    concurrent_writers_at_one_version_yield_one_winner,
    the_event_log_replays_to_the_stored_state,
    the_schema_refuses_free_text_states_and_edits_to_the_log,
    frames_are_numbered_per_session_and_replayed_in_order,
    concurrent_appends_never_share_a_seq,
    expiring_finds_only_confirmations_past_their_time,
    a_row_that_does_not_parse_is_corrupt,
);
