//! Countersign: a conversational payment agent where nothing moves until the shopper has
//! countersigned an exact, HMAC-signed summary.
//!
//! A tour of the parts:
//! - [`domain`] is the pure core: money, identifiers, the merchant policy and the session
//!   state machine (`domain::machine::transition`, every move in one function).
//! - [`store`] persists merchants, the order book, sessions and their append-only event
//!   log behind one trait, with a Postgres and a SQLite implementation.
//! - [`http`] is the edge: it authenticates, parses requests into domain types, and calls
//!   the store. [`app`] wires it together: `build(config)` binds a listener (port 0 in
//!   tests) and `App::run` serves.
//! - [`payments`] moves approved money: an outbox the dispatcher delivers to the configured
//!   provider (the built-in sandbox, or Alipay through [`alipay`]), settled by the
//!   provider's signed notification.
//!
//! A request flows: router → auth extractor (merchant key or client token) → JSON parsed
//! into domain types (unknown fields refused) → a state-machine transition → the store
//! writes the session row and its event in one transaction, guarded by a version column.

pub mod alipay;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod confirmation;
pub mod dialogue;
pub mod domain;
pub mod http;
pub mod http_client;
pub mod merchants;
pub mod metrics;
pub mod payments;
pub mod risk;
pub mod schema;
pub mod secrets;
pub mod seed;
pub mod store;
pub mod telemetry;
pub mod understanding;

pub use app::{App, AppState, build};
pub use config::Config;
