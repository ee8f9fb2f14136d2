//! Countersign: a conversational payment agent where nothing moves until the shopper has
//! countersigned an exact, HMAC-signed summary.
//!
//! The layers, lowest first; each imports only from the ones above it in this list
//! (ARCHITECTURE.md has the full map):
//! - [`domain`]: money, identifiers, policy, actions, what a conversation has gathered, and
//!   the session state machine (`domain::machine::transition`, every move in one function).
//!   No I/O.
//! - [`store`]: merchants, the order book, sessions, their event log, frames, the outbox
//!   and the inbox, behind one trait with a Postgres and a SQLite implementation.
//! - [`risk`] scores a consented action; [`payments`] hands approved money to a provider
//!   (the built-in sandbox, or Alipay) and verifies what the provider says back;
//!   [`understanding`] reads a shopper's message (offline rules or a language model).
//! - [`workflow`]: a session's life from consent to settlement. Every transition goes
//!   through `Workflow::commit`, which carries out the effects the machine names.
//! - [`dialogue`]: the conversation before consent — read, dispose, ask, propose.
//! - [`evidence`]: a session's dispute evidence, signed Ed25519 under keys published as a
//!   JWKS, and the check of every session's event hash chain ([`chain`]).
//! - [`http`] is the edge (routes, auth, limits, sockets) and [`app`] assembles it all;
//!   [`eval`] drives the dialogue as a socket does, over a corpus of conversations.
//!
//! A message from socket to settlement:
//! 1. `http::ws` admits the socket; `http::ws::socket` reads a frame, checks its size,
//!    schema and rate, and hands it to `Dialogue::handle`, which takes the session's turn.
//! 2. `understanding` extracts what the shopper asked for; `dialogue::dispose` checks it
//!    against the policy and the shopper's book, and decides: ask, refuse, or propose.
//! 3. A proposal is signed (`confirmation`) and committed: `Workflow::commit` applies the
//!    machine and stores the session, its event and its frames in one transaction; the
//!    hub hands the frames to every socket on the session.
//! 4. The shopper's `confirm` frame reaches `Workflow::confirm`; the `confirmed` transition
//!    names `AssessRisk`, which `commit` starts once the transition is stored.
//! 5. The score moves the session to `submitted` (its `SubmitToProvider` effect writes the
//!    outbox row and the order's hold in the same transaction), `manual_review` or
//!    `declined`. `workflow::outbox` delivers the submission to the provider.
//! 6. The provider's signed webhook reaches `http::webhooks` (or `http::alipay`), is
//!    verified, and `Workflow::settle` stores it in the inbox with the `settled`
//!    transition.

pub mod app;
pub mod chain;
pub mod cli;
pub mod clock;
pub mod config;
pub mod confirmation;
pub mod dialogue;
pub mod domain;
pub mod eval;
pub mod evidence;
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
#[cfg(test)]
mod testing;
pub mod understanding;
pub mod workflow;

pub use app::{App, build};
pub use config::Config;
