//! The `[alipay]` configuration section, and its checked form.
//!
//! Each key is given either inline (`app_private_key`, `alipay_public_key`: PEM text, or
//! the bare base64 body Alipay's console shows) or as a file (`app_private_key_file`,
//! `alipay_public_key_file`), never both.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use reqwest::Url;

use super::sign::{AppSigner, PlatformVerifier};
use crate::secrets::Secret;

/// The open-platform gateway of Alipay's sandbox.
pub const SANDBOX_GATEWAY: &str = "https://openapi-sandbox.dl.alipaydev.com/gateway.do";
/// The production gateway.
pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";
/// Where notifications arrive, under this service's public URL.
pub const NOTIFY_PATH: &str = "/v1/webhooks/alipay";

const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// `[alipay]` as written; [`AlipayConfig::from_settings`] checks it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlipaySettings {
    /// The app's id on the open platform.
    pub app_id: Option<Text>,
    /// The app private key that signs requests.
    pub app_private_key: Option<Secret<String>>,
    pub app_private_key_file: Option<PathBuf>,
    /// Alipay's public key that signs responses and notifications.
    pub alipay_public_key: Option<String>,
    pub alipay_public_key_file: Option<PathBuf>,
    /// `sandbox`, `production` or a full URL.
    pub gateway: Option<String>,
    /// How long one gateway call may take.
    pub timeout_ms: Option<u64>,
    /// This service's `/v1/webhooks/alipay` as Alipay reaches it; defaults to the public URL's.
    pub notify_url: Option<String>,
}

/// A value read as text even when the environment makes it look like a number
/// (`COUNTERSIGN_ALIPAY__APP_ID=2021…`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Text {
    Text(String),
    Number(u64),
}

impl Text {
    fn into_string(self) -> String {
        match self {
            Text::Text(s) => s,
            Text::Number(n) => n.to_string(),
        }
    }
}

/// A complete, checked Alipay configuration.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    pub app_id: String,
    pub signer: AppSigner,
    pub verifier: PlatformVerifier,
    pub gateway: Url,
    pub timeout: Duration,
    pub notify_url: String,
}

impl AlipayConfig {
    /// Checks the section: every key present, keys readable, URLs well formed.
    pub fn from_settings(s: &AlipaySettings, public_url: &str) -> anyhow::Result<Self> {
        let app_id = s
            .app_id
            .clone()
            .map(Text::into_string)
            .map(|id| id.trim().to_owned())
            .filter(|id| !id.is_empty())
            .context("alipay.app_id is missing")?;
        if !app_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("alipay.app_id must be the app's numeric id");
        }
        let private = key_text(
            "app_private_key",
            s.app_private_key.as_ref().map(|k| k.expose().clone()),
            s.app_private_key_file.as_ref(),
        )?;
        let signer = AppSigner::from_pem(private.expose())
            .map_err(|e| anyhow::anyhow!("alipay.app_private_key: {e}"))?;
        let public = key_text(
            "alipay_public_key",
            s.alipay_public_key.clone(),
            s.alipay_public_key_file.as_ref(),
        )?;
        let verifier = PlatformVerifier::from_pem(public.expose())
            .map_err(|e| anyhow::anyhow!("alipay.alipay_public_key: {e}"))?;
        let gateway = gateway(s.gateway.as_deref())?;
        let notify_url = match &s.notify_url {
            Some(url) => url.trim().to_owned(),
            None => format!("{public_url}{NOTIFY_PATH}"),
        };
        let parsed = Url::parse(&notify_url)
            .with_context(|| format!("alipay.notify_url {notify_url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("alipay.notify_url must be an http(s) URL");
        }
        Ok(AlipayConfig {
            app_id,
            signer,
            verifier,
            gateway,
            timeout: Duration::from_millis(s.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS).max(1)),
            notify_url,
        })
    }
}

/// The key text given inline or read from its file; exactly one of the two.
fn key_text(
    name: &str,
    inline: Option<String>,
    file: Option<&PathBuf>,
) -> anyhow::Result<Secret<String>> {
    match (inline, file) {
        (Some(_), Some(_)) => bail!("alipay: give {name} or {name}_file, not both"),
        (Some(text), None) => Ok(Secret::new(text)),
        (None, Some(path)) => std::fs::read_to_string(path)
            .map(Secret::new)
            .with_context(|| format!("alipay.{name}_file: cannot read {}", path.display())),
        (None, None) => bail!("alipay.{name} (or alipay.{name}_file) is missing"),
    }
}

/// A preset name or a full URL. Plain http only reaches a loopback address.
fn gateway(value: Option<&str>) -> anyhow::Result<Url> {
    let value = value
        .map(str::trim)
        .context("alipay.gateway is missing: sandbox, production or a URL")?;
    let url = match value {
        "sandbox" => SANDBOX_GATEWAY,
        "production" => PRODUCTION_GATEWAY,
        other => other,
    };
    let parsed = Url::parse(url).with_context(|| {
        format!("alipay.gateway {url:?} is neither sandbox, production nor a URL")
    })?;
    let loopback = match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => bail!("alipay.gateway must be https (plain http only on a loopback address)"),
    }
}

#[cfg(test)]
mod tests;
