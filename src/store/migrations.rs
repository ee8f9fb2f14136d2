//! The schema's migrations, compiled into the binary. Each is checksummed as `sqlx migrate`
//! does, so databases migrated by earlier builds are recognised.

use std::borrow::Cow;
use std::sync::OnceLock;

use sqlx_core::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL) for each backend, in order.
type Files = [(i64, &'static str, &'static str)];

const SQLITE: &Files = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "alipay",
        include_str!("../../migrations/sqlite/0002_alipay.sql"),
    ),
    (
        4,
        "evidence",
        include_str!("../../migrations/sqlite/0004_evidence.sql"),
    ),
    (
        5,
        "ops",
        include_str!("../../migrations/sqlite/0005_ops.sql"),
    ),
    (
        6,
        "countersign_links",
        include_str!("../../migrations/sqlite/0006_countersign_links.sql"),
    ),
];

const POSTGRES: &Files = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "alipay",
        include_str!("../../migrations/postgres/0002_alipay.sql"),
    ),
    (
        3,
        "instances",
        include_str!("../../migrations/postgres/0003_instances.sql"),
    ),
    (
        4,
        "evidence",
        include_str!("../../migrations/postgres/0004_evidence.sql"),
    ),
    (
        5,
        "ops",
        include_str!("../../migrations/postgres/0005_ops.sql"),
    ),
    (
        6,
        "countersign_links",
        include_str!("../../migrations/postgres/0006_countersign_links.sql"),
    ),
];

pub(super) fn sqlite() -> &'static Migrator {
    static MIGRATOR: OnceLock<Migrator> = OnceLock::new();
    MIGRATOR.get_or_init(|| migrator(SQLITE))
}

pub(super) fn postgres() -> &'static Migrator {
    static MIGRATOR: OnceLock<Migrator> = OnceLock::new();
    MIGRATOR.get_or_init(|| migrator(POSTGRES))
}

fn migrator(files: &Files) -> Migrator {
    let migrations = files
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::str::FromStr;

    use sqlx::Row;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    /// Migration 5 builds the SQLite sessions table again: a database migrated by an
    /// earlier build keeps its sessions, their events and frames, with foreign keys on.
    #[tokio::test]
    async fn sqlite_sessions_survive_the_rebuild_with_their_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("m.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .unwrap();
        let before: Vec<_> = super::SQLITE.iter().filter(|m| m.0 < 5).copied().collect();
        super::migrator(&before).run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO merchants (id, api_key_hash, api_secret_sealed, \
             webhook_secret_sealed, signing_kid, policy, created_at) \
             VALUES ('acme', 'h', 's', 'w', 'k1', '{}', 't')",
            "INSERT INTO sessions (id, merchant_id, user_id, channel, mode, state, reason, \
             clarifications, draft, frame_seq, client_token_hash, version, created_at, \
             updated_at, event_hash) VALUES ('s1', 'acme', 'u1', 'chat', 'chat', 'cancelled', \
             'shopper_cancelled', 0, '{}', 1, 'h', 3, 't', 't', \
             'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa')",
            "INSERT INTO session_events (session_id, seq, from_state, to_state, kind, actor, \
             payload, at) VALUES ('s1', 1, NULL, 'collecting', 'opened', 'shopper', '{}', 't')",
            "INSERT INTO session_frames VALUES ('s1', 1, '{}', 't')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }

        super::sqlite().run(&pool).await.unwrap();

        let row = sqlx::query("SELECT reason, version, event_hash FROM sessions WHERE id = 's1'")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("reason"), "shopper_cancelled");
        assert_eq!(row.get::<i64, _>("version"), 3);
        assert_eq!(row.get::<String, _>("event_hash"), "a".repeat(64));
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM session_events")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(events, 1);
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(broken.is_empty(), "foreign keys hold");
        let on: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(on, 1);
        // The wider check takes `withdrawn`, and still refuses what is not a reason.
        let withdrawn = "UPDATE sessions SET reason = 'withdrawn' WHERE id = 's1'";
        sqlx::query(withdrawn).execute(&pool).await.unwrap();
        let nonsense = "UPDATE sessions SET reason = 'nonsense' WHERE id = 's1'";
        assert!(sqlx::query(nonsense).execute(&pool).await.is_err());
        // A frame for a session that does not exist is still refused.
        let orphan = "INSERT INTO session_frames VALUES ('nobody', 1, '{}', 't')";
        assert!(sqlx::query(orphan).execute(&pool).await.is_err());
        let indexes: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'sessions' \
             AND name LIKE 'sessions_by_%'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(indexes, 4);
    }

    /// Every file under migrations/ is compiled in, under its own version.
    #[test]
    fn every_migration_file_is_embedded() {
        for (dir, files) in [("sqlite", super::SQLITE), ("postgres", super::POSTGRES)] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut names: Vec<String> = std::fs::read_dir(path)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            let embedded: Vec<String> = files
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(names, embedded, "{dir}");
        }
    }
}
