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

    async fn direct(&self, s: &DirectSettlement<'_>) -> Result<Direct> {
        super::pg_settle::direct(&self.pool, &self.origin, s).await
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

/// How often a listening instance says it is there (see `pg_writes::PRESENCE`).
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);
const _: () = assert!(HEARTBEAT.as_secs() * 2 < super::pg_writes::PRESENCE.as_secs());

/// Records that the instance `$1` is listening, now.
const BEAT: &str = "INSERT INTO instances (origin, seen_at) VALUES ($1, now()) \
     ON CONFLICT (origin) DO UPDATE SET seen_at = now()";
/// Forgets instances gone for a day.
const FORGET: &str = "DELETE FROM instances WHERE seen_at < now() - interval '1 day'";

/// What the feed holds between announcements; dropping it stops the heartbeat.
struct Listening {
    listener: sqlx::postgres::PgListener,
    own: String,
    beating: tokio::task::JoinHandle<()>,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.beating.abort();
    }
}

impl Listening {
    /// The next announcement from another instance.
    async fn next(&mut self) -> Announcement {
        loop {
            match self.listener.recv().await {
                Ok(n) => match super::parse_announcement(n.payload()) {
                    Some((_, origin)) if origin == self.own => continue,
                    Some((a, _)) => return a,
                    None => continue,
                },
                Err(e) => {
                    tracing::warn!(error = %e, "frame notifications interrupted; reconnecting");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }
}

/// Says every `HEARTBEAT` that instance `own` is there, and forgets long-gone ones.
async fn beat(pool: PgPool, own: String) {
    let mut every = tokio::time::interval(HEARTBEAT);
    loop {
        every.tick().await;
        let beat = sqlx::query(BEAT).bind(&own).execute(&pool).await;
        let forget = sqlx::query(FORGET).execute(&pool).await;
        if let Err(e) = beat.and(forget) {
            tracing::warn!(error = %e, "could not record this instance's heartbeat");
        }
    }
}

/// Frames committed by other instances, announced on `FRAMES_CHANNEL` at commit. Other
/// instances announce only while this one is seen listening: it beats once it listens,
/// before it takes any socket, and then every `HEARTBEAT` for as long as the feed is read.
#[async_trait]
impl Notifications for PgStore {
    async fn frame_feed(&self) -> Result<Option<FrameFeed>> {
        let mut listener = sqlx::postgres::PgListener::connect_with(&self.pool).await?;
        listener.listen(super::FRAMES_CHANNEL).await?;
        sqlx::query(BEAT)
            .bind(&self.origin)
            .execute(&self.pool)
            .await?;
        let state = Listening {
            listener,
            own: self.origin.clone(),
            beating: tokio::spawn(beat(self.pool.clone(), self.origin.clone())),
        };
        let feed = futures_util::stream::unfold(state, |mut l| async move {
            let a = l.next().await;
            Some((a, l))
        });
        Ok(Some(Box::pin(feed)))
    }
}
