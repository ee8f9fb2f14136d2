//! The settlement webhook's signature: header
//! `Countersign-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`, with
//! several `v1` allowed during secret rotation and 300 s tolerance in both directions.

use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::domain::Money;
use crate::secrets::HmacSha256;

pub const HEADER: &str = "countersign-signature";
/// How far a timestamp may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;

/// The notification body (schemas/settlement-webhook.schema.json).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub merchant_id: String,
    pub session_id: String,
    pub idempotency_key: String,
    pub provider_reference: String,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub created: i64,
}

pub const SUCCEEDED: &str = "settlement.succeeded";
pub const FAILED: &str = "settlement.failed";

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Countersign-Signature header")]
    Malformed,
    #[error("the signature timestamp is outside the tolerance")]
    Stale,
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed at `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret, t, body).finalize().into_bytes())
    )
}

/// Checks `header` against `body` at time `now` (unix seconds), in constant time.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => {
                candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?)
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() || candidates.len() > 8 {
        return Err(SignatureError::Malformed);
    }
    // i128: no timestamp a sender can write overflows the difference.
    if (i128::from(now) - i128::from(t)).abs() > i128::from(TOLERANCE_SECONDS) {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, t, body);
    let matched = candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok());
    if matched {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = br#"{"id":"evt_1"}"#;

    #[test]
    fn a_fresh_signature_verifies_and_anything_else_does_not() {
        let now = 1_800_000_000;
        let header = sign("whsec_a", now, BODY);
        assert_eq!(verify("whsec_a", &header, BODY, now), Ok(()));
        assert_eq!(verify("whsec_a", &header, BODY, now + 300), Ok(()));
        assert_eq!(
            verify("whsec_a", &header, BODY, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify("whsec_a", &header, BODY, now - 301),
            Err(SignatureError::Stale),
            "from the future"
        );
        assert_eq!(
            verify("whsec_b", &header, BODY, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_a", &header, br#"{"id":"evt_2"}"#, now),
            Err(SignatureError::Mismatch)
        );
        for extreme in [i64::MIN, i64::MAX] {
            let header = sign("whsec_a", extreme, BODY);
            assert_eq!(
                verify("whsec_a", &header, BODY, now),
                Err(SignatureError::Stale)
            );
        }
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz"] {
            assert_eq!(
                verify("whsec_a", bad, BODY, 1),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn any_listed_signature_may_match_during_rotation() {
        let now = 1_800_000_000;
        let old = sign("whsec_old", now, BODY);
        let new = sign("whsec_new", now, BODY);
        let both = format!("{old},{}", new.split_once(',').unwrap().1);
        assert_eq!(verify("whsec_new", &both, BODY, now), Ok(()));
        assert_eq!(verify("whsec_old", &both, BODY, now), Ok(()));
    }
}
