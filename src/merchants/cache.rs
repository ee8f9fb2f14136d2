//! Merchants read and kept for a few seconds. Every turn, webhook and API call needs its
//! merchant; this saves the database that read. A merchant changes only when its
//! confirmation key is rotated (`merchant rotate-key`, possibly from another process), so a
//! kept copy is read again once it is `FRESH` old: every instance signs under the new kid
//! within that. Unknown ids and keys are not kept.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::Clock;
use crate::domain::MerchantId;
use crate::store::{Merchant, Store, StoreError};

/// Entries kept before the cache starts over.
const LIMIT: usize = 10_000;

/// How long a kept merchant is used before it is read again.
pub const FRESH: TimeDelta = TimeDelta::seconds(5);

#[derive(Default)]
pub struct MerchantCache {
    by_id: Mutex<HashMap<MerchantId, (Merchant, DateTime<Utc>)>>,
    /// API key hash → merchant id.
    by_key: Mutex<HashMap<String, MerchantId>>,
    clock: Clock,
}

impl MerchantCache {
    /// A cache whose entries age by `clock`.
    pub fn new(clock: Clock) -> Self {
        MerchantCache {
            clock,
            ..Default::default()
        }
    }

    /// Reads `id` from the store whatever is kept, and keeps what it read.
    pub async fn reread(
        &self,
        store: &dyn Store,
        id: &MerchantId,
    ) -> Result<Option<Merchant>, StoreError> {
        let found = store.merchant(id).await?;
        if let Some(m) = &found {
            self.keep(m);
        }
        Ok(found)
    }

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
        let now = self.clock.now();
        lock(&self.by_id)
            .get(id)
            .filter(|(_, read_at)| now - *read_at < FRESH)
            .map(|(m, _)| m.clone())
    }

    fn keep(&self, m: &Merchant) {
        let mut by_id = lock(&self.by_id);
        let mut by_key = lock(&self.by_key);
        if by_id.len() >= LIMIT {
            by_id.clear();
            by_key.clear();
        }
        by_key.insert(m.api_key_hash.clone(), m.id.clone());
        by_id.insert(m.id.clone(), (m.clone(), self.clock.now()));
    }
}

/// The maps hold plain data, so a panic elsewhere cannot leave them half-written.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
