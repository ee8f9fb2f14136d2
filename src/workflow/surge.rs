//! The merchant's consents in the last `MERCHANT_WINDOW`, read at most once every `FRESH`
//! per merchant on this instance. It feeds the surge rule, where a second's staleness
//! changes nothing; counted per check, its cost grew with the merchant's volume.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};

use crate::domain::MerchantId;
use crate::risk::rules::MERCHANT_WINDOW;
use crate::store::{Store, StoreError};

/// How long a count is used before it is read again.
const FRESH: TimeDelta = TimeDelta::seconds(1);

/// A count and when it was read.
type Slot = Arc<tokio::sync::Mutex<Option<(DateTime<Utc>, i64)>>>;

#[derive(Default)]
pub struct Surge {
    counts: Mutex<HashMap<MerchantId, Slot>>,
}

impl Surge {
    /// The merchant's consents in the window before `now`, at most `FRESH` old. Checks
    /// arriving together wait for one read.
    pub async fn recent(
        &self,
        store: &dyn Store,
        merchant: &MerchantId,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let slot = {
            let mut counts = self.counts.lock().expect("surge lock");
            Arc::clone(counts.entry(merchant.clone()).or_default())
        };
        let mut slot = slot.lock().await;
        if let Some((read_at, n)) = *slot
            && now - read_at < FRESH
        {
            return Ok(n);
        }
        let n = store
            .merchant_consents(merchant, now - MERCHANT_WINDOW)
            .await?;
        *slot = Some((now, n));
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::{Actor, EventKind, PolicyDoc};
    use crate::store::{Commit, NewEvent};

    #[tokio::test]
    async fn a_count_is_read_again_once_it_is_a_second_old() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = crate::clock::now();
        let (store, _, id) = crate::testing::shop(&dir, PolicyDoc::default(), t0).await;
        let acme = MerchantId::parse("acme").unwrap();
        let surge = Surge::default();
        assert_eq!(surge.recent(store.as_ref(), &acme, t0).await.unwrap(), 0);

        // The shopper consents: the count a moment later is the one already read.
        let s = store.session(id).await.unwrap().unwrap();
        let consent = NewEvent {
            kind: EventKind::Confirmed,
            actor: Actor::Shopper,
            payload: json!({}),
        };
        let commit = Commit::new(s.change(t0), consent, vec![]);
        store.apply(id, s.version, &commit).await.unwrap();
        let soon = t0 + TimeDelta::milliseconds(900);
        assert_eq!(surge.recent(store.as_ref(), &acme, soon).await.unwrap(), 0);
        let later = t0 + FRESH;
        assert_eq!(surge.recent(store.as_ref(), &acme, later).await.unwrap(), 1);
    }
}
