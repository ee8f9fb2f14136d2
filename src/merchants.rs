//! Creating merchants: credentials generated once, stored hashed or sealed.

pub mod cache;

use serde::Serialize;
use serde_json::Value;

use crate::domain::{MerchantId, PolicyDoc, PolicyError};
use crate::schema;
use crate::secrets::{MasterKey, Secret, hash_credential, random_token};
use crate::store::{Merchant, Store, StoreError};

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
