//! The operator's commands for the event log and the keys: `audit verify`,
//! `merchant rotate-key` and `keys rotate-evidence`, run as the binary.

use serde_json::Value;

use crate::backend_tests;
use crate::cli::{create_merchant, run};
use crate::fixtures::shop;
use crate::helpers::{Backend, TestDb, execute};
use crate::settlement::consent;

async fn audit_verify_finds_one_altered_event_row(b: Backend) {
    let (app, key) = shop(b, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "100.00").await;
    shopper.until_state("settled").await;
    let (other, _) = consent(&app, &key, "1041", "10.00").await;
    let (ok, stdout, stderr) = run(&app.db, &["audit", "verify"]).await;
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["sessions"], 2);
    assert_eq!(report["breaks"], serde_json::json!([]));

    let unlock = match b {
        Backend::Sqlite => "DROP TRIGGER session_events_no_update",
        Backend::Postgres => "ALTER TABLE session_events DISABLE TRIGGER session_events_no_change",
    };
    execute(&app.db.url, unlock).await;
    let altered = format!(
        "UPDATE session_events SET actor = 'operator' WHERE session_id = '{}' AND seq = 3",
        s.id
    );
    assert_eq!(execute(&app.db.url, &altered).await, 1);

    let (ok, stdout, stderr) = run(&app.db, &["audit", "verify"]).await;
    assert!(!ok, "a break exits non-zero");
    assert!(stderr.contains("broken in 1 session"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let breaks = report["breaks"].as_array().unwrap();
    assert_eq!(breaks.len(), 1, "{report}");
    assert_eq!(
        (breaks[0]["session_id"].as_str(), breaks[0]["seq"].as_i64()),
        (Some(s.id.as_str()), Some(3))
    );

    let (ok, _, _) = run(&app.db, &["audit", "verify", "--session", &other.id]).await;
    assert!(ok, "the other session's chain holds");
    let (ok, _, _) = run(&app.db, &["audit", "verify", "--session", &s.id]).await;
    assert!(!ok);
    let missing = uuid::Uuid::new_v4().to_string();
    let (ok, _, stderr) = run(&app.db, &["audit", "verify", "--session", &missing]).await;
    assert!(!ok && stderr.contains("no session"), "{stderr}");
}

async fn key_rotations_print_what_changed(b: Backend) {
    let db = TestDb::new(b).await;
    create_merchant(&db, "acme").await;
    let rotate = ["merchant", "rotate-key", "--id", "acme"];
    let (ok, stdout, stderr) = run(&db, &rotate).await;
    assert!(ok, "{stderr}");
    let rotated: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (
            &rotated["merchant_id"],
            &rotated["kid"],
            &rotated["previous_kid"]
        ),
        (&"acme".into(), &"k2".into(), &"k1".into())
    );
    let (_, stdout, _) = run(&db, &rotate).await;
    let again: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&again["kid"], &again["previous_kid"]),
        (&"k3".into(), &"k2".into())
    );
    let (ok, _, stderr) = run(&db, &["merchant", "rotate-key", "--id", "nobody"]).await;
    assert!(!ok && stderr.contains("no merchant nobody"), "{stderr}");

    let store = db.store().await;
    let before = store.evidence_keys().await.unwrap().len();
    let (ok, stdout, stderr) = run(&db, &["keys", "rotate-evidence"]).await;
    assert!(ok, "{stderr}");
    let added: Value = serde_json::from_str(&stdout).unwrap();
    let keys = store.evidence_keys().await.unwrap();
    assert_eq!(keys.len(), before + 1);
    assert_eq!(
        added["kid"].as_str(),
        Some(keys[0].kid.as_str()),
        "the newest signs"
    );
    assert!(!stdout.contains(&keys[0].private_sealed));
}

backend_tests!(
    audit_verify_finds_one_altered_event_row,
    key_rotations_print_what_changed,
);
