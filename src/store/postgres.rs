//! The Postgres store: production, several instances sharing one database.

use std::str::FromStr;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx_core::migrate::Migrator;

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

    fn origin(&self) -> &str {
        &self.origin
    }

    /// Postgres runs reads and writes side by side on one pool.
    fn reads(&self) -> &PgPool {
        &self.pool
    }

    fn migrator() -> &'static Migrator {
        super::migrations::postgres()
    }

    /// Read committed; row-level conflicts are caught by version checks and row locks.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }
}

super::sql::sql_store!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    row_lock = " FOR UPDATE",
    // Completed with the announcement's payload, after the frames' INSERT in one statement.
    notify = "SELECT pg_notify('countersign_frames', "
);

/// Frames committed by any instance, announced on `countersign_frames` at commit.
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
super::payments_sql::payments_sql!(
    PgStore,
    sqlx::Postgres,
    skip_locked = " FOR UPDATE SKIP LOCKED"
);
