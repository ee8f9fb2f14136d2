//! The pure core: values that cannot be invalid, the merchant policy and the state machine.
//! Nothing here knows about HTTP or SQL.

pub mod action;
pub mod draft;
pub mod ids;
pub mod machine;
pub mod money;
pub mod payee;
pub mod policy;
pub mod price;
pub mod state;

pub use action::{Action, Lang};
pub use ids::{
    AlipayTradeNo, ContactId, IdError, IdempotencyKey, MerchantId, OrderId, SessionId, UserId,
};
pub use machine::{Effect, Event, EventKind, RiskThresholds, Score, Transition, TransitionError};
pub use money::{Currency, Money, MoneyError};
pub use payee::{AlipayIdentityType, AlipayPayee};
pub use policy::{Policy, PolicyDoc, PolicyError};
pub use price::{Charge, Cost, Price, PriceError};
pub use state::{Actor, EndReason, InboxOutcome, Mode, SessionState, Transport};
