//! A session's life once the dialogue has proposed something: every transition goes
//! through [`Workflow::commit`], which applies the state machine once and carries out each
//! effect the machine names — void the confirmation, switch to the menu, assess the risk,
//! queue for review, write the outbox row — in one place (`commit.rs`).
//!
//! - `consent.rs`: the countersignature, cancelling, expiry.
//! - `risk.rs`: scoring a consented session; `review.rs`: an operator's decision.
//! - `outbox.rs`: delivering submissions to the provider; `refusal.rs`: a provider's final no.
//! - `settlement.rs`: a verified notification, stored in the inbox with its transition.
//! - `frames.rs`, `hub.rs`, `relay.rs`: what sockets are sent, and how it reaches them.
//! - `sweeper.rs`: expiry and interrupted risk checks, on a timer.
//!
//! Callers (the dialogue, the HTTP handlers, the background tasks) hold a [`Workflow`]: the
//! store, keys, risk engine, provider, hub and clock, and nothing of the HTTP layer.

mod commit;
mod consent;
mod context;
mod error;
pub mod frames;
pub mod hub;
pub mod outbox;
mod refusal;
pub mod relay;
pub mod review;
mod risk;
mod settlement;
mod surge;
pub mod sweeper;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::merchants::cache::MerchantCache;
use crate::payments::Provider;
use crate::risk::RiskEngine;
use crate::secrets::MasterKey;
use crate::store::Store;
use hub::Hub;

pub use commit::{Planned, Step};
pub use context::SessionContext;
pub use error::Error;
pub use review::ReviewDecision;
pub use settlement::SettleOutcome;

/// What the workflow needs, cheap to clone.
#[derive(Clone)]
pub struct Workflow(Arc<Parts>);

pub struct Parts {
    pub store: Arc<dyn Store>,
    pub keys: MasterKey,
    /// Shared with the sandbox provider: one read of each merchant per instance.
    pub merchants: Arc<MerchantCache>,
    pub hub: Hub,
    pub risk: Arc<dyn RiskEngine>,
    pub provider: Arc<dyn Provider>,
    pub clock: Clock,
    /// This instance delivers what it submits at once (it runs the outbox dispatcher).
    delivers: bool,
    /// Submissions being handed to the provider at once.
    deliveries: Semaphore,
    surge: surge::Surge,
    /// What one call to the provider costs, when `[pricing]` says.
    provider_price: std::sync::OnceLock<crate::domain::Charge>,
}

impl std::ops::Deref for Workflow {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

impl Workflow {
    pub fn new(
        store: Arc<dyn Store>,
        keys: MasterKey,
        merchants: Arc<MerchantCache>,
        risk: Arc<dyn RiskEngine>,
        provider: Arc<dyn Provider>,
        clock: Clock,
        delivers: bool,
    ) -> Self {
        Workflow(Arc::new(Parts {
            store,
            keys,
            merchants,
            hub: Hub::default(),
            risk,
            provider,
            clock,
            delivers,
            deliveries: Semaphore::new(outbox::IN_FLIGHT),
            surge: surge::Surge::default(),
            provider_price: std::sync::OnceLock::new(),
        }))
    }

    /// Sets what one call to the provider costs; the first price set stays.
    pub fn price_provider_calls(&self, price: Option<crate::domain::Charge>) {
        if let Some(price) = price {
            let _ = self.provider_price.set(price);
        }
    }

    /// What one call to the provider costs, when priced.
    pub fn provider_call_price(&self) -> Option<crate::domain::Charge> {
        self.provider_price.get().copied()
    }
}

#[cfg(test)]
mod tests;
