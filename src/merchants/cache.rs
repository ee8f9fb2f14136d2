//! Merchants read once and kept: a merchant never changes after it is created, so a kept
//! copy is never stale. Every turn, webhook and API call needs its merchant; this saves
//! the database that read. Unknown ids and keys are not kept.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::domain::MerchantId;
use crate::store::{Merchant, Store, StoreError};

/// Entries kept before the cache starts over.
const LIMIT: usize = 10_000;

#[derive(Default)]
pub struct MerchantCache {
    by_id: Mutex<HashMap<MerchantId, Merchant>>,
    /// API key hash → merchant id.
    by_key: Mutex<HashMap<String, MerchantId>>,
}

impl MerchantCache {
    pub async fn by_id(
        &self,
        store: &dyn Store,
        id: &MerchantId,
    ) -> Result<Option<Merchant>, StoreError> {
        if let Some(m) = self.kept(id) {
            return Ok(Some(m));
        }
        let found = store.merchant(id).await?;
        if let Some(m) = &found {
            self.keep(m);
        }
        Ok(found)
    }

    pub async fn by_key_hash(
        &self,
        store: &dyn Store,
        hash: &str,
    ) -> Result<Option<Merchant>, StoreError> {
        let id = lock(&self.by_key).get(hash).cloned();
        if let Some(m) = id.and_then(|id| self.kept(&id)) {
            return Ok(Some(m));
        }
        let found = store.merchant_by_key_hash(hash).await?;
        if let Some(m) = &found {
            self.keep(m);
        }
        Ok(found)
    }

    fn kept(&self, id: &MerchantId) -> Option<Merchant> {
        lock(&self.by_id).get(id).cloned()
    }

    fn keep(&self, m: &Merchant) {
        let mut by_id = lock(&self.by_id);
        let mut by_key = lock(&self.by_key);
        if by_id.len() >= LIMIT {
            by_id.clear();
            by_key.clear();
        }
        by_key.insert(m.api_key_hash.clone(), m.id.clone());
        by_id.insert(m.id.clone(), m.clone());
    }
}

/// The maps hold plain data, so a panic elsewhere cannot leave them half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
