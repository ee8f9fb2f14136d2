//! Secrets: a redacting wrapper, random credentials, hashing for lookup, and sealing under
//! the master key for what the server must be able to read back.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A value that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(v: T) -> Self {
        Secret(v)
    }

    /// The only way to read the value: every call site is a place a secret leaves.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for Secret<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::deserialize(d).map(Secret)
    }
}

/// `prefix` + 32 random bytes, base64url.
pub fn random_token(prefix: &str) -> Secret<String> {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret(format!("{prefix}{}", B64.encode(bytes)))
}

/// SHA-256 hex of a high-entropy credential, for storage and lookup.
pub fn hash_credential(credential: &str) -> String {
    hex::encode(Sha256::digest(credential.as_bytes()))
}

pub type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the master key must be 32 bytes, base64url or standard base64 encoded")]
    BadMasterKey,
    #[error("a sealed value could not be opened with this master key")]
    CannotOpen,
}

/// The server's master key: seals the stored secrets the server must read back.
#[derive(Clone)]
pub struct MasterKey(Secret<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        MasterKey(Secret(key))
    }

    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let bytes = B64
            .decode(text)
            .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
            .map_err(|_| KeyError::BadMasterKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadMasterKey)?;
        Ok(MasterKey(Secret(key)))
    }

    pub fn to_text(&self) -> String {
        B64.encode(self.0.expose())
    }

    /// Encrypts `plain` (XChaCha20-Poly1305, random nonce); `context` binds it to its use.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let cipher = XChaCha20Poly1305::new(self.0.expose().into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let payload = chacha20poly1305::aead::Payload {
            msg: plain.as_bytes(),
            aad: context.as_bytes(),
        };
        let mut out = nonce.to_vec();
        out.extend(
            cipher
                .encrypt(&nonce, payload)
                .expect("encryption of a short value"),
        );
        B64.encode(out)
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<Secret<String>, KeyError> {
        let bytes = B64.decode(sealed).map_err(|_| KeyError::CannotOpen)?;
        if bytes.len() < 24 {
            return Err(KeyError::CannotOpen);
        }
        let (nonce, body) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new(self.0.expose().into());
        let payload = chacha20poly1305::aead::Payload {
            msg: body,
            aad: context.as_bytes(),
        };
        let plain = cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map_err(|_| KeyError::CannotOpen)?;
        String::from_utf8(plain)
            .map(Secret)
            .map_err(|_| KeyError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.seal("webhook", "whsec_abc");
        assert_eq!(key.open("webhook", &sealed).unwrap().expose(), "whsec_abc");
        assert!(key.open("signing", &sealed).is_err());
        assert!(MasterKey::generate().open("webhook", &sealed).is_err());
        assert!(key.open("webhook", "garbage").is_err());
    }

    #[test]
    fn master_key_text_round_trips_and_secrets_do_not_print() {
        let key = MasterKey::generate();
        let again = MasterKey::from_text(&key.to_text()).unwrap();
        assert_eq!(again.open("c", &key.seal("c", "v")).unwrap().expose(), "v");
        assert!(MasterKey::from_text("short").is_err());
        assert_eq!(format!("{:?}", random_token("csk_")), "Secret([redacted])");
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}
