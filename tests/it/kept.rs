//! The session a socket's turns start from: the copy this instance kept, read again when
//! another writer moved the session meanwhile.

use serde_json::json;

use crate::backend_tests;
use crate::fixtures::shop;
use crate::helpers::Backend;
use countersign::domain::{Actor, EventKind, SessionId};
use countersign::store::{Commit, NewEvent};

/// Another writer moves the session after this instance kept it: the turn's first commit
/// fails its version guard, and the turn runs again on the session as stored instead of
/// telling the shopper the session changed.
async fn a_turn_on_a_session_moved_elsewhere_runs_again_on_the_stored_one(b: Backend) {
    let (app, key) = shop(b, None).await;
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut shopper = app.connect(&s).await;
    shopper.until("agent_message").await;

    let store = &app.state.store;
    let id = SessionId::parse(&s.id).unwrap();
    let current = store.session(id).await.unwrap().unwrap();
    let elsewhere = NewEvent {
        kind: EventKind::Corrected,
        actor: Actor::System,
        payload: json!({}),
    };
    let commit = Commit::new(current.change(chrono::Utc::now()), elsewhere, vec![]);
    let moved = store.apply(id, current.version, &commit).await.unwrap();
    assert_eq!(moved.version, current.version + 1);

    shopper.say("refund order 1042 in full").await;
    let card = shopper.until("confirmation_required").await;
    assert_eq!(card["payload"]["action"]["order_id"], "1042");
    let errors: Vec<_> = shopper
        .seen
        .iter()
        .filter(|f| f["type"] == "error")
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let now = store.session(id).await.unwrap().unwrap();
    assert_eq!(
        now.version,
        moved.version + 1,
        "one more transition, from the stored version"
    );
}

backend_tests!(a_turn_on_a_session_moved_elsewhere_runs_again_on_the_stored_one,);
