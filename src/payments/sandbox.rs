//! The built-in sandbox provider: it accepts a submission (once per idempotency key, however
//! often it is asked), then POSTs a signed settlement webhook to this service after a delay,
//! so the whole loop runs on one machine. It keeps its books in the database, so a webhook
//! it owes survives a restart.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::TimeDelta;
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::Notify;

use super::webhook::{self, Notification};
use super::{Provider, ProviderError};
use crate::clock::Clock;
use crate::merchants::WEBHOOK_SECRET_CONTEXT;
use crate::merchants::cache::MerchantCache;
use crate::secrets::MasterKey;
use crate::store::{SandboxPayment, Store, Submission};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SandboxConfig {
    /// How long after accepting a payment the webhook is sent.
    pub delay_ms: u64,
    /// Amounts whose minor units end in these digits fail (e.g. "99": 12.99 fails).
    pub fail_ending: Option<String>,
    /// Where to POST webhooks; this service's own endpoint by default.
    pub webhook_url: Option<String>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            delay_ms: 200,
            fail_ending: Some("99".into()),
            webhook_url: None,
        }
    }
}

/// Webhooks read per round, and sent at once.
const BATCH: i64 = 200;
const IN_FLIGHT: usize = 32;

pub struct Sandbox {
    store: Arc<dyn Store>,
    keys: MasterKey,
    config: SandboxConfig,
    webhook_url: String,
    http: reqwest::Client,
    wake: Notify,
    clock: Clock,
    /// Merchants never change, so each is read once for its webhook secret.
    merchants: Arc<MerchantCache>,
}

impl Sandbox {
    pub fn new(
        store: Arc<dyn Store>,
        keys: MasterKey,
        merchants: Arc<MerchantCache>,
        config: SandboxConfig,
        public_url: &str,
        clock: Clock,
    ) -> Self {
        let webhook_url = config
            .webhook_url
            .clone()
            .unwrap_or_else(|| format!("{public_url}/v1/webhooks/settlement"));
        let http = crate::http_client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .expect("http client");
        Sandbox {
            store,
            keys,
            config,
            webhook_url,
            http,
            wake: Notify::new(),
            clock,
            merchants,
        }
    }

    fn succeeds(&self, s: &Submission) -> bool {
        let minor = s.amount.minor().to_string();
        !self
            .config
            .fail_ending
            .as_deref()
            .is_some_and(|end| !end.is_empty() && minor.ends_with(end))
    }

    /// Sends the webhooks that are due until the task is dropped.
    pub async fn deliver_forever(self: Arc<Self>) {
        let idle = Duration::from_millis(self.config.delay_ms.clamp(10, 1_000));
        loop {
            self.deliver_due().await;
            tokio::select! {
                _ = self.wake.notified() => tokio::time::sleep(Duration::from_millis(self.config.delay_ms)).await,
                _ = tokio::time::sleep(idle) => {}
            }
        }
    }

    /// Sends every webhook that is due, several at a time.
    async fn deliver_due(&self) {
        loop {
            let due = match self.store.sandbox_due(self.clock.now(), BATCH).await {
                Ok(due) => due,
                Err(e) => return tracing::warn!(error = %e, "sandbox could not read its books"),
            };
            let full = due.len() as i64 == BATCH;
            futures_util::stream::iter(due)
                .for_each_concurrent(IN_FLIGHT, |p| self.deliver(p))
                .await;
            if !full {
                return;
            }
        }
    }

    async fn deliver(&self, p: SandboxPayment) {
        let now = self.clock.now();
        let result = match self.post(&p).await {
            Ok(()) => self.store.sandbox_delivered(&p.idempotency_key, now).await,
            Err(e) => {
                tracing::warn!(
                    session_id = %p.session_id,
                    error = %e,
                    key = %p.idempotency_key,
                    "sandbox webhook not accepted; will resend"
                );
                self.store
                    .sandbox_postpone(&p.idempotency_key, now + TimeDelta::seconds(1))
                    .await
            }
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "sandbox could not update its books");
        }
    }

    async fn post(&self, p: &SandboxPayment) -> anyhow::Result<()> {
        let merchant = self
            .merchants
            .by_id(self.store.as_ref(), &p.merchant_id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("unknown merchant"))?;
        let secret = self
            .keys
            .open(WEBHOOK_SECRET_CONTEXT, &merchant.webhook_secret_sealed)?;
        let now = self.clock.now();
        let body = serde_json::to_vec(&notification(p, now.timestamp()))?;
        let header = webhook::sign(secret.expose(), now.timestamp(), &body);
        let response = self
            .http
            .post(&self.webhook_url)
            .header("content-type", "application/json")
            .header(webhook::HEADER, header)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "webhook answered {}",
            response.status()
        );
        Ok(())
    }
}

/// The notification for `p`, created at `created` (Unix seconds); its id is fixed per
/// payment, so a resend is a duplicate.
pub fn notification(p: &SandboxPayment, created: i64) -> Notification {
    let kind = if p.succeeds {
        webhook::SUCCEEDED
    } else {
        webhook::FAILED
    };
    Notification {
        id: format!("evt_{}", p.idempotency_key),
        kind: kind.into(),
        merchant_id: p.merchant_id.to_string(),
        session_id: p.session_id.to_string(),
        idempotency_key: p.idempotency_key.clone(),
        provider_reference: p.reference.clone(),
        amount: p.amount,
        failure_reason: (!p.succeeds).then(|| "declined by the sandbox's outcome rules".into()),
        created,
    }
}

#[async_trait]
impl Provider for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn submit(&self, s: &Submission) -> Result<String, ProviderError> {
        let payment = SandboxPayment {
            idempotency_key: s.idempotency_key.clone(),
            merchant_id: s.merchant_id.clone(),
            session_id: s.session_id,
            reference: format!(
                "sbx_{}",
                &s.idempotency_key[3.min(s.idempotency_key.len())..]
            ),
            amount: s.amount,
            succeeds: self.succeeds(s),
            requests: 1,
            deliver_at: self.clock.now() + TimeDelta::milliseconds(self.config.delay_ms as i64),
        };
        let stored = self
            .store
            .sandbox_accept(&payment)
            .await
            .map_err(|e| ProviderError::Retryable(e.to_string()))?;
        self.wake.notify_one();
        Ok(stored.reference)
    }
}
