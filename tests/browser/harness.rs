//! The pieces every browser test needs: the real server on port 0 with the demo merchant, a
//! chromedriver of its own on a free port, a headless Chromium with a fresh profile, and a
//! page handle whose waits poll the browser instead of sleeping.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use countersign::Config;
use countersign::app::AppState;
use countersign::domain::SessionId;
use countersign::secrets::{MasterKey, Secret};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use futures_util::FutureExt;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// Longest a test waits for something the page or the server owes it.
pub const PATIENCE: Duration = Duration::from_secs(20);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(100);
/// Longest chromedriver may take to report itself ready.
const DRIVER_START: Duration = Duration::from_secs(30);

pub const PHONE: (u32, u32) = (375, 800);
pub const DESKTOP: (u32, u32) = (1280, 900);
/// Chromium opens no window narrower than this; narrower sizes are emulated.
const DESKTOP_MIN_WIDTH: u32 = 500;

/// A running server on a fresh embedded database.
pub struct Server {
    pub base: String,
    pub state: AppState,
    /// The demo merchant's API key, when the demo was seeded.
    pub demo_key: Option<String>,
    pub http: reqwest::Client,
    _dir: TempDir,
    _model: Option<countersign_scripted::ScriptedModel>,
}

impl Server {
    /// The server with the demo merchant, its shopper, orders and contacts.
    pub async fn with_demo() -> Server {
        Server::start(true, None).await
    }

    /// The demo, understood by the load generator's scripted model on loopback: it reads
    /// every message as a full refund of the order number in it, and streams its
    /// rewordings in two pieces. Its endpoint is priced, in CNY.
    pub async fn with_demo_and_model() -> Server {
        let model = countersign_load::model::start().await;
        Server::start(true, Some(model)).await
    }

    /// The server without any merchant: the demo endpoint answers 404.
    pub async fn without_demo() -> Server {
        Server::start(false, None).await
    }

    async fn start(seed: bool, model: Option<countersign_scripted::ScriptedModel>) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let llm = model.as_ref().map(|m| {
            let endpoint = json!({
                "name": "scripted", "base_url": m.url(), "model": "scripted",
                "price_input_per_1k_tokens": "0.0008", "price_output_per_1k_tokens": "0.002",
                "price_currency": "CNY",
            });
            countersign::understanding::llm::LlmConfig {
                endpoints: vec![serde_json::from_value(endpoint).expect("an endpoint")],
                ..Default::default()
            }
        });
        let config = Config {
            llm,
            listen: "127.0.0.1:0".parse().unwrap(),
            database_url: format!("sqlite://{}", dir.path().join("e2e.db").display()),
            master_key: Some(Secret::new(MasterKey::generate().to_text())),
            master_key_file: dir.path().join("unused.key"),
            sweep_interval_ms: 100,
            sandbox: countersign::payments::sandbox::SandboxConfig {
                delay_ms: 50,
                ..Default::default()
            },
            ..Config::default()
        };
        let app = countersign::build(config).await.expect("build the server");
        let base = format!("http://{}", app.addr());
        let state = app.state().clone();
        let demo_key = match seed {
            true => countersign::seed::demo(state.store.as_ref(), &state.keys)
                .await
                .expect("seed the demo merchant")
                .map(|c| c.expose().api_key.clone()),
            false => None,
        };
        tokio::spawn(app.run_until(std::future::pending()));
        Server {
            base,
            state,
            demo_key,
            http: countersign::http_client::client(),
            _dir: dir,
            _model: model,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn demo_key(&self) -> &str {
        self.demo_key
            .as_deref()
            .expect("the demo merchant was seeded")
    }

    /// Sends JSON with a bearer credential; answers the status and the JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(bearer);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// The session's stored state, straight from the store.
    pub async fn session_state(&self, id: &str) -> String {
        let id = SessionId::parse(id).expect("a session id");
        let session = self.state.store.session(id).await.expect("store");
        session.expect("the session exists").state.to_string()
    }

    /// The frames the server stored for a session, in seq order.
    pub async fn frames(&self, id: &str) -> Vec<Value> {
        let id = SessionId::parse(id).expect("a session id");
        let stored = self.state.store.frames_after(id, 0, 1000).await;
        stored
            .expect("store")
            .into_iter()
            .map(|f| {
                let mut frame = f.frame;
                frame["seq"] = json!(f.seq);
                frame
            })
            .collect()
    }

    /// The latest `payload.summary` the server signed for a session.
    pub async fn signed_summary(&self, id: &str) -> String {
        let frames = self.frames(id).await;
        let confirmation = frames
            .iter()
            .rev()
            .find(|f| f["type"] == "confirmation_required")
            .expect("a confirmation was issued");
        confirmation["payload"]["summary"]
            .as_str()
            .expect("a summary")
            .to_owned()
    }

    /// Polls the store until the session reaches `state`.
    pub async fn until_state(&self, id: &str, state: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            let now = self.session_state(id).await;
            if now == state {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "session {id} is {now}, not {state}, after {patience:?}"
            );
            tokio::time::sleep(POLL).await;
        }
    }
}

// ---- the browser ----------------------------------------------------------------------------

/// The first of `candidates` that exists, else the first name found on PATH.
fn locate(candidates: &[&str], names: &[&str]) -> Option<PathBuf> {
    let fixed = candidates.iter().map(PathBuf::from).find(|p| p.is_file());
    fixed.or_else(|| {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    })
}

fn chromedriver() -> PathBuf {
    locate(&["/usr/bin/chromedriver"], &["chromedriver"]).unwrap_or_else(|| {
        panic!(
            "chromedriver was not found: install Debian's `chromium-driver` package \
             (apt-get install -y chromium chromium-driver)"
        )
    })
}

fn chromium() -> PathBuf {
    // The real binary, not Debian's wrapper script, when it is where Debian puts it.
    locate(
        &["/usr/lib/chromium/chromium", "/usr/bin/chromium"],
        &["chromium"],
    )
    .unwrap_or_else(|| {
        panic!(
            "Chromium was not found: install Debian's `chromium` package \
             (apt-get install -y chromium chromium-driver)"
        )
    })
}

/// A port nobody is listening on right now.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A chromedriver of this test's own, stopped when dropped.
struct Driver {
    url: String,
    _child: Child,
}

impl Driver {
    async fn start(log: &Path) -> anyhow::Result<Driver> {
        let binary = chromedriver();
        let port = free_port();
        let mut child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let url = format!("http://127.0.0.1:{port}");
        let http = countersign::http_client::client();
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = child.try_wait()? {
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("chromedriver exited ({status}) before it was ready:\n{log}");
            }
            let ready = http
                .get(format!("{url}/status"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if let Ok(response) = ready {
                let status: Value = response.json().await.unwrap_or(Value::Null);
                if status["value"]["ready"] == true {
                    return Ok(Driver { url, _child: child });
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver on port {port} was not ready within {DRIVER_START:?}");
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// Where screenshots go: target/e2e-screenshots beside the test binary's target directory.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // <target>/debug/deps/browser-… → <target>
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("e2e-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// A browser tab on the server: waits poll the page until the condition holds or PATIENCE
/// runs out.
#[derive(Clone)]
pub struct Page {
    pub client: Client,
    pub base: String,
}

/// Runs `body` in a fresh headless Chromium of `size`; on failure (an error or a panic) saves
/// a screenshot as target/e2e-screenshots/`name`.png and fails the test with the cause.
pub async fn in_browser<F, Fut>(name: &str, server: &Server, size: (u32, u32), body: F)
where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    in_browser_speaking(name, server, size, "en-US", body).await
}

/// `in_browser` with the browser set to `language` (a BCP 47 tag such as "zh-CN"): its
/// `navigator.languages` and the `Accept-Language` of its requests.
pub async fn in_browser_speaking<F, Fut>(
    name: &str,
    server: &Server,
    size: (u32, u32),
    language: &str,
    body: F,
) where
    F: FnOnce(Page) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let profile = tempfile::tempdir().expect("temp dir");
    let driver = Driver::start(&profile.path().join("chromedriver.log"))
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    let user_data = profile.path().join("profile");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium(),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                format!("--lang={language}"),
                format!("--user-data-dir={}", user_data.display()),
                format!("--window-size={},{}", size.0, size.1),
            ],
            "prefs": {"intl.accept_languages": language},
        },
    });
    let Value::Object(mut caps) = caps else {
        unreachable!()
    };
    if size.0 < DESKTOP_MIN_WIDTH {
        // Desktop Chrome will not make a window this narrow: emulate a phone's viewport.
        caps["goog:chromeOptions"]["mobileEmulation"] = json!({
            "deviceMetrics": {"width": size.0, "height": size.1, "pixelRatio": 1.0, "touch": true, "mobile": true},
        });
    }
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap_or_else(|e| panic!("starting Chromium through chromedriver: {e}"));
    let page = Page {
        client: client.clone(),
        base: server.base.clone(),
    };
    let outcome = AssertUnwindSafe(body(page.clone())).catch_unwind().await;
    let failure = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("{e:#}")),
        Err(panic) => Some(
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".into()),
        ),
    };
    if let Some(failure) = failure {
        let shot = page.save_screenshot(name).await;
        let _ = client.close().await;
        let shot = match shot {
            Ok(path) => format!("screenshot: {}", path.display()),
            Err(e) => format!("no screenshot: {e:#}"),
        };
        panic!("{name} failed: {failure}\n{shot}");
    }
    client.close().await.expect("close the browser");
    drop(driver);
}

impl Page {
    pub async fn goto(&self, path: &str) -> anyhow::Result<()> {
        let url = format!("{}{path}", self.base);
        self.client
            .goto(&url)
            .await
            .with_context(|| format!("opening {url}"))
    }

    pub async fn save_screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let png = self.client.screenshot().await?;
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Polls `check` until it answers `Some`, failing with `what` after PATIENCE.
    pub async fn until<T, F, Fut>(
        &self,
        what: &str,
        patience: Duration,
        mut check: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(found) = check().await? {
                return Ok(found);
            }
            if Instant::now() > deadline {
                bail!("waited {patience:?} for {what}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The first element matching `css`, once there is one.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        self.client
            .wait()
            .at_most(PATIENCE)
            .every(POLL)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("waiting for `{css}`"))
    }

    /// Waits until an element matching `css` exists and is enabled, then clicks it.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let element = self
            .until(&format!("`{css}` to be enabled"), PATIENCE, || async {
                let element = self.find(css).await?;
                Ok(element.is_enabled().await?.then_some(element))
            })
            .await?;
        element
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Types into the field matching `css` (a trailing "\u{E007}" presses Enter).
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self
            .until(&format!("`{css}` to be enabled"), PATIENCE, || async {
                let element = self.find(css).await?;
                Ok(element.is_enabled().await?.then_some(element))
            })
            .await?;
        field
            .send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    /// Runs a script in the page and answers its return value.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// The exact `textContent` of every element matching `css`, in document order.
    pub async fn texts(&self, css: &str) -> anyhow::Result<Vec<String>> {
        let found = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)",
                vec![json!(css)],
            )
            .await?;
        let texts = found
            .as_array()
            .ok_or_else(|| anyhow!("not a list: {found}"))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect();
        Ok(texts)
    }

    /// The exact `textContent` of the first element matching `css`, once there is one.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        self.find(css).await?;
        Ok(self
            .texts(css)
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// Waits until the page has `n` elements matching `css`.
    pub async fn until_count(&self, css: &str, n: usize) -> anyhow::Result<()> {
        self.until(&format!("{n} × `{css}`"), PATIENCE, || async {
            Ok((self.texts(css).await?.len() == n).then_some(()))
        })
        .await
    }

    /// Waits until no element matches `css`.
    pub async fn until_gone(&self, css: &str) -> anyhow::Result<()> {
        self.until_count(css, 0).await
    }

    /// The session id the page is working on.
    pub async fn session_id(&self) -> anyhow::Result<String> {
        self.until("the page to open a session", PATIENCE, || async {
            let id = self
                .js("return document.body.dataset.session || null", vec![])
                .await?;
            Ok(id.as_str().map(str::to_owned))
        })
        .await
    }

    /// Whether the page scrolls sideways (it must not, at any width).
    pub async fn overflows_sideways(&self) -> anyhow::Result<bool> {
        let wider = self
            .js(
                "return document.documentElement.scrollWidth > window.innerWidth",
                vec![],
            )
            .await?;
        Ok(wider == true)
    }
}
