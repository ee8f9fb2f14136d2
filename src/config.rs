//! Configuration: defaults, then an optional TOML file, then `COUNTERSIGN_*` environment
//! variables, then `DATABASE_URL`. Later sources win.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

use crate::secrets::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Which payment provider moves the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// The built-in sandbox: everything on one machine.
    #[default]
    Sandbox,
    /// Alipay's open platform (`[alipay]`).
    Alipay,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// `sqlite://PATH` (embedded) or `postgres://…`.
    pub database_url: String,
    /// Base URL clients use to reach this service; defaults to `http://{listen}`.
    pub public_url: Option<String>,
    /// 32 bytes, base64: seals stored secrets. Required when `master_key_file` is not used.
    pub master_key: Option<Secret<String>>,
    /// Where the master key is kept when `master_key` is not set; created on first start.
    pub master_key_file: PathBuf,
    pub log_format: LogFormat,
    /// Seed a `demo` merchant into an empty embedded database.
    pub seed_demo: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit_bytes: usize,
    /// How often expired confirmations are swept, in milliseconds.
    pub sweep_interval_ms: u64,
    /// Client frames allowed per session per second, and the burst above that.
    pub ws_frames_per_second: u32,
    pub ws_frame_burst: u32,
    /// Bounds on connections, requests and sockets.
    pub limits: Limits,
    /// Deliver the outbox from this instance (instances may share the work).
    pub run_dispatcher: bool,
    /// The payment provider: `sandbox` or `alipay`.
    pub provider: ProviderKind,
    /// The built-in sandbox provider.
    pub sandbox: crate::payments::sandbox::SandboxConfig,
    /// Alipay's open platform; required when `provider` is `alipay`.
    pub alipay: Option<crate::payments::alipay::api::config::AlipaySettings>,
    /// Language-model endpoints, tried in order; the offline extractor when absent.
    pub llm: Option<crate::understanding::llm::LlmConfig>,
    /// An optional remote risk scorer.
    pub risk_remote: Option<crate::risk::remote::RemoteConfig>,
    /// The MCP endpoint at `/mcp`.
    pub mcp: Mcp,
    /// What calls to the payment provider cost, for the cost of a flow.
    pub pricing: Pricing,
    /// The time decisions read: the wall clock, or a paused one in tests.
    #[serde(skip)]
    pub clock: crate::clock::Clock,
}

/// What calls outside the service cost, besides the model endpoints' own prices.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Pricing {
    /// One call to the payment provider (one submission attempt): decimal text, never a
    /// float.
    pub provider_call: Option<crate::domain::Price>,
    /// The price's currency, required with it.
    pub currency: Option<crate::domain::Currency>,
}

impl Pricing {
    /// What one provider call costs; `None` when no price is set.
    pub fn provider_call(&self) -> anyhow::Result<Option<crate::domain::Charge>> {
        let Some(price) = self.provider_call else {
            return Ok(None);
        };
        let Some(currency) = self.currency else {
            anyhow::bail!("pricing.currency is needed with pricing.provider_call");
        };
        let value = price
            .times(1)
            .ok_or_else(|| anyhow::anyhow!("pricing.provider_call is too large"))?;
        Ok(Some(crate::domain::Charge { value, currency }))
    }
}

/// What one instance holds open at once, and how long it waits for a slow peer. Every
/// refusal is a JSON error (HTTP) or a close frame with a reason (WebSocket).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// TCP connections open at once, sockets included; one more is answered 503 and closed.
    pub max_connections: usize,
    /// Requests being handled at once; one more is answered 503 with `Retry-After`.
    pub max_requests: usize,
    /// A request's line and headers must arrive within this (an idle keep-alive connection
    /// is closed after it too).
    pub header_timeout_ms: u64,
    /// A request, body included, must be answered within this, or it gets 408.
    pub request_timeout_ms: u64,
    /// WebSockets open at once; one more is answered 503.
    pub max_sockets: usize,
    /// WebSockets on one session; a newer one closes the oldest (code 4001).
    pub sockets_per_session: usize,
    /// A WebSocket frame, once its first byte arrived, must be complete within this.
    pub frame_timeout_ms: u64,
    /// A WebSocket silent this long is pinged; one that does not answer within
    /// `pong_timeout_ms` is closed.
    pub idle_timeout_ms: u64,
    pub pong_timeout_ms: u64,
    /// A frame the client does not take within this closes its socket.
    pub write_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 20_000,
            max_requests: 1_024,
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_sockets: 16_000,
            sockets_per_session: 4,
            frame_timeout_ms: 10_000,
            idle_timeout_ms: 60_000,
            pong_timeout_ms: 15_000,
            write_timeout_ms: 15_000,
        }
    }
}

impl Limits {
    pub fn ms(value: u64) -> std::time::Duration {
        std::time::Duration::from_millis(value.max(1))
    }
}

/// What agents reaching `/mcp` may do.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mcp {
    /// Proposals one shopper may have waiting for their countersignature at once.
    pub max_open_proposals: i64,
    /// How long a countersign link shows its session (the confirmation itself expires
    /// with the policy's TTL), in seconds.
    pub link_ttl_seconds: i64,
    /// `Host` values `/mcp` answers besides loopback and the public URL's host.
    pub allowed_hosts: Vec<String>,
}

impl Default for Mcp {
    fn default() -> Self {
        Mcp {
            max_open_proposals: 3,
            link_ttl_seconds: 86_400,
            allowed_hosts: Vec::new(),
        }
    }
}

/// The directory of the running binary: the embedded database and key file live there.
fn beside_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
        .join(name)
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: format!("sqlite://{}", beside_binary("countersign.db").display()),
            public_url: None,
            master_key: None,
            master_key_file: beside_binary("countersign.key"),
            log_format: LogFormat::Text,
            seed_demo: true,
            body_limit_bytes: 64 * 1024,
            sweep_interval_ms: 1000,
            ws_frames_per_second: 5,
            ws_frame_burst: 20,
            limits: Limits::default(),
            run_dispatcher: true,
            provider: ProviderKind::Sandbox,
            sandbox: Default::default(),
            alipay: None,
            risk_remote: None,
            pricing: Pricing::default(),
            llm: None,
            mcp: Mcp::default(),
            clock: crate::clock::Clock::system(),
        }
    }
}

impl Config {
    /// Loads the layered configuration; `file` is read when given and present.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::new();
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment
            .merge(Env::prefixed("COUNTERSIGN_").split("__"))
            .merge(Env::raw().only(&["DATABASE_URL"]))
            .extract()
            .map_err(Box::new)
    }

    /// Whether the embedded database is in use.
    pub fn is_embedded(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }

    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }
}

/// What `--help` says about configuration.
pub const HELP: &str = "\
Configuration (later sources win):
  defaults  <  --config FILE (TOML)  <  COUNTERSIGN_* environment  <  DATABASE_URL

  COUNTERSIGN_LISTEN            address to listen on                [127.0.0.1:8080]
  DATABASE_URL                  sqlite://PATH or postgres://USER@HOST/DB
                                (also COUNTERSIGN_DATABASE_URL)     [sqlite file beside the binary]
  COUNTERSIGN_PUBLIC_URL        base URL clients reach this service at [http://LISTEN]
  COUNTERSIGN_MASTER_KEY        32 bytes, base64: seals stored secrets; set it in production
  COUNTERSIGN_MASTER_KEY_FILE   used when no master key is set; created on first start
                                                                    [countersign.key beside the binary]
  COUNTERSIGN_LOG_FORMAT        text or json                        [text]
  COUNTERSIGN_SEED_DEMO         seed a `demo` merchant into an empty embedded database [true]
  COUNTERSIGN_BODY_LIMIT_BYTES  largest request body                [65536]
  COUNTERSIGN_SWEEP_INTERVAL_MS how often expired confirmations are swept [1000]
  COUNTERSIGN_WS_FRAMES_PER_SECOND, COUNTERSIGN_WS_FRAME_BURST
                                client frames per session per second, and burst [5, 20]
  COUNTERSIGN_LIMITS__<KEY>     connection, request and socket bounds (README, Limits):
                                max_connections [20000], max_requests [1024],
                                header_timeout_ms [10000], request_timeout_ms [30000],
                                max_sockets [16000], sockets_per_session [4],
                                frame_timeout_ms [10000], idle_timeout_ms [60000],
                                pong_timeout_ms [15000], write_timeout_ms [15000]
  COUNTERSIGN_RUN_DISPATCHER    deliver the payment outbox from this instance [true]
  COUNTERSIGN_PROVIDER          the payment provider: sandbox or alipay [sandbox]
  COUNTERSIGN_SANDBOX__DELAY_MS the sandbox provider's settlement delay [200]
  COUNTERSIGN_SANDBOX__FAIL_ENDING amounts whose minor units end so fail in the sandbox [99]
  COUNTERSIGN_MCP__MAX_OPEN_PROPOSALS proposals one shopper may have waiting at once [3]
  COUNTERSIGN_MCP__LINK_TTL_SECONDS how long a countersign link shows its session [86400]
  COUNTERSIGN_MCP__ALLOWED_HOSTS Host values /mcp answers besides loopback and PUBLIC_URL's host
  COUNTERSIGN_RISK_REMOTE__URL, COUNTERSIGN_RISK_REMOTE__TIMEOUT_MS
                                an optional remote risk scorer (JSON in, {score, codes} out) [none, 800]
  COUNTERSIGN_PRICING__PROVIDER_CALL, COUNTERSIGN_PRICING__CURRENCY
                                what one payment-provider call costs, as quoted text
                                (e.g. '\"0.10\"'), and its currency [none]

Alipay (provider = \"alipay\") is configured in [alipay], or as COUNTERSIGN_ALIPAY__<KEY>:
  app_id                        the app's id on the open platform (required)
  app_private_key_file          the app private key, PEM (PKCS#1 or PKCS#8) or bare base64;
    or app_private_key          the same text inline. One of the two is required.
  alipay_public_key_file        Alipay's public key for the app, PEM or bare base64;
    or alipay_public_key        the same text inline. One of the two is required.
  gateway                       sandbox, production or a full https URL (required)
                                  sandbox    = https://openapi-sandbox.dl.alipaydev.com/gateway.do
                                  production = https://openapi.alipay.com/gateway.do
  timeout_ms                    how long one gateway call may take  [10000]
  notify_url                    where Alipay posts notifications    [PUBLIC_URL/v1/webhooks/alipay]
A missing or unreadable key stops the start with a message naming it; keys are never logged.

Language models (any OpenAI-compatible API) are configured in the TOML file:
  [llm]
  failure_threshold = 3          # failures in a row that open an endpoint's circuit
  open_seconds = 30
  structured_output = \"json_schema\"   # or \"json_object\"
  [[llm.endpoints]]
  name = \"qwen\"
  base_url = \"https://dashscope.aliyuncs.com/compatible-mode/v1\"
  model = \"qwen-plus\"
  api_key = \"...\"
  timeout_ms = 10000
  price_input_per_1k_tokens = \"0.0008\"   # decimal text, never a float
  price_output_per_1k_tokens = \"0.002\"
  price_currency = \"CNY\"
  [llm.drift]
  window = 200                   # answered calls per endpoint in the rolling window
  on_alarm = \"serve\"             # or \"skip\": failover passes over an alarmed endpoint
With none configured, the offline rule-based extractor understands messages.

Nested keys use a double underscore in the environment and tables in the TOML file.
  RUST_LOG                      log filter                          [info]

The same keys, lower-case without the prefix, may appear in the TOML file.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_call_price_needs_its_currency() {
        let priced = |toml: &str| {
            let config: Config = Figment::from(Toml::string(toml)).extract().unwrap();
            config.pricing.provider_call()
        };
        assert!(priced("").unwrap().is_none());
        let charge = priced("[pricing]\nprovider_call = \"0.10\"\ncurrency = \"CNY\"").unwrap();
        assert_eq!(charge.unwrap().value.to_string(), "0.1");
        let why = priced("[pricing]\nprovider_call = \"0.10\"").unwrap_err();
        assert!(
            why.to_string().contains("pricing.currency is needed"),
            "{why}"
        );
    }
}
