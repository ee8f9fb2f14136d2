//! A session loaded for one step, with what every step needs beside it.

use super::{Error, Workflow};
use crate::dialogue::draft::Draft;
use crate::domain::{Policy, SessionId};
use crate::store::{Merchant, Session};

/// The session, its merchant and that merchant's policy.
pub struct SessionContext {
    pub session: Session,
    pub merchant: Merchant,
    pub policy: Policy,
    /// What the dialogue has gathered; stored with every transition.
    pub draft: Draft,
}

impl Workflow {
    /// Loads `id` with its merchant and policy.
    pub async fn load(&self, id: SessionId) -> Result<SessionContext, Error> {
        let session = self.store.session(id).await?.ok_or(Error::NotFound)?;
        let merchant = self
            .merchants
            .by_id(self.store.as_ref(), &session.merchant_id)
            .await?
            .ok_or_else(|| Error::internal("merchant vanished"))?;
        let policy = merchant.policy.parse().map_err(Error::internal)?;
        let draft = Draft::from_json(&session.draft);
        Ok(SessionContext {
            session,
            merchant,
            policy,
            draft,
        })
    }
}
