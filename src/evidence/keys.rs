//! The service's Ed25519 keys for evidence packs: made with ring, the private half sealed
//! under the master key, the public halves published as a JWKS. The newest key signs; a
//! rotation adds one and retires none, so packs signed before it still verify.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::chain::canonical;
use crate::secrets::MasterKey;
use crate::store::{EvidenceKey, Store, StoreError};

/// The sealing context of evidence private keys.
pub const KEY_CONTEXT: &str = "evidence/signing-key";

/// A new key pair, its private half sealed under `master`. Its kid is the RFC 7638
/// thumbprint of its public JWK.
pub fn generate(master: &MasterKey, now: DateTime<Utc>) -> EvidenceKey {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .expect("the system's random source works");
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("ring reads its own key");
    let x = B64.encode(pair.public_key().as_ref());
    EvidenceKey {
        kid: thumbprint(&x),
        private_sealed: master.seal(KEY_CONTEXT, &B64.encode(pkcs8.as_ref())),
        public_key: x,
        created_at: now,
    }
}

/// RFC 7638: base64url(SHA-256) of the required members of the JWK, in canonical JSON.
fn thumbprint(x: &str) -> String {
    let members = json!({ "crv": "Ed25519", "kty": "OKP", "x": x });
    B64.encode(Sha256::digest(canonical(&members).as_bytes()))
}

/// The public JWK of `k`.
pub fn jwk(k: &EvidenceKey) -> Value {
    json!({
        "kty": "OKP", "crv": "Ed25519", "kid": k.kid, "x": k.public_key,
        "alg": "EdDSA", "use": "sig",
    })
}

/// Every key's public half, newest first.
pub async fn jwks(store: &dyn Store) -> Result<Value, StoreError> {
    let keys = store.evidence_keys().await?;
    Ok(json!({ "keys": keys.iter().map(jwk).collect::<Vec<_>>() }))
}

/// Adds a new signing key; packs are signed with it from now on.
pub async fn rotate(
    store: &dyn Store,
    master: &MasterKey,
    now: DateTime<Utc>,
) -> Result<EvidenceKey, StoreError> {
    let key = generate(master, now);
    store.add_evidence_key(&key).await?;
    Ok(key)
}

/// Makes the first key when there is none (a new database).
pub async fn ensure(store: &dyn Store, master: &MasterKey) -> Result<(), StoreError> {
    if store.evidence_keys().await?.is_empty() {
        rotate(store, master, crate::clock::now()).await?;
    }
    Ok(())
}

/// The newest key, unsealed and ready to sign.
pub struct Signer {
    pub kid: String,
    pair: Ed25519KeyPair,
}

impl Signer {
    /// The newest key; `None` when there is none.
    pub async fn newest(store: &dyn Store, master: &MasterKey) -> Result<Option<Self>, StoreError> {
        let Some(k) = store.evidence_keys().await?.into_iter().next() else {
            return Ok(None);
        };
        let unusable = |why: &str| StoreError::Corrupt(format!("evidence key {}: {why}", k.kid));
        let sealed = master
            .open(KEY_CONTEXT, &k.private_sealed)
            .map_err(|_| unusable("does not open with this master key"))?;
        let pkcs8 = B64
            .decode(sealed.expose())
            .map_err(|_| unusable("not base64url"))?;
        let pair =
            Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|_| unusable("not an Ed25519 key"))?;
        Ok(Some(Signer { kid: k.kid, pair }))
    }

    /// `{"alg": "EdDSA", "kid", "value"}`: Ed25519 over the canonical JSON of `doc`.
    pub fn sign(&self, doc: &Value) -> Value {
        let signature = self.pair.sign(canonical(doc).as_bytes());
        json!({ "alg": "EdDSA", "kid": self.kid, "value": B64.encode(signature.as_ref()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_named_by_its_thumbprint_and_sealed() {
        let master = MasterKey::generate();
        let k = generate(&master, crate::clock::now());
        assert_eq!(B64.decode(&k.public_key).unwrap().len(), 32);
        assert_eq!(k.kid, thumbprint(&k.public_key));
        assert_eq!(B64.decode(&k.kid).unwrap().len(), 32);
        assert!(
            MasterKey::generate()
                .open(KEY_CONTEXT, &k.private_sealed)
                .is_err()
        );
        let jwk = jwk(&k);
        assert_eq!(
            (jwk["kty"].as_str(), jwk["crv"].as_str()),
            (Some("OKP"), Some("Ed25519"))
        );
    }
}
