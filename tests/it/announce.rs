//! Frames are announced to other instances (Postgres NOTIFY) only while another instance
//! is seen listening: a notifying commit takes a database-wide lock, so a lone instance
//! does without it.

use serde_json::json;
use sqlx::postgres::PgListener;

use crate::fixtures::shop;
use crate::helpers::{Backend, execute};
use countersign::store::FRAMES_CHANNEL;

/// The next notification on the frames channel that names session `id` or is `tag`: tests
/// in other schemas of the same database share the channel.
async fn next(listener: &mut PgListener, id: &str, tag: &str) -> String {
    let wait = std::time::Duration::from_secs(15);
    loop {
        let n = tokio::time::timeout(wait, listener.recv()).await;
        let n = n.expect("a notification").expect("the listener");
        if n.payload().starts_with(id) || n.payload() == tag {
            return n.payload().to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_are_announced_only_while_another_instance_listens() {
    let (app, key) = shop(Backend::Postgres, None).await;
    let mut listener = PgListener::connect(&app.db.url).await.unwrap();
    listener.listen(FRAMES_CHANNEL).await.unwrap();
    let sentinel = |tag: &str| format!("SELECT pg_notify('{FRAMES_CHANNEL}', '{tag}')");
    let tag = |t: &str| format!("{t} {}", uuid::Uuid::new_v4());

    // Alone: the greeting, a question and a card are stored and announced to nobody. A
    // notification sent after them comes first.
    let s = app.open_session(&key, json!({"user_id": "u1"})).await;
    let mut shopper = app.connect(&s).await;
    shopper.until("agent_message").await;
    shopper.say("refund order 1042").await;
    shopper.until("clarify").await;
    let alone = tag("alone");
    execute(&app.db.url, &sentinel(&alone)).await;
    assert_eq!(next(&mut listener, &s.id, &alone).await, alone);

    // Another instance beats: the next frames are announced, before the next sentinel.
    execute(
        &app.db.url,
        "INSERT INTO instances (origin, seen_at) VALUES ('peer', now())",
    )
    .await;
    shopper.say("full").await;
    shopper.until("confirmation_required").await;
    let together = tag("together");
    execute(&app.db.url, &sentinel(&together)).await;
    let announced = next(&mut listener, &s.id, &together).await;
    assert!(announced.starts_with(&s.id), "{announced}");
    while next(&mut listener, &s.id, &together).await != together {}

    // Gone quiet past its presence: alone again.
    execute(
        &app.db.url,
        "UPDATE instances SET seen_at = now() - interval '1 minute' WHERE origin = 'peer'",
    )
    .await;
    shopper.send(json!({"type": "cancel"})).await;
    shopper.until_state("cancelled").await;
    let quiet = tag("quiet");
    execute(&app.db.url, &sentinel(&quiet)).await;
    assert_eq!(next(&mut listener, &s.id, &quiet).await, quiet);
}
