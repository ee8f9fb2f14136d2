//! Dispute evidence: what a session's record proves about a money movement, gathered from
//! the store and signed with the service's Ed25519 key (`keys`). The signature covers the
//! RFC 8785 canonical JSON of the `evidence` object, so anyone holding the published JWKS
//! can check a pack without trusting how it was transported or pretty-printed.

pub mod audit;
pub mod keys;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::chain::time_text;
use crate::domain::EventKind;
use crate::secrets::hash_credential;
use crate::store::{EventRecord, Session, Store, StoreError};

/// The version of the evidence format.
pub const VERSION: u32 = 1;

/// The evidence of session `s`, as of `now`.
pub async fn gather(
    store: &dyn Store,
    s: &Session,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
    let events = store.events(s.id).await?;
    let offered = store.latest_frame(s.id, "confirmation_required").await?;
    let submission = store.submission_for_session(s.id).await?;
    let confirmation = offered.map(|f| {
        let token = f.frame["token"].as_str().unwrap_or_default();
        json!({ "payload": f.frame["payload"], "token_hash": hash_credential(token) })
    });
    let submission = submission.map(|sub| {
        json!({
            "provider": sub.provider,
            "idempotency_key": sub.idempotency_key,
            "provider_reference": sub.provider_reference,
        })
    });
    let head = events
        .last()
        .map(|e| json!({ "seq": e.seq, "hash": e.hash }));
    Ok(json!({
        "v": VERSION,
        "issued_at": time_text(now),
        "session_id": s.id.to_string(),
        "merchant_id": s.merchant_id.as_str(),
        "user_id": s.user_id.as_str(),
        "state": s.state,
        "confirmation": confirmation,
        "consent": consent(&events, s),
        "risk": last_of(&events, &[EventKind::RiskScored]).map(risk),
        "review": last_of(&events, &[EventKind::ReviewApproved, EventKind::ReviewDeclined])
            .map(review),
        "submission": submission,
        "settlement": last_of(
            &events,
            &[EventKind::SettlementSucceeded, EventKind::SettlementFailed],
        )
        .map(settlement),
        "event_chain": head,
    }))
}

/// The last event of one of these kinds.
fn last_of<'e>(events: &'e [EventRecord], kinds: &[EventKind]) -> Option<&'e EventRecord> {
    events.iter().rev().find(|e| kinds.contains(&e.kind))
}

/// When and how the shopper countersigned, and the device the session was opened from.
fn consent(events: &[EventRecord], s: &Session) -> Option<Value> {
    let e = last_of(events, &[EventKind::Confirmed])?;
    let channel = match e.payload["via"].as_str() {
        Some("http") => "http_menu",
        Some("socket") => "chat_socket",
        _ => "unrecorded",
    };
    let device = e.payload.get("device").cloned().unwrap_or(json!(s.device));
    Some(json!({
        "at": time_text(e.at),
        "channel": channel,
        "session_mode": s.mode,
        "device": device,
        "seq": e.seq,
    }))
}

fn risk(e: &EventRecord) -> Value {
    json!({
        "score": e.payload["score"],
        "rule_codes": e.payload["codes"],
        "source": e.payload["source"],
        "at": time_text(e.at),
    })
}

fn review(e: &EventRecord) -> Value {
    let decision = match e.kind {
        EventKind::ReviewApproved => "approved",
        _ => "declined",
    };
    json!({
        "decision": decision,
        "by": e.payload["reviewer"],
        "merchant": e.payload["decided_by"],
        "note": e.payload["note"],
        "at": time_text(e.at),
        "actor": e.actor,
    })
}

fn settlement(e: &EventRecord) -> Value {
    let kind = match e.kind {
        EventKind::SettlementSucceeded => crate::payments::webhook::SUCCEEDED,
        _ => crate::payments::webhook::FAILED,
    };
    json!({
        "event_id": e.payload["event_id"],
        "type": kind,
        "received_at": time_text(e.at),
        "provider_reference": e.payload["provider_reference"],
        "failure_reason": e.payload["failure_reason"],
    })
}

/// A session's evidence and its signature.
pub async fn pack(
    store: &dyn Store,
    signer: &keys::Signer,
    s: &Session,
    now: DateTime<Utc>,
) -> Result<Value, StoreError> {
    let evidence = gather(store, s, now).await?;
    let signature = signer.sign(&evidence);
    Ok(json!({ "evidence": evidence, "signature": signature }))
}
