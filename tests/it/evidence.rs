//! Signed dispute evidence, checked as a third party would: the JWKS fetched over HTTP and
//! the signature verified with ed25519-dalek, an Ed25519 implementation other than the
//! signer's (ring).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, VerifyingKey};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::fixtures::{shop, submission};
use crate::helpers::{Backend, TestApp, assert_error};
use crate::settlement::consent;

/// Checks `pack` against the service's published keys: `Ok` when its signature verifies
/// over the canonical JSON of its evidence.
async fn check(app: &TestApp, pack: &Value) -> Result<(), String> {
    let message = serde_json_canonicalizer::to_vec(&pack["evidence"]).unwrap();
    check_bytes(app, &pack["signature"], &message).await
}

async fn check_bytes(app: &TestApp, signature: &Value, message: &[u8]) -> Result<(), String> {
    assert_eq!(signature["alg"], "EdDSA");
    let jwks = app.http.get(app.url("/.well-known/countersign/jwks.json"));
    let jwks: Value = jwks.send().await.unwrap().json().await.unwrap();
    let kid = signature["kid"].as_str().unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .ok_or("kid not published")?;
    assert_eq!(
        (&jwk["kty"], &jwk["crv"]),
        (&json!("OKP"), &json!("Ed25519"))
    );
    let x: [u8; 32] = B64
        .decode(jwk["x"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let key = VerifyingKey::from_bytes(&x).map_err(|e| e.to_string())?;
    let sig = B64.decode(signature["value"].as_str().unwrap()).unwrap();
    let sig = Signature::from_slice(&sig).map_err(|e| e.to_string())?;
    key.verify_strict(message, &sig).map_err(|e| e.to_string())
}

async fn a_settled_refunds_evidence_verifies_and_one_changed_byte_does_not(b: Backend) {
    let (app, key) = shop(b, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "100.00").await;
    shopper.until_state("settled").await;
    let (status, pack) = app
        .get(&format!("/v1/sessions/{}/evidence", s.id), &key)
        .await;
    assert_eq!(status, 200, "{pack}");
    check(&app, &pack).await.expect("the pack verifies");

    let e = &pack["evidence"];
    assert_eq!(
        (
            &e["session_id"],
            &e["merchant_id"],
            &e["user_id"],
            &e["state"]
        ),
        (
            &json!(s.id),
            &json!("acme"),
            &json!("u1"),
            &json!("settled")
        )
    );
    let offered = &e["confirmation"];
    assert_eq!(offered["payload"]["action"]["amount"]["value"], "100.00");
    assert_eq!(offered["payload"]["session_id"], json!(s.id));
    let token = shopper
        .seen
        .iter()
        .find(|f| f["type"] == "confirmation_required")
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        offered["token_hash"],
        countersign::secrets::hash_credential(&token)
    );
    assert_eq!(e["consent"]["channel"], "chat_socket");
    assert!(e["consent"]["at"].as_str().unwrap().ends_with('Z'));
    assert!(e["risk"]["score"].is_number(), "{e}");
    assert!(e["risk"]["rule_codes"].is_array(), "{e}");
    assert_eq!(e["review"], Value::Null);
    let row = submission(&app, &s).await;
    assert_eq!(
        (
            &e["submission"]["provider"],
            &e["submission"]["idempotency_key"]
        ),
        (&json!("sandbox"), &json!(row.idempotency_key))
    );
    assert_eq!(
        e["submission"]["provider_reference"],
        json!(row.provider_reference)
    );
    assert_eq!(e["settlement"]["type"], "settlement.succeeded");
    assert!(e["settlement"]["event_id"].is_string(), "{e}");
    let (_, log) = app
        .get(&format!("/v1/sessions/{}/events", s.id), &key)
        .await;
    let last = log["events"].as_array().unwrap().last().unwrap();
    assert_eq!(e["event_chain"]["seq"], last["seq"]);
    assert_eq!(e["event_chain"]["hash"], last["hash"]);
    assert_eq!(log["event_hash"], last["hash"]);

    // One byte changed anywhere in what was signed, or one value in the evidence: refused.
    let message = serde_json_canonicalizer::to_vec(e).unwrap();
    for at in [0, message.len() / 2, message.len() - 1] {
        let mut altered = message.clone();
        altered[at] ^= 0x01;
        assert!(
            check_bytes(&app, &pack["signature"], &altered)
                .await
                .is_err(),
            "byte {at}"
        );
    }
    let mut changed = pack.clone();
    changed["evidence"]["confirmation"]["payload"]["action"]["amount"]["value"] = json!("100.01");
    assert!(check(&app, &changed).await.is_err());
}

/// A new evidence key signs from then on; the old one stays published, so a pack signed
/// before still verifies.
async fn a_rotated_evidence_key_keeps_old_packs_verifiable(b: Backend) {
    let (app, key) = shop(b, None).await;
    let (s, mut shopper) = consent(&app, &key, "1042", "10.00").await;
    shopper.until_state("settled").await;
    let path = format!("/v1/sessions/{}/evidence", s.id);
    let before = app.get(&path, &key).await.1;
    let store = app.state.store.as_ref();
    let new = countersign::evidence::keys::rotate(store, &app.state.keys, chrono::Utc::now())
        .await
        .unwrap();
    let after = app.get(&path, &key).await.1;
    assert_eq!(after["signature"]["kid"], json!(new.kid));
    assert_ne!(before["signature"]["kid"], after["signature"]["kid"]);
    check(&app, &before)
        .await
        .expect("the old pack still verifies");
    check(&app, &after).await.expect("the new pack verifies");
    let jwks = app.http.get(app.url("/.well-known/countersign/jwks.json"));
    let jwks: Value = jwks.send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    assert!(!jwks.to_string().contains("private"), "{jwks}");
}

/// Evidence is the merchant's: a shopper's token, another merchant's key or no session
/// finds nothing.
async fn evidence_is_for_the_sessions_merchant_only(b: Backend) {
    let (app, key) = shop(b, None).await;
    let other = app.merchant("other", None).await;
    let s = app
        .open_session(&key, json!({"user_id": "u1", "text": "hello"}))
        .await;
    let path = format!("/v1/sessions/{}/evidence", s.id);
    let (status, open) = app.get(&path, &key).await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open["evidence"]["consent"], Value::Null);
    assert_eq!(open["evidence"]["event_chain"]["seq"], 1);
    check(&app, &open)
        .await
        .expect("an open session's pack verifies too");
    assert_error(
        &app.get(&path, &other.api_key).await,
        404,
        "not_found",
        "session",
    );
    assert_eq!(app.get(&path, &s.token).await.0, 401);
    let (status, _) = app.get("/v1/sessions/not-a-session/evidence", &key).await;
    assert_eq!(status, 404);
}

/// Consent given through the menu over plain HTTP says so, with the device the session was
/// opened from.
async fn consent_over_the_http_menu_is_recorded_as_such(b: Backend) {
    let (app, key) = shop(b, None).await;
    let opened = json!({"user_id": "u1", "channel": "menu", "device": "mini-program/3.1 (iPhone)"});
    let s = app.open_session(&key, opened).await;
    let path = format!("/v1/sessions/{}/menu", s.id);
    let choose = |option: &str| json!({"type": "menu_select", "option_id": option});
    for option in ["refund", "1042", "full", "skip"] {
        let (status, body) = app.post(&path, &s.token, &choose(option)).await;
        assert_eq!(status, 200, "{option}: {body}");
    }
    let (_, view) = app.get(&path, &s.token).await;
    let token = &view["confirmation"]["token"];
    let confirm = json!({"type": "confirm", "token": token});
    let (status, done) = app.post(&path, &s.token, &confirm).await;
    assert_eq!(status, 200, "{done}");
    let (_, pack) = app
        .get(&format!("/v1/sessions/{}/evidence", s.id), &key)
        .await;
    let consent = &pack["evidence"]["consent"];
    assert_eq!(
        (
            &consent["channel"],
            &consent["device"],
            &consent["session_mode"]
        ),
        (
            &json!("http_menu"),
            &json!("mini-program/3.1 (iPhone)"),
            &json!("menu")
        )
    );
    check(&app, &pack).await.expect("the pack verifies");
}

backend_tests!(
    consent_over_the_http_menu_is_recorded_as_such,
    a_settled_refunds_evidence_verifies_and_one_changed_byte_does_not,
    a_rotated_evidence_key_keeps_old_packs_verifiable,
    evidence_is_for_the_sessions_merchant_only,
);
