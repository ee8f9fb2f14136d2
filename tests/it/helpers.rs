//! Test scaffolding: fresh databases, a spawned server, merchants.

use std::sync::Arc;

use countersign::Config;
use countersign::app::AppState;
use countersign::domain::MerchantId;
use countersign::merchants::{self, Credentials};
use countersign::secrets::MasterKey;
use countersign::store::{self, Store};
use serde_json::Value;
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    #[allow(dead_code)]
    Postgres,
}

/// Generates `sqlite::NAME` and, when built with Postgres, `postgres::NAME` for each test
/// function `NAME(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        #[cfg(pg_tests)]
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A fresh, empty database. SQLite: a file in a temporary directory. Postgres: a new
/// schema in the database COUNTERSIGN_TEST_POSTGRES names.
pub struct TestDb {
    pub url: String,
    pub dir: TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}", dir.path().join("test.db").display()),
            Backend::Postgres => postgres_schema().await,
        };
        TestDb { url, dir }
    }

    pub async fn store(&self) -> Arc<dyn Store> {
        store::connect(&self.url).await.expect("store")
    }
}

async fn postgres_schema() -> String {
    use sqlx::Connection;
    let base = std::env::var("COUNTERSIGN_TEST_POSTGRES").expect("COUNTERSIGN_TEST_POSTGRES");
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .expect("connect to COUNTERSIGN_TEST_POSTGRES");
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .expect("create schema");
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}options=-c%20search_path%3D{schema}")
}

/// A running server on a fresh database.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub state: AppState,
    pub db: TestDb,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// A running server whose configuration `adjust` may change first.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let db = TestDb::new(backend).await;
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone(),
        master_key: Some(countersign::secrets::Secret::new(
            MasterKey::generate().to_text(),
        )),
        master_key_file: db.dir.path().join("unused.key"),
        body_limit_bytes: 16 * 1024,
        sweep_interval_ms: 100,
        ..Config::default()
    };
    adjust(&mut config);
    let app = countersign::build(config).await.expect("build");
    let base = format!("http://{}", app.addr());
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        base,
        http: countersign::http_client::client(),
        state,
        db,
    }
}

/// A second instance on the same database and master key, as in a multi-instance deployment.
#[allow(dead_code)]
pub async fn spawn_peer(first: &TestApp, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = first.state.config.clone();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.public_url = None;
    config.master_key = Some(countersign::secrets::Secret::new(
        first.state.keys.to_text(),
    ));
    adjust(&mut config);
    let app = countersign::build(config).await.expect("build");
    let base = format!("http://{}", app.addr());
    let state = app.state().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    let db = TestDb {
        url: first.db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    TestApp {
        base,
        http: countersign::http_client::client(),
        state,
        db,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Creates a merchant with `policy` (the default when `None`) and returns its credentials.
    pub async fn merchant(&self, id: &str, policy: Option<Value>) -> Credentials {
        let policy = merchants::validate_policy(policy.as_ref()).expect("policy");
        let id = MerchantId::parse(id).unwrap();
        let creds = merchants::create(self.state.store.as_ref(), &self.state.keys, id, policy)
            .await
            .expect("create merchant");
        let c = creds.expose();
        Credentials {
            merchant_id: c.merchant_id.clone(),
            api_key: c.api_key.clone(),
            webhook_secret: c.webhook_secret.clone(),
        }
    }

    /// Sends `body` as JSON with `key` as the bearer credential.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(key);
        if let Some(b) = body {
            req = req.json(b);
        }
        read(req.send().await.expect("request")).await
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, key, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, key: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, key, Some(body)).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, key, None).await
    }

    /// Rows in `table`, read straight from the database.
    pub async fn count(&self, table: &str) -> i64 {
        count_rows(&self.db.url, table).await
    }
}

pub async fn count_rows(url: &str, table: &str) -> i64 {
    use sqlx::Connection;
    let sql = format!("SELECT COUNT(*) FROM {table}");
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(&sql).fetch_one(&mut c).await.unwrap()
    }
}

/// Runs one statement against the test database, as an operator's psql would.
pub async fn execute(url: &str, sql: &str) -> u64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&mut c)
            .await
            .unwrap()
            .rows_affected()
    }
}

/// Status and JSON body (`Value::Null` when the body is not JSON).
pub async fn read(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Asserts an error response: status, code, and that the message mentions `mentions`.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str, mentions: &str) {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{}", got.1);
    let message = got.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(mentions),
        "message {message:?} should mention {mentions:?}"
    );
}

/// A loopback risk scorer that never answers, standing in for a remote scorer that hangs.
pub async fn silent_scorer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/score", listener.local_addr().unwrap());
    let hang = axum::Router::new().route("/score", axum::routing::post(std::future::pending::<()>));
    tokio::spawn(async move { axum::serve(listener, hang).await });
    url
}
