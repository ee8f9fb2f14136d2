//! What the shared queries need of a database. Postgres and SQLite each implement [`Db`]
//! (in `postgres.rs` and `sqlite.rs`); every query function is generic over it, so the SQL
//! and its bindings are written once.
//!
//! sqlx states what a type needs per database (`String: Encode<'q, Postgres>`,
//! `&mut PgConnection: Executor`), and such bounds do not carry over from a trait to the
//! functions that use it. So the values the store binds and reads are named here once for
//! both backends ([`Param`], [`Column`]), and each backend binds them ([`Bind::arg`]), reads
//! them ([`Columns::col`]) and lends its connections and pools as executors ([`Db::conn`],
//! [`Db::pooled`]).

use std::future::Future;

use sqlx::query::Query;
use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Pool, Postgres, Sqlite, Type};

/// A query with its arguments, as `sqlx::query` makes it.
pub(super) type Q<'q, DB> = Query<'q, DB, <DB as Database>::Arguments<'q>>;

/// A value either backend can bind.
pub(super) trait Param<'q>:
    Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send + 'q
{
}

impl<'q, T> Param<'q> for T where
    T: Encode<'q, Postgres> + Type<Postgres> + Encode<'q, Sqlite> + Type<Sqlite> + Send + 'q
{
}

/// A value either backend can read from a column.
pub(super) trait Column:
    for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres> + for<'r> Decode<'r, Sqlite> + Type<Sqlite>
{
}

/// Reads a column by name.
pub(super) trait Columns {
    fn col<T: Column>(&self, name: &str) -> sqlx::Result<T>;
}

/// A backend the shared queries run on.
pub(super) trait Db:
    for<'q> Database<Arguments<'q>: IntoArguments<'q, Self>, Row: Columns>
{
    /// A connection lent to one statement.
    type Conn<'c>: Executor<'c, Database = Self>;

    /// A pool lent to one statement.
    type Pooled<'p>: Executor<'p, Database = Self> + Copy;

    /// Clause that makes `claim_submissions` skip rows another dispatcher has locked.
    const SKIP_LOCKED: &'static str;

    fn conn(c: &mut Self::Connection) -> Self::Conn<'_>;

    fn pooled(p: &Pool<Self>) -> Self::Pooled<'_>;

    fn bind<'q, T: Param<'q>>(q: Q<'q, Self>, value: T) -> Q<'q, Self>;

    fn rows_affected(done: &Self::QueryResult) -> u64;

    /// Runs `upsert` with `value` bound by `bind`, in a write transaction; `true` when it
    /// inserted the row.
    fn upsert<T: Sync>(
        c: &mut Self::Connection,
        upsert: &Upsert,
        value: &T,
        bind: for<'s> fn(Q<'s, Self>, &'s T) -> Q<'s, Self>,
    ) -> impl Future<Output = sqlx::Result<bool>> + Send;
}

/// An `INSERT … ON CONFLICT … DO UPDATE` in its two parts, so that each backend can learn
/// whether it inserted the row.
pub(super) struct Upsert {
    /// `INSERT INTO … VALUES (…) ON CONFLICT (…)`.
    pub insert: &'static str,
    /// `DO UPDATE SET …`: what a replacement changes of the row that is there.
    pub update: &'static str,
}

/// `.arg(value)`: `Query::bind` for any backend.
pub(super) trait Bind<'q> {
    fn arg<T: Param<'q>>(self, value: T) -> Self;
}

impl<'q, DB: Db> Bind<'q> for Q<'q, DB> {
    fn arg<T: Param<'q>>(self, value: T) -> Self {
        DB::bind(self, value)
    }
}
