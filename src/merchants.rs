//! Creating merchants: credentials generated once, stored hashed or sealed.

pub mod cache;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::{MerchantId, PolicyDoc, PolicyError};
use crate::schema;
use crate::secrets::{MasterKey, Secret, hash_credential, random_token};
use crate::store::{KeyRotation, Merchant, Store, StoreError};

/// Sealing contexts, so a sealed value cannot be swapped for another kind.
pub const API_SECRET_CONTEXT: &str = "merchant/api-secret";
pub const WEBHOOK_SECRET_CONTEXT: &str = "merchant/webhook-secret";

/// Printed once at creation; never retrievable again.
#[derive(Serialize)]
pub struct Credentials {
    pub merchant_id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("policy {0}")]
    Schema(String),
    #[error("policy {0}")]
    Policy(#[from] PolicyError),
    #[error("merchant {0} exists already")]
    Exists(MerchantId),
    #[error(transparent)]
    Store(StoreError),
}

/// Validates a policy document against `schemas/policy.schema.json` and the rules a schema
/// cannot express. `None` means the default policy.
pub fn validate_policy(doc: Option<&Value>) -> Result<PolicyDoc, CreateError> {
    let Some(doc) = doc else {
        return Ok(PolicyDoc::default());
    };
    schema::check(&schema::POLICY, doc).map_err(CreateError::Schema)?;
    let parsed: PolicyDoc =
        serde_json::from_value(doc.clone()).map_err(|e| CreateError::Schema(e.to_string()))?;
    parsed.parse()?;
    Ok(parsed)
}

/// Stores a new merchant and returns its credentials.
pub async fn create(
    store: &dyn Store,
    keys: &MasterKey,
    id: MerchantId,
    policy: PolicyDoc,
) -> Result<Secret<Credentials>, CreateError> {
    let api_key = random_token("csk_");
    let webhook_secret = random_token("whsec_");
    let api_secret = random_token("");
    let merchant = Merchant {
        id: id.clone(),
        api_key_hash: hash_credential(api_key.expose()),
        api_secret_sealed: keys.seal(API_SECRET_CONTEXT, api_secret.expose()),
        webhook_secret_sealed: keys.seal(WEBHOOK_SECRET_CONTEXT, webhook_secret.expose()),
        signing_kid: "k1".into(),
        previous_kid: None,
        previous_kid_retires_at: None,
        policy,
        created_at: crate::clock::now(),
    };
    store
        .create_merchant(&merchant)
        .await
        .map_err(|e| match e {
            StoreError::Duplicate => CreateError::Exists(id.clone()),
            other => CreateError::Store(other),
        })?;
    Ok(Secret::new(Credentials {
        merchant_id: id.to_string(),
        api_key: api_key.expose().clone(),
        webhook_secret: webhook_secret.expose().clone(),
    }))
}

/// Printed by `merchant rotate-key`.
#[derive(Debug, Serialize)]
pub struct Rotated {
    pub merchant_id: String,
    pub kid: String,
    pub previous_kid: String,
    /// When tokens signed under `previous_kid` stop verifying.
    pub previous_kid_retires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("no merchant {0}")]
    NotFound(MerchantId),
    #[error("the key of merchant {0} was rotated at the same moment; try again")]
    Concurrent(MerchantId),
    #[error("merchant {0}: its stored policy does not parse: {1}")]
    Policy(MerchantId, PolicyError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs the merchant's new confirmations under a new kid from now on. Tokens signed under
/// the kid it replaces verify until the longest confirmation the merchant's policy allows
/// would have expired, issued now or by an instance whose kept copy of the merchant is
/// still the old one (`cache::FRESH`); the kid before that stops verifying at once.
pub async fn rotate_key(
    store: &dyn Store,
    id: &MerchantId,
    now: DateTime<Utc>,
) -> Result<Rotated, RotateError> {
    let m = store
        .merchant(id)
        .await?
        .ok_or_else(|| RotateError::NotFound(id.clone()))?;
    let policy = m
        .policy
        .parse()
        .map_err(|e| RotateError::Policy(id.clone(), e))?;
    let rotation = KeyRotation {
        merchant_id: id.clone(),
        kid: next_kid(&m.signing_kid),
        previous_kid: m.signing_kid.clone(),
        previous_kid_retires_at: now
            + TimeDelta::seconds(i64::from(policy.confirmation_ttl_seconds))
            + cache::FRESH,
    };
    if !store.rotate_merchant_key(&rotation).await? {
        return Err(RotateError::Concurrent(id.clone()));
    }
    Ok(Rotated {
        merchant_id: id.to_string(),
        kid: rotation.kid,
        previous_kid: rotation.previous_kid,
        previous_kid_retires_at: rotation.previous_kid_retires_at,
    })
}

/// `k1` → `k2`; a kid of another shape is followed by `k2`.
fn next_kid(kid: &str) -> String {
    let n: u64 = kid
        .strip_prefix('k')
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    format!("k{}", n.saturating_add(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kids_count_up() {
        assert_eq!(next_kid("k1"), "k2");
        assert_eq!(next_kid("k41"), "k42");
        assert_eq!(next_kid("legacy"), "k2");
    }
}
