//! Several `countersign serve` processes on one database and master key, each on its own
//! fixed port so it can be SIGKILLed and started again where clients and the sandbox look
//! for it. Each instance's sandbox posts its webhooks to the next instance, never to itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use tokio::process::Child;

use super::server::{self, Merchant, ServerOptions};

/// Which instances are serving, shared with the clients that pick one to talk to.
pub struct Live {
    bases: Vec<String>,
    up: Vec<AtomicBool>,
}

impl Live {
    /// How many instances there are, up or down.
    pub fn count(&self) -> usize {
        self.bases.len()
    }

    pub fn base(&self, i: usize) -> &str {
        &self.bases[i % self.count()]
    }

    /// The first instance that is up, looking from `from` on round the ring.
    pub fn next_up(&self, from: usize) -> Option<usize> {
        (0..self.count())
            .map(|k| (from + k) % self.count())
            .find(|&i| self.up[i].load(Ordering::SeqCst))
    }

    fn set(&self, i: usize, up: bool) {
        self.up[i].store(up, Ordering::SeqCst);
    }
}

struct Node {
    config: PathBuf,
    log: PathBuf,
    env: Vec<(&'static str, String)>,
    child: Option<Child>,
}

pub struct Cluster {
    binary: PathBuf,
    nodes: Vec<Node>,
    pub live: Arc<Live>,
    /// The configurations, the shared key file and the logs, removed with the cluster.
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `count` instances one after another: the first creates the master key file
    /// the others share.
    pub async fn start(opts: &ServerOptions, count: usize, sweep_ms: u64) -> Result<Cluster> {
        anyhow::ensure!(count >= 2, "a cluster needs two instances or more");
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let ports = (0..count)
            .map(|_| server::free_port())
            .collect::<Result<Vec<_>>>()?;
        let bases: Vec<String> = ports
            .iter()
            .map(|p| format!("http://127.0.0.1:{p}"))
            .collect();
        let mut nodes = Vec::with_capacity(count);
        for (i, port) in ports.iter().enumerate() {
            let config = dir.path().join(format!("instance-{i}.toml"));
            std::fs::write(&config, server::config_text(opts, dir.path(), *port))?;
            let webhooks = format!("{}/v1/webhooks/settlement", bases[(i + 1) % count]);
            nodes.push(Node {
                config,
                log: dir.path().join(format!("instance-{i}.log")),
                env: vec![
                    ("COUNTERSIGN_SANDBOX__WEBHOOK_URL", webhooks),
                    ("COUNTERSIGN_SWEEP_INTERVAL_MS", sweep_ms.to_string()),
                ],
                child: None,
            });
        }
        let live = Arc::new(Live {
            up: bases.iter().map(|_| AtomicBool::new(false)).collect(),
            bases,
        });
        let mut cluster = Cluster {
            binary: opts.binary.clone(),
            nodes,
            live,
            _dir: dir,
        };
        for i in 0..count {
            cluster.restart(i).await?;
        }
        Ok(cluster)
    }

    /// A fresh merchant on the shared database.
    pub async fn create_merchant(&self) -> Result<Merchant> {
        server::create_merchant(&self.binary, &self.nodes[0].config).await
    }

    /// Marks instance `i` down, SIGKILLs it and reaps it.
    pub async fn kill(&mut self, i: usize) -> Result<()> {
        self.live.set(i, false);
        if let Some(mut child) = self.nodes[i].child.take() {
            child.start_kill().context("SIGKILL")?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts instance `i` on its port and marks it up once it says it is running.
    pub async fn restart(&mut self, i: usize) -> Result<()> {
        let node = &mut self.nodes[i];
        let child = server::spawn(&self.binary, &node.config, &node.log, &node.env)
            .await
            .with_context(|| format!("starting instance {i}"))?;
        node.child = Some(child);
        self.live.set(i, true);
        Ok(())
    }

    /// What instance `i` logged over all its lives.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.nodes[i].log).unwrap_or_default()
    }

    /// Fails if an instance exited that was not killed on purpose.
    pub fn check_alive(&mut self) -> Result<()> {
        for i in 0..self.nodes.len() {
            let exited = match &mut self.nodes[i].child {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                bail!("instance {i} exited ({status}):\n{}", self.log(i));
            }
        }
        Ok(())
    }
}
