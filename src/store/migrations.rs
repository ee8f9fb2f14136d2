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
