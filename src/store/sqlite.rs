//! The SQLite store: the zero-setup embedded default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx_core::migrate::Migrator;

/// Connections that may read at once; writes have one connection of their own.
const READERS: u32 = 8;

pub struct SqliteStore {
    /// The one writing connection: writers queue for it here instead of sleeping in
    /// SQLite's busy handler when they find the database locked.
    pool: SqlitePool,
    /// Connections for the hot reads; WAL lets them run beside the writer.
    reads: SqlitePool,
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
            .min_connections(1)
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reads = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool, reads })
    }

    fn reads(&self) -> &SqlitePool {
        &self.reads
    }

    /// Nothing is announced from an embedded database.
    fn origin(&self) -> &str {
        ""
    }

    fn migrator() -> &'static Migrator {
        super::migrations::sqlite()
    }

    /// Takes the write lock up front, so a transaction that reads first cannot fail to
    /// upgrade its lock later.
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
