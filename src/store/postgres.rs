//! The Postgres store: production, several instances sharing one database.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::{
    PgConnectOptions, PgConnection, PgPoolOptions, PgQueryResult, PgRow, Postgres,
};
use sqlx::{PgPool, Row, Transaction};

use super::backend::Backend;
use super::db::{Column, Columns, Db, Param, Q, Upsert};
use super::*;

pub struct PgStore {
    pool: PgPool,
    /// Names this store in its frame announcements, so it can skip its own: this instance
    /// already handed those frames to its sockets.
    origin: String,
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(PgConnectOptions::from_str(url)?, 20).await
    }

    pub async fn connect_with(options: PgConnectOptions, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        let origin = uuid::Uuid::new_v4().simple().to_string();
        Ok(PgStore { pool, origin })
    }
}

impl Backend for PgStore {
    type Db = Postgres;

    const NAME: &'static str = "postgres";

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Postgres runs reads and writes side by side on one pool.
    fn read_pool(&self) -> &PgPool {
        &self.pool
    }

    async fn run_migrations(&self) -> Result<()> {
        super::migrations::postgres().run(&self.pool).await?;
        Ok(())
    }

    /// Read committed; row-level conflicts are caught by version checks and row locks.
    async fn write_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    async fn open(&self, s: &NewSession, opened: &NewEvent) -> Result<Session> {
        super::pg_writes::open(&self.pool, s, opened).await
    }

    async fn append(&self, id: SessionId, frames: &[serde_json::Value]) -> Result<i64> {
        super::pg_writes::append(&self.pool, &self.origin, id, frames).await
    }

    async fn transition(
        &self,
        id: SessionId,
        expected: i64,
        commit: &Commit,
        entry: Option<&InboxEntry>,
    ) -> Result<Option<Session>> {
        super::pg_writes::transition(&self.pool, &self.origin, id, expected, commit, entry).await
    }
}

impl Db for Postgres {
    type Conn<'c> = &'c mut PgConnection;
    type Pooled<'p> = &'p PgPool;

    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    fn conn(c: &mut PgConnection) -> &mut PgConnection {
        c
    }

    fn pooled(p: &PgPool) -> &PgPool {
        p
    }

    fn bind<'q, T: Param<'q>>(q: Q<'q, Self>, value: T) -> Q<'q, Self> {
        q.bind(value)
    }

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    /// One statement; a row it inserted (rather than updated) has no `xmax` yet.
    async fn upsert<T: Sync>(
        c: &mut PgConnection,
        upsert: &Upsert,
        value: &T,
        bind: for<'s> fn(Q<'s, Self>, &'s T) -> Q<'s, Self>,
    ) -> sqlx::Result<bool> {
        let sql = format!(
            "{} {} RETURNING (xmax = 0) AS created",
            upsert.insert, upsert.update
        );
        let row = bind(sqlx::query(&sql), value).fetch_one(c).await?;
        row.try_get("created")
    }
}

impl Columns for PgRow {
    fn col<T: Column>(&self, name: &str) -> sqlx::Result<T> {
        self.try_get(name)
    }
}

/// Frames committed by any instance, announced on `FRAMES_CHANNEL` at commit.
#[async_trait]
impl Notifications for PgStore {
    async fn frame_feed(&self) -> Result<Option<FrameFeed>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(super::FRAMES_CHANNEL).await?;
        let state = (listener, self.origin.clone());
        let feed = futures_util::stream::unfold(state, |(mut l, own)| async move {
            loop {
                match l.recv().await {
                    Ok(n) => match super::parse_announcement(n.payload()) {
                        Some((_, origin)) if origin == own => continue,
                        Some((a, _)) => return Some((a, (l, own))),
                        None => continue,
                    },
                    Err(e) => {
                        tracing::warn!(error = %e, "frame notifications interrupted; reconnecting");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Ok(Some(Box::pin(feed)))
    }
}
