//! Integration tests: the real server on port 0, a real database per test (SQLite always,
//! Postgres when COUNTERSIGN_TEST_POSTGRES is set), real HTTP.

mod fixtures;
mod helpers;
mod shopper;

mod alipay;
mod alipay_gateway;
// Announcements to other instances: Postgres only.
#[cfg(pg_tests)]
mod announce;
mod api;
mod book;
// Several instances sharing one database: Postgres only.
#[cfg(pg_tests)]
mod chaos;
mod cli;
mod cli_keys;
mod costs;
mod dialogue;
mod eval;
mod evidence;
mod grounded;
mod idempotency;
mod kept;
mod language;
mod limits;
mod load;
mod mcp;
mod model;
mod refusals;
mod rotation;
pub mod settlement;
mod store;
mod withdraw;
