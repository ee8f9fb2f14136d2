//! Start-up: open the store, load the master key, bind the listener, assemble the router.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::{Config, ProviderKind};
use crate::dialogue::Dialogue;
use crate::http::sockets::Sockets;
use crate::http::ws::socket::FrameLimiter;
use crate::merchants::cache::MerchantCache;
use crate::payments::Provider;
use crate::payments::alipay::Alipay;
use crate::payments::alipay::api::config::AlipayConfig;
use crate::payments::sandbox::Sandbox;
use crate::risk::RiskEngine;
use crate::risk::remote::RemoteScorer;
use crate::risk::rules::LocalRules;
use crate::secrets::MasterKey;
use crate::store::{self, FrameFeed, Store};
use crate::understanding::audit::{self, CallRecorder, ModelCall, Spill};
use crate::understanding::llm::LlmUnderstanding;
use crate::understanding::llm::drift::Drift;
use crate::understanding::{Offline, Understanding};
use crate::workflow::Workflow;

/// Everything a request handler needs, cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub keys: MasterKey,
    pub config: Config,
    /// A session's life from consent to settlement.
    pub flow: Workflow,
    /// The conversation before consent.
    pub dialogue: Dialogue,
    pub limiter: FrameLimiter,
    /// The WebSockets open on this instance.
    pub sockets: Sockets,
    /// The built-in provider, whose webhook deliveries run beside the server.
    pub sandbox: Option<Arc<Sandbox>>,
    /// The Alipay provider, whose notifications arrive at `/v1/webhooks/alipay`.
    pub alipay: Option<Arc<Alipay>>,
    /// The model endpoints' drift, when a language model understands messages.
    pub drift: Option<Arc<Drift>>,
}

/// How messages are understood, and the endpoints' drift when a model understands them.
pub struct Reader {
    pub understanding: Arc<dyn Understanding>,
    pub drift: Option<Arc<Drift>>,
}

impl Reader {
    /// The built-in offline reader.
    pub fn offline() -> Self {
        Reader {
            understanding: Arc::new(Offline),
            drift: None,
        }
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Assembles the state; fails when the configured provider cannot be set up.
    pub fn new(
        store: Arc<dyn Store>,
        keys: MasterKey,
        config: Config,
        reader: Reader,
    ) -> anyhow::Result<Self> {
        crate::metrics::handle();
        let limiter = FrameLimiter::new(config.ws_frames_per_second, config.ws_frame_burst);
        let sockets = Sockets::new(config.limits.max_sockets, config.limits.sockets_per_session);
        let risk: Arc<dyn RiskEngine> = match &config.risk_remote {
            Some(remote) => Arc::new(RemoteScorer::new(remote)),
            None => Arc::new(LocalRules),
        };
        let merchants = Arc::new(MerchantCache::new(config.clock.clone()));
        let providers = Providers::for_config(&config, &store, &keys, &merchants)?;
        let flow = Workflow::new(
            store.clone(),
            keys.clone(),
            merchants,
            risk,
            providers.provider,
            config.clock.clone(),
            config.run_dispatcher,
        );
        flow.price_provider_calls(config.pricing.provider_call()?);
        let dialogue = Dialogue {
            flow: flow.clone(),
            understanding: reader.understanding,
        };
        Ok(AppState(Arc::new(Inner {
            store,
            keys,
            config,
            flow,
            dialogue,
            limiter,
            sockets,
            sandbox: providers.sandbox,
            alipay: providers.alipay,
            drift: reader.drift,
        })))
    }
}

/// The provider the configuration selects; only that one is built.
struct Providers {
    provider: Arc<dyn Provider>,
    sandbox: Option<Arc<Sandbox>>,
    alipay: Option<Arc<Alipay>>,
}

impl Providers {
    fn for_config(
        config: &Config,
        store: &Arc<dyn Store>,
        keys: &MasterKey,
        merchants: &Arc<MerchantCache>,
    ) -> anyhow::Result<Self> {
        let public_url = config.public_url();
        match config.provider {
            ProviderKind::Sandbox => {
                let sandbox = Arc::new(Sandbox::new(
                    store.clone(),
                    keys.clone(),
                    merchants.clone(),
                    config.sandbox.clone(),
                    &public_url,
                    config.clock.clone(),
                ));
                Ok(Providers {
                    provider: sandbox.clone(),
                    sandbox: Some(sandbox),
                    alipay: None,
                })
            }
            ProviderKind::Alipay => {
                let settings = config.alipay.clone().unwrap_or_default();
                let alipay_config = AlipayConfig::from_settings(&settings, &public_url)
                    .context("provider = \"alipay\": the [alipay] section is not usable")?;
                if settings.notify_url.is_none() && config.public_url.is_none() {
                    tracing::warn!(notify_url = %alipay_config.notify_url,
                        "Alipay cannot reach this default notify URL; set COUNTERSIGN_PUBLIC_URL or alipay.notify_url");
                }
                let alipay = Arc::new(Alipay::new(alipay_config, store.clone())?);
                Ok(Providers {
                    provider: alipay.clone(),
                    sandbox: None,
                    alipay: Some(alipay),
                })
            }
        }
    }
}

/// A bound, ready server. `build` binds; `run` serves.
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// Other instances' frames, heard from `build` on (none on the embedded database).
    feed: Option<FrameFeed>,
}

/// Opens and migrates the store, starts listening for other instances' frames, loads the
/// master key and binds `config.listen` (port 0 picks a free port; see `App::addr`).
pub async fn build(mut config: Config) -> anyhow::Result<App> {
    let store = store::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let feed = store
        .frame_feed()
        .await
        .context("listening for other instances' frames")?;
    let keys = load_master_key(&config)?;
    crate::evidence::keys::ensure(store.as_ref(), &keys)
        .await
        .context("making the first evidence signing key")?;
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    config.listen = listener.local_addr()?;
    let reader = understanding_for(&config, &store)?;
    Ok(App {
        listener,
        state: AppState::new(store, keys, config, reader)?,
        feed,
    })
}

/// The offline extractor unless a language model is configured.
pub fn understanding_for(config: &Config, store: &Arc<dyn Store>) -> anyhow::Result<Reader> {
    // The drift gauges are set from the start: the recorder must be there to hear them.
    crate::metrics::handle();
    let Some(llm) = &config.llm else {
        return Ok(Reader::offline());
    };
    let recorder = Arc::new(StoreRecorder::start(store.clone()));
    let model =
        LlmUnderstanding::new(llm.clone(), recorder).context("language model configuration")?;
    Ok(Reader {
        drift: Some(model.drift()),
        understanding: Arc::new(model),
    })
}

/// Keeps every model call in the store's audit table: a call made during a turn is stored
/// by the write its answer led to (`audit::holding`); any other, and any a turn left
/// unstored, by a background writer.
struct StoreRecorder {
    spill: Spill,
}

impl StoreRecorder {
    fn start(store: Arc<dyn Store>) -> Self {
        let (spill, mut calls) = tokio::sync::mpsc::unbounded_channel::<ModelCall>();
        tokio::spawn(async move {
            while let Some(call) = calls.recv().await {
                if let Err(e) = store.record_model_call(&call).await {
                    tracing::error!(error = %e, session_id = %call.session_id, "could not record a model call");
                }
            }
        });
        StoreRecorder { spill }
    }
}

#[async_trait::async_trait]
impl CallRecorder for StoreRecorder {
    async fn record(&self, call: ModelCall) {
        let (endpoint, outcome) = (call.endpoint.clone(), call.outcome.as_str());
        metrics::counter!(crate::metrics::MODEL_CALLS, "endpoint" => endpoint.clone(), "outcome" => outcome).increment(1);
        let seconds = call.latency_ms as f64 / 1000.0;
        metrics::histogram!(crate::metrics::MODEL_CALL_SECONDS, "endpoint" => endpoint.clone(), "outcome" => outcome)
            .record(seconds);
        if let (Some(value), Some(currency)) = (call.cost, call.cost_currency) {
            let charge = crate::domain::Charge { value, currency };
            crate::metrics::add_cost(crate::metrics::MODEL_COST, ("endpoint", &endpoint), charge);
        }
        if let Some(call) = audit::hold(call, &self.spill) {
            let _ = self.spill.send(call);
        }
    }
}

/// The configured key, else the key file (created with a fresh key on first start).
pub fn load_master_key(config: &Config) -> anyhow::Result<MasterKey> {
    if let Some(text) = &config.master_key {
        return Ok(MasterKey::from_text(text.expose())?);
    }
    let path = &config.master_key_file;
    match std::fs::read_to_string(path) {
        Ok(text) => {
            MasterKey::from_text(&text).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = MasterKey::generate();
            write_private(path, &key.to_text())
                .with_context(|| format!("creating {}", path.display()))?;
            tracing::warn!(path = %path.display(), "created a new master key file; set COUNTERSIGN_MASTER_KEY in production");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a file only its owner can read, failing if it already exists.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

impl App {
    pub fn addr(&self) -> SocketAddr {
        self.state.config.listen
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let router = crate::http::router(self.state.clone());
        let every = std::time::Duration::from_millis(self.state.config.sweep_interval_ms.max(10));
        let flow = self.state.flow.clone();
        let mut workers = vec![
            tokio::spawn(crate::workflow::sweeper::run(flow.clone(), every)),
            tokio::spawn(forget_quiet_sessions(self.state.clone(), every)),
        ];
        if let Some(feed) = self.feed {
            workers.push(tokio::spawn(crate::workflow::relay::run(
                flow.clone(),
                feed,
            )));
        }
        if self.state.config.run_dispatcher {
            workers.push(tokio::spawn(crate::workflow::outbox::run(flow, every)));
        }
        if let Some(sandbox) = &self.state.sandbox {
            workers.push(tokio::spawn(sandbox.clone().deliver_forever()));
        }
        let limits = self.state.config.limits.clone();
        let served = crate::http::server::serve(self.listener, router, &limits, shutdown).await;
        workers.iter().for_each(|w| w.abort());
        served
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }
}

/// Lets the frame limiter forget sessions that have been quiet long enough.
async fn forget_quiet_sessions(app: AppState, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        app.limiter.forget_idle();
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
