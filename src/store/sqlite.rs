//! The SQLite store: the zero-setup embedded default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file `url` names.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// Nothing is announced from an embedded database.
    fn origin(&self) -> &str {
        ""
    }

    fn migrator() -> &'static Migrator {
        static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
        &MIGRATOR
    }

    /// Takes the write lock up front so concurrent writers queue on the busy timeout
    /// instead of failing when a read lock cannot be upgraded.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

super::sql::sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "sqlite",
    row_lock = "",
    notify = ""
);

/// One process owns an embedded database, so frames never come from elsewhere.
impl Notifications for SqliteStore {}
// SQLite has no row locks; BEGIN IMMEDIATE already makes each claim exclusive.
super::payments_sql::payments_sql!(SqliteStore, sqlx::Sqlite, skip_locked = "");
