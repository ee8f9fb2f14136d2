//! The confirmation token a shopper countersigns:
//! `base64url(payload_json) "." base64url(HMAC-SHA256(k, payload_json))` where
//! `k = HMAC-SHA256(merchant_api_secret, "countersign/confirmation/v1/" + kid)`.
//! The client echoes the token unchanged; the server checks it in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::Mac;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::action::Action;
use crate::secrets::{HmacSha256, hash_credential, hmac_sha256};

/// The largest token accepted; anything longer is not one of ours.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What the shopper is shown and consents to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub v: u8,
    pub session_id: String,
    pub merchant_id: String,
    pub action: Action,
    pub summary: String,
    pub nonce: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    pub kid: String,
}

/// A signed token and the hash the server keeps of it.
pub struct Issued {
    pub payload: Payload,
    pub token: String,
    pub token_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not signed by us, altered, or not a token at all.
    #[error("the confirmation token is not valid")]
    Invalid,
}

/// The signing key for `kid`.
pub fn key_for(api_secret: &str, kid: &str) -> [u8; 32] {
    hmac_sha256(
        api_secret.as_bytes(),
        format!("countersign/confirmation/v1/{kid}").as_bytes(),
    )
}

fn nonce() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    B64.encode(bytes)
}

/// Builds and signs the confirmation for `action`.
pub struct Unsigned<'a> {
    pub session_id: &'a str,
    pub merchant_id: &'a str,
    pub action: Action,
    pub summary: String,
    pub issued_at: DateTime<Utc>,
    pub ttl_seconds: u32,
    pub kid: &'a str,
}

impl Unsigned<'_> {
    pub fn sign(self, api_secret: &str) -> Issued {
        let issued_at = self.issued_at.timestamp();
        let payload = Payload {
            v: 1,
            session_id: self.session_id.to_owned(),
            merchant_id: self.merchant_id.to_owned(),
            action: self.action,
            summary: self.summary,
            nonce: nonce(),
            issued_at,
            expires_at: issued_at + i64::from(self.ttl_seconds),
            kid: self.kid.to_owned(),
        };
        let bytes = serde_json::to_vec(&payload).expect("payload serializes");
        let mac = hmac_sha256(&key_for(api_secret, self.kid), &bytes);
        let token = format!("{}.{}", B64.encode(&bytes), B64.encode(mac));
        Issued {
            token_hash: hash_credential(&token),
            payload,
            token,
        }
    }
}

/// Just the `kid`, read before the signature is checked to pick the key.
#[derive(Deserialize)]
struct KidOnly {
    kid: String,
}

/// The `kid` a token names, unverified: which key to check it with. `None` for what is not
/// a token.
pub fn kid_of(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_BYTES {
        return None;
    }
    let body = B64.decode(token.split_once('.')?.0).ok()?;
    serde_json::from_slice::<KidOnly>(&body).ok().map(|k| k.kid)
}

/// Checks `token`'s signature with the key `key_for_kid` gives and returns its payload.
/// Whether it is this session's current, unexpired confirmation is the caller's to check.
pub fn verify(
    token: &str,
    key_for_kid: impl Fn(&str) -> Option<[u8; 32]>,
) -> Result<Payload, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Invalid);
    }
    let (body, sig) = token.split_once('.').ok_or(TokenError::Invalid)?;
    let bytes = B64.decode(body).map_err(|_| TokenError::Invalid)?;
    let sig = B64.decode(sig).map_err(|_| TokenError::Invalid)?;
    let kid: KidOnly = serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)?;
    let key = key_for_kid(&kid.kid).ok_or(TokenError::Invalid)?;
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("any key length");
    mac.update(&bytes);
    mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Currency, Money, OrderId};

    const SECRET: &str = "merchant-api-secret";

    fn issue() -> Issued {
        Unsigned {
            session_id: "s1",
            merchant_id: "acme",
            action: Action::Refund {
                order_id: OrderId::parse("1042").unwrap(),
                amount: Money::parse("128.00", Currency::CNY).unwrap(),
                reason: None,
            },
            summary: "Refund 128.00 CNY for order 1042.".into(),
            issued_at: Utc::now(),
            ttl_seconds: 300,
            kid: "k1",
        }
        .sign(SECRET)
    }

    fn keys(kid: &str) -> Option<[u8; 32]> {
        (kid == "k1").then(|| key_for(SECRET, kid))
    }

    #[test]
    fn a_signed_token_verifies_to_its_payload() {
        let issued = issue();
        let payload = verify(&issued.token, keys).unwrap();
        assert_eq!(payload, issued.payload);
        assert_eq!(payload.expires_at - payload.issued_at, 300);
        assert_eq!(issued.token_hash, hash_credential(&issued.token));
    }

    #[test]
    fn a_one_cent_change_breaks_the_signature() {
        let issued = issue();
        let (body, sig) = issued.token.split_once('.').unwrap();
        let json = String::from_utf8(B64.decode(body).unwrap()).unwrap();
        let altered = json.replace("\"128.00\"", "\"128.01\"");
        assert_ne!(json, altered);
        let forged = format!("{}.{sig}", B64.encode(altered));
        assert_eq!(verify(&forged, keys), Err(TokenError::Invalid));
    }

    #[test]
    fn other_keys_kids_and_garbage_are_refused() {
        let issued = issue();
        assert!(verify(&issued.token, |kid| Some(key_for("another secret", kid))).is_err());
        assert!(verify(&issued.token, |_| None).is_err());
        for junk in ["", ".", "abc", "a.b.c", "!!.!!", &"A".repeat(9000)] {
            assert_eq!(verify(junk, keys), Err(TokenError::Invalid), "{junk:.20}");
        }
        let (body, _) = issued.token.split_once('.').unwrap();
        assert!(
            verify(&format!("{body}."), keys).is_err(),
            "empty signature"
        );
    }
}
