//! Instances killed and restarted under load. The chaos scenario, small enough for CI:
//! three server processes on one fresh Postgres schema, SIGKILLed and restarted under thirty
//! shoppers, every invariant read back from the RESULT line; and the restart race it found.
//! Postgres only: the instances share a database.

use std::time::Duration;

use countersign::domain::SessionId;
use serde_json::json;

use crate::helpers::{Backend, TestDb, spawn_app};
use crate::load::{field, load};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_every_flow_settles_once_while_instances_are_killed() {
    let db = TestDb::new(Backend::Postgres).await;
    let s = load(
        &db,
        &[
            "chaos",
            "--flows",
            "30",
            "--concurrency",
            "6",
            "--think-ms",
            "600",
            "--kill-every",
            "200-700",
            "--max-kills",
            "3",
            "--seed",
            "7",
            "--flow-timeout",
            "50",
            "--drain",
            "10",
        ],
    )
    .await;
    assert_eq!(s.get("ok"), Some("true"), "{}", s.line());
    assert_eq!(s.get("settled"), Some("30"), "{}", s.line());
    for none in ["failed", "lost", "gaps", "doubled", "stuck"] {
        assert_eq!(s.get(none), Some("0"), "{none} in {}", s.line());
    }
    assert!(field(&s, "kills") >= 2.0, "too few kills: {}", s.line());
}

/// A socket's subscription exists from the moment an instance accepts it, so the instance
/// must already be listening for other instances' frames by then: here a frame committed
/// on A after B is built, and before B serves, still reaches a subscriber on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_instance_hears_other_instances_frames_before_it_serves() {
    let a = spawn_app(Backend::Postgres).await;
    let creds = a.merchant("restarted", None).await;
    let opened = a
        .open_session(&creds.api_key, json!({"user_id": "u1"}))
        .await;
    let id = SessionId::parse(&opened.id).unwrap();

    let mut config = a.state.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.public_url = None;
    let b = countersign::build(config).await.expect("build");
    let mut on_b = b.state().flow.hub.subscribe(id);
    let said = json!({"type": "agent_message", "text": "committed on A"});
    let seq = a.state.store.append_frames(id, &[said]).await.unwrap();
    tokio::spawn(b.run_until(std::future::pending()));

    let heard = tokio::time::timeout(Duration::from_secs(10), on_b.recv())
        .await
        .expect("B relays the frame A committed while B was starting")
        .unwrap();
    assert_eq!(
        (heard.seq, heard.frame["text"].as_str()),
        (seq, Some("committed on A"))
    );
}
