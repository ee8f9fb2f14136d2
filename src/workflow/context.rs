//! A session loaded for one step, with what every step needs beside it.

use super::{Error, Workflow};
use crate::domain::{Policy, SessionId};
use crate::store::{Merchant, Session};

/// The session (with what the dialogue has gathered, its draft), its merchant and that
/// merchant's policy.
pub struct SessionContext {
    pub session: Session,
    pub merchant: Merchant,
    pub policy: Policy,
}

impl Workflow {
    /// `id` with its merchant and policy: the session as this instance last stored or read
    /// it while a socket or turn holds it here, read from the store otherwise.
    pub async fn load(&self, id: SessionId) -> Result<SessionContext, Error> {
        let session = match self.hub.latest(id) {
            Some(kept) => kept,
            None => self.read(id).await?,
        };
        self.context_of(session).await
    }

    /// Reads `id` from the store, and keeps it while a socket or turn holds it here.
    pub async fn read(&self, id: SessionId) -> Result<Session, Error> {
        let session = self.store.session(id).await?.ok_or(Error::NotFound)?;
        self.hub.remember(&session);
        Ok(session)
    }

    /// `session`, as this instance last saw it, with its merchant and policy (the merchant
    /// from the cache). A session another writer moved since fails its next commit with
    /// `Error::Conflict`.
    pub async fn context_of(&self, session: Session) -> Result<SessionContext, Error> {
        let merchant = self
            .merchants
            .by_id(self.store.as_ref(), &session.merchant_id)
            .await?
            .ok_or_else(|| Error::internal("merchant vanished"))?;
        let policy = merchant.policy.parse().map_err(Error::internal)?;
        Ok(SessionContext {
            session,
            merchant,
            policy,
        })
    }
}
