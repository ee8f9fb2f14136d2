//! The hash chain over a session's events: each event stores
//! `hash = SHA-256(previous hash ‖ canonical event)`, the first one chained to 32 zero bytes,
//! and the session row keeps the last hash (its head). The canonical event is the RFC 8785
//! (JCS) JSON of `{actor, at, from, kind, payload, seq, session_id, to}`, with `at` in RFC 3339
//! UTC to the microsecond; hashes are lower-case hex.
//!
//! Because JCS sorts keys, the canonical text is `prefix ‖ seq ‖ suffix`, so a statement that
//! learns the seq only as it writes (Postgres' one-statement settlement) can finish the hash
//! itself from the two halves computed here.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::domain::SessionId;

/// What the first event of a session is chained to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One event as the chain covers it.
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub session_id: SessionId,
    pub seq: i64,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub kind: &'a str,
    pub actor: &'a str,
    pub payload: &'a Value,
    pub at: DateTime<Utc>,
}

/// The canonical text of an event around its seq: `prefix ‖ seq ‖ suffix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halves {
    pub prefix: String,
    pub suffix: String,
}

impl Link<'_> {
    /// The canonical event without its seq, split where the seq goes.
    pub fn halves(&self) -> Halves {
        // JCS orders keys: actor, at, from, kind, payload < seq < session_id, to.
        let before = json!({
            "actor": self.actor,
            "at": time_text(self.at),
            "from": self.from,
            "kind": self.kind,
            "payload": self.payload,
        });
        let after = json!({ "session_id": self.session_id.to_string(), "to": self.to });
        let before = canonical(&before);
        let after = canonical(&after);
        Halves {
            prefix: format!("{},\"seq\":", &before[..before.len() - 1]),
            suffix: format!(",{}", &after[1..]),
        }
    }

    /// The canonical event.
    pub fn canonical(&self) -> String {
        let h = self.halves();
        format!("{}{}{}", h.prefix, self.seq, h.suffix)
    }

    /// This event's hash, chained to `previous`; `None` when `previous` is not a hash.
    pub fn hash(&self, previous: &str) -> Option<String> {
        chain(previous, self.canonical().as_bytes())
    }
}

/// `hex(SHA-256(bytes of previous ‖ canonical))`; `None` when `previous` is not 32 bytes of
/// hex.
pub fn chain(previous: &str, canonical: &[u8]) -> Option<String> {
    let previous: [u8; 32] = hex::decode(previous).ok()?.try_into().ok()?;
    let mut h = Sha256::new();
    h.update(previous);
    h.update(canonical);
    Some(hex::encode(h.finalize()))
}

/// RFC 8785 JSON of `v`.
pub fn canonical(v: &Value) -> String {
    serde_json_canonicalizer::to_string(v).expect("a JSON value canonicalizes")
}

/// An event's time as the chain covers it: RFC 3339, UTC, microseconds.
pub fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "6f1c1f5e-3d0b-4c55-9a57-0a3e2d1b7c11";

    fn link(payload: &Value) -> Link<'_> {
        Link {
            session_id: SessionId::parse(ID).unwrap(),
            seq: 12,
            from: Some("submitted"),
            to: "settled",
            kind: "settlement_succeeded",
            actor: "provider",
            payload,
            at: DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
        }
    }

    #[test]
    fn the_halves_around_the_seq_are_the_canonical_event() {
        let payload = json!({"z": 1, "a": ["é", 0.5, null], "event_id": "evt_1"});
        let l = link(&payload);
        let whole = json!({
            "actor": "provider", "at": "2023-11-14T22:13:20.123456Z", "from": "submitted",
            "kind": "settlement_succeeded", "payload": payload, "seq": 12,
            "session_id": ID, "to": "settled",
        });
        assert_eq!(l.canonical(), canonical(&whole));
        let opened = Link {
            from: None,
            seq: 1,
            ..l
        };
        assert!(opened.canonical().contains("\"from\":null"));
    }

    #[test]
    fn each_hash_covers_the_previous_one_and_every_field() {
        let payload = json!({"event_id": "evt_1"});
        let first = link(&payload).hash(GENESIS).unwrap();
        assert_eq!(first.len(), 64);
        let again = link(&payload).hash(&first).unwrap();
        assert_ne!(first, again);
        let other = json!({"event_id": "evt_2"});
        assert_ne!(link(&other).hash(GENESIS).unwrap(), first);
        let later = Link {
            seq: 13,
            ..link(&payload)
        };
        assert_ne!(later.hash(GENESIS).unwrap(), first);
        assert_eq!(link(&payload).hash("not hex"), None);
        assert_eq!(link(&payload).hash("abcd"), None);
    }
}
