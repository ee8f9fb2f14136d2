//! The conversation: understanding a message, disposing of the proposal, asking, issuing
//! the signed confirmation and recording consent.
//!
//! A client frame flows: `socket::run` (size cap, schema, rate cap) → `engine::handle`
//! (one turn per session at a time) → `understanding` → `dispose` (policy and order book)
//! → `engine::commit` (state machine, then the session row, its event and its frames in one
//! transaction) → `hub` → every socket on the session.

pub mod dispose;
pub mod engine;
pub mod frames;
pub mod hub;
pub mod menu;
pub mod relay;
pub mod socket;
pub mod sweeper;
