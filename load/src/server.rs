//! The service under load: `countersign serve` started as a child process with its own
//! configuration, database (a fresh SQLite file unless a URL is given) and merchant.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How the child server is configured.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The `countersign` binary.
    pub binary: PathBuf,
    /// `postgres://…` or `sqlite://…`; a fresh SQLite file when absent.
    pub database_url: Option<String>,
    /// An OpenAI-compatible base URL (`…/v1`); the offline extractor when absent.
    pub model_url: Option<String>,
    /// The sandbox's settlement delay; a long one keeps it from settling anything.
    pub sandbox_delay_ms: u64,
    /// What model and provider calls cost, when the run reports cost.
    pub prices: Option<crate::cost::Prices>,
}

/// The merchant the load runs as, created fresh for every run.
#[derive(Debug, Clone, Deserialize)]
pub struct Merchant {
    pub merchant_id: String,
    pub api_key: String,
    pub webhook_secret: String,
}

pub struct Server {
    child: Child,
    dir: tempfile::TempDir,
    pub base: String,
    pub backend: &'static str,
    pub merchant: Merchant,
}

/// The `countersign` binary beside the running one.
pub fn sibling_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("countersign")))
        .unwrap_or_else(|| PathBuf::from("countersign"))
}

pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// The configuration of a server on `port`, keeping its files (SQLite database, master key)
/// in `dir`.
pub(crate) fn config_text(opts: &ServerOptions, dir: &Path, port: u16) -> String {
    let database_url = opts
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("load.db").display()));
    let mut text = format!(
        "listen = \"127.0.0.1:{port}\"\n\
         database_url = \"{database_url}\"\n\
         master_key_file = \"{}\"\n\
         seed_demo = false\n\
         ws_frames_per_second = 10000\n\
         ws_frame_burst = 10000\n\
         [sandbox]\n\
         delay_ms = {}\n\
         fail_ending = \"\"\n",
        dir.join("master.key").display(),
        opts.sandbox_delay_ms,
    );
    let priced = opts
        .prices
        .as_ref()
        .map(|p| format!(", {}", p.endpoint_keys()));
    if let Some(url) = &opts.model_url {
        let _ = write!(
            text,
            "[llm]\nendpoints = [{{ name = \"scripted\", base_url = \"{url}\", model = \"scripted\"{} }}]\n",
            priced.unwrap_or_default()
        );
    }
    if let Some(prices) = &opts.prices {
        text.push_str(&prices.section());
    }
    text
}

impl Server {
    pub async fn start(opts: &ServerOptions) -> Result<Server> {
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let port = free_port()?;
        let config = dir.path().join("countersign.toml");
        std::fs::write(&config, config_text(opts, dir.path(), port))?;
        let log = dir.path().join("server.log");
        let child = spawn(&opts.binary, &config, &log, &[]).await?;
        let merchant = create_merchant(&opts.binary, &config).await?;
        Ok(Server {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            backend: backend(opts),
            merchant,
        })
    }

    pub fn pid(&self) -> Result<u32> {
        self.child.id().context("the server has exited")
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS in /proc status")
    }

    /// How many sockets the server holds open, from /proc (database files are not counted:
    /// the SQLite pool opens its readers lazily).
    pub fn open_sockets(&self) -> Result<usize> {
        let pid = self.pid()?;
        let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).context("/proc fd")?;
        let sockets = dir
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("socket:"))
            .count();
        Ok(sockets)
    }

    /// What the server wrote to its log, for a failure report.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Fails if the server has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => bail!("the server exited ({status}):\n{}", self.log()),
        }
    }
}

/// `postgres` or `sqlite`, as the options select.
pub fn backend(opts: &ServerOptions) -> &'static str {
    match &opts.database_url {
        Some(url) if url.starts_with("postgres") => "postgres",
        _ => "sqlite",
    }
}

/// Starts `serve` with `config` and `env`, its log appended to `log`, and waits until it
/// says it is running.
pub async fn spawn(
    binary: &Path,
    config: &Path,
    log: &Path,
    env: &[(&str, String)],
) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("the server's output")?;
    let ready = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await? {
            if line.starts_with("Countersign is running") {
                return Ok(());
            }
        }
        Err(anyhow!("the server exited before it was ready"))
    };
    tokio::time::timeout(Duration::from_secs(60), ready)
        .await
        .map_err(|_| anyhow!("the server was not ready within a minute"))??;
    Ok(child)
}

/// Creates a fresh merchant through `merchant create` and returns its credentials.
pub async fn create_merchant(binary: &Path, config: &Path) -> Result<Merchant> {
    let id = format!("load-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let out = Command::new(binary)
        .arg("--config")
        .arg(config)
        .args(["merchant", "create", "--id", &id])
        .env("RUST_LOG", "warn")
        .env_remove("DATABASE_URL")
        .output()
        .await
        .context("running merchant create")?;
    if !out.status.success() {
        bail!(
            "merchant create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    serde_json::from_slice(&out.stdout).context("merchant create printed no credentials")
}
