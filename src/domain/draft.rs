//! What a conversation has gathered so far, kept on the session between turns.

use serde::{Deserialize, Serialize};

use super::{ContactId, Lang, Money, OrderId};

/// Lines kept for the model's context.
const MAX_HISTORY: usize = 10;
/// Characters kept of each line.
const MAX_LINE_CHARS: usize = 500;

/// Who said a line of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Shopper,
    Agent,
}

/// One line of the conversation, as the model is shown it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatLine {
    pub role: Role,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    Refund,
    Transfer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "amount")]
pub enum AmountChoice {
    /// Whatever is still refundable on the order.
    Full,
    Exact(Money),
}

/// A field the agent can ask about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Intent,
    Order,
    Amount,
    Contact,
    Reason,
}

/// A button: an id to answer with and a label to show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub label: String,
}

impl Choice {
    pub fn new(id: impl Into<String>, label: impl Into<String>) -> Self {
        Choice {
            id: id.into(),
            label: label.into(),
        }
    }
}

/// The question the agent asked last, so a bare answer ("1042", "the first one") resolves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asking {
    pub field: Field,
    pub candidates: Vec<Choice>,
}

/// Stored on the session as JSON; every field has a default, so `{}` is an empty draft.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Draft {
    pub lang: Lang,
    pub goal: Option<Goal>,
    pub order_id: Option<OrderId>,
    pub amount: Option<AmountChoice>,
    pub contact_id: Option<ContactId>,
    /// The refund reason or the transfer note.
    pub reason: Option<String>,
    /// The menu asked for a reason and the shopper answered or skipped.
    pub reason_settled: bool,
    pub asking: Option<Asking>,
    pub history: Vec<ChatLine>,
    /// The text a chat session was opened with, until its first turn reads it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening: Option<String>,
}

impl Draft {
    /// Starts over on a new goal, keeping the language and history.
    pub fn switch_goal(&mut self, goal: Goal) {
        if self.goal != Some(goal) {
            *self = Draft {
                lang: self.lang,
                goal: Some(goal),
                history: std::mem::take(&mut self.history),
                ..Draft::default()
            };
        }
    }

    pub fn remember(&mut self, role: Role, text: &str) {
        let text: String = text.chars().take(MAX_LINE_CHARS).collect();
        self.history.push(ChatLine { role, text });
        let excess = self.history.len().saturating_sub(MAX_HISTORY);
        self.history.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_object_is_an_empty_draft() {
        let draft: Draft = serde_json::from_str("{}").unwrap();
        assert_eq!(draft, Draft::default());
    }

    #[test]
    fn history_keeps_the_latest_lines_cut_to_length() {
        let mut draft = Draft::default();
        for i in 0..=MAX_HISTORY {
            draft.remember(Role::Shopper, &i.to_string());
        }
        draft.remember(Role::Agent, &"x".repeat(MAX_LINE_CHARS + 1));
        assert_eq!(draft.history.len(), MAX_HISTORY);
        assert_eq!(draft.history[0].text, "2");
        let last = draft.history.last().unwrap();
        assert_eq!((last.role, last.text.len()), (Role::Agent, MAX_LINE_CHARS));
    }
}
