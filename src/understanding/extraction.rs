//! The structured reading of one chat message; `schemas/extraction.schema.json` describes its JSON form.

use serde::{Deserialize, Serialize};

/// What one message says, each part scored for ambiguity (0 = certain, 1 = a guess).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extraction {
    pub intent: Scored<Intent>,
    pub order: Option<Scored<OrderRef>>,
    pub amount: Option<Scored<AmountRef>>,
    pub contact: Option<Scored<String>>,
    pub reason: Option<Scored<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scored<T> {
    pub value: T,
    pub ambiguity_score: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Refund,
    Transfer,
    OrderStatus,
    Cancel,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OrderRef {
    Id { id: String },
    Last,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum AmountRef {
    Exact {
        value: String,
        currency: Option<String>,
    },
    Full,
}
