//! The SQLite store: the zero-setup embedded default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteQueryResult, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool, Transaction};

use super::backend::Backend;
use super::db::{Column, Columns, Db, Param, Q, Upsert};
use super::*;

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
}

impl Backend for SqliteStore {
    type Db = Sqlite;

    const NAME: &'static str = "sqlite";

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    fn read_pool(&self) -> &SqlitePool {
        &self.reads
    }

    async fn run_migrations(&self) -> Result<()> {
        super::migrations::sqlite().run(&self.pool).await?;
        Ok(())
    }

    /// Takes the write lock up front, so a transaction that reads first cannot fail to
    /// upgrade its lock later.
    async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// An embedded database has no round trips to save: each write is a transaction on
    /// the one writing connection, in this process.
    async fn open(&self, s: &NewSession, opened: &NewEvent) -> Result<Session> {
        let mut tx = self.write_tx().await?;
        let session = super::sessions::create(&mut tx, s, opened).await?;
        tx.commit().await?;
        Ok(session)
    }

    async fn append(&self, id: SessionId, frames: &[serde_json::Value]) -> Result<i64> {
        let mut tx = self.write_tx().await?;
        let last = super::frames::append(&mut tx, id, frames, crate::clock::now()).await?;
        tx.commit().await?;
        Ok(last)
    }

    /// The general path reads the session in-process: nothing to save here.
    async fn direct(&self, _: &DirectSettlement<'_>) -> Result<Direct> {
        Ok(Direct::Undecided)
    }

    async fn transition(
        &self,
        id: SessionId,
        expected: i64,
        commit: &Commit,
        entry: Option<&InboxEntry>,
    ) -> Result<Option<Session>> {
        let mut tx = self.write_tx().await?;
        if let Some(e) = entry
            && !super::inbox::insert(&mut *tx, e).await?
        {
            return Ok(None);
        }
        let saved = super::sessions::apply_in(&mut tx, id, expected, commit).await?;
        tx.commit().await?;
        Ok(Some(saved))
    }
}

impl Db for Sqlite {
    type Conn<'c> = &'c mut SqliteConnection;
    type Pooled<'p> = &'p SqlitePool;

    /// SQLite has no row locks; `BEGIN IMMEDIATE` already makes each claim exclusive.
    const SKIP_LOCKED: &'static str = "";

    fn conn(c: &mut SqliteConnection) -> &mut SqliteConnection {
        c
    }

    fn pooled(p: &SqlitePool) -> &SqlitePool {
        p
    }

    fn bind<'q, T: Param<'q>>(q: Q<'q, Self>, value: T) -> Q<'q, Self> {
        q.bind(value)
    }

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// SQLite cannot say whether an upsert inserted: its change count is 1 either way, and
    /// nothing `RETURNING` sees tells the two apart (`last_insert_rowid()` still names the
    /// connection's previous insert). So the insert is tried alone first, `DO NOTHING` on
    /// conflict, and only when the row is there does the upsert run, to update it. The write
    /// transaction holds SQLite's one write lock, so nothing comes between the two.
    async fn upsert<T: Sync>(
        c: &mut SqliteConnection,
        upsert: &Upsert,
        value: &T,
        bind: for<'s> fn(Q<'s, Self>, &'s T) -> Q<'s, Self>,
    ) -> sqlx::Result<bool> {
        let insert = format!("{} DO NOTHING", upsert.insert);
        let inserted = bind(sqlx::query(&insert), value).execute(&mut *c).await?;
        if inserted.rows_affected() == 1 {
            return Ok(true);
        }
        let replace = format!("{} {}", upsert.insert, upsert.update);
        bind(sqlx::query(&replace), value).execute(c).await?;
        Ok(false)
    }
}

impl Columns for SqliteRow {
    fn col<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        self.try_get(name)
    }
}

/// One process owns an embedded database, so frames never come from elsewhere.
impl Notifications for SqliteStore {}
