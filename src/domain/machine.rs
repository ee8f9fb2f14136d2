//! The session state machine: a pure function from (state, event) to a transition.
//!
//! Every allowed move is in `transition`; everything else is a typed rejection. The caller
//! persists the transition and carries out its effects; nothing here does I/O.

use super::state::{EndReason, SessionState, text_enum};
use serde::{Deserialize, Serialize};

/// A risk score in [0, 1]; higher is riskier. Not money, so a float is fine.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct Score(f64);

impl Score {
    pub fn new(v: f64) -> Option<Self> {
        (v.is_finite() && (0.0..=1.0).contains(&v)).then_some(Score(v))
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

/// The merchant's risk thresholds: `review_at <= score < decline_at` goes to a human.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskThresholds {
    pub review_at: f64,
    pub decline_at: f64,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        RiskThresholds {
            review_at: 0.5,
            decline_at: 0.8,
        }
    }
}

/// Something that happened to a session.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Entities complete and unambiguous; a signed confirmation was issued.
    ConfirmationIssued,
    /// An entity is ambiguous; `asked` clarifying questions were already asked of `max`.
    ClarificationNeeded {
        asked: u32,
        max: u32,
    },
    /// The shopper's answer resolved the question; more may still be needed.
    ClarificationResolved,
    /// What the shopper asked for was refused by policy or the order book; ask again.
    ProposalRefused,
    /// The model is unavailable or keeps guessing: continue with the menu.
    MenuFallback,
    /// The shopper picked a menu option that leads to the next menu.
    MenuStep,
    /// The shopper changed what they asked for; the old confirmation is void.
    Corrected,
    /// A valid countersignature arrived.
    Confirmed,
    /// The shopper gave up; after consent, while the payment is held (risk check or
    /// review), this withdraws the consent.
    Cancelled,
    /// A confirmation token failed verification.
    ConfirmationTampered,
    /// The confirmation's TTL passed.
    ConfirmationExpired,
    /// The risk engine scored the consented action.
    RiskScored {
        score: Score,
        thresholds: RiskThresholds,
    },
    ReviewApproved,
    ReviewDeclined,
    SettlementSucceeded,
    SettlementFailed,
}

text_enum!(
    /// The stored name of an event. `Opened` starts every log and is not a machine event.
    EventKind {
        Opened => "opened",
        ConfirmationIssued => "confirmation_issued",
        ClarificationNeeded => "clarification_needed",
        ClarificationResolved => "clarification_resolved",
        ProposalRefused => "proposal_refused",
        MenuFallback => "menu_fallback",
        MenuStep => "menu_step",
        Corrected => "corrected",
        Confirmed => "confirmed",
        Cancelled => "cancelled",
        ConfirmationTampered => "confirmation_tampered",
        ConfirmationExpired => "confirmation_expired",
        RiskScored => "risk_scored",
        ReviewApproved => "review_approved",
        ReviewDeclined => "review_declined",
        SettlementSucceeded => "settlement_succeeded",
        SettlementFailed => "settlement_failed",
    }
);

impl Event {
    pub fn kind(&self) -> EventKind {
        match self {
            Event::ConfirmationIssued => EventKind::ConfirmationIssued,
            Event::ClarificationNeeded { .. } => EventKind::ClarificationNeeded,
            Event::ClarificationResolved => EventKind::ClarificationResolved,
            Event::ProposalRefused => EventKind::ProposalRefused,
            Event::MenuFallback => EventKind::MenuFallback,
            Event::MenuStep => EventKind::MenuStep,
            Event::Corrected => EventKind::Corrected,
            Event::Confirmed => EventKind::Confirmed,
            Event::Cancelled => EventKind::Cancelled,
            Event::ConfirmationTampered => EventKind::ConfirmationTampered,
            Event::ConfirmationExpired => EventKind::ConfirmationExpired,
            Event::RiskScored { .. } => EventKind::RiskScored,
            Event::ReviewApproved => EventKind::ReviewApproved,
            Event::ReviewDeclined => EventKind::ReviewDeclined,
            Event::SettlementSucceeded => EventKind::SettlementSucceeded,
            Event::SettlementFailed => EventKind::SettlementFailed,
        }
    }
}

/// Work the executor must do after persisting a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Switch the session to the deterministic menu.
    EnterMenuMode,
    /// The outstanding confirmation token can never be used again.
    VoidConfirmation,
    /// Score the consented action.
    AssessRisk,
    /// Put the session in the operators' review queue.
    QueueForReview,
    /// Write the provider submission to the outbox (same transaction as the state change).
    SubmitToProvider,
}

/// Where a session goes and what must happen because of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub to: SessionState,
    pub reason: Option<EndReason>,
    pub effects: Vec<Effect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("session is {0} and accepts nothing more")]
    Terminal(SessionState),
    #[error("{event} is not allowed while the session is {state}")]
    NotAllowed {
        state: SessionState,
        event: EventKind,
    },
}

fn to(state: SessionState) -> Transition {
    Transition {
        to: state,
        reason: None,
        effects: Vec::new(),
    }
}

fn ends(state: SessionState, reason: EndReason, effects: &[Effect]) -> Transition {
    Transition {
        to: state,
        reason: Some(reason),
        effects: effects.to_vec(),
    }
}

fn with(state: SessionState, effects: &[Effect]) -> Transition {
    Transition {
        to: state,
        reason: None,
        effects: effects.to_vec(),
    }
}

/// The whole state machine.
pub fn transition(state: SessionState, event: &Event) -> Result<Transition, TransitionError> {
    use Effect::*;
    use SessionState::*;
    if state.is_terminal() {
        return Err(TransitionError::Terminal(state));
    }
    let moved = match (state, event) {
        (Collecting | Clarifying, Event::ConfirmationIssued) => to(AwaitingConfirmation),
        (Collecting | Clarifying, Event::ClarificationNeeded { asked, max }) => {
            if asked < max {
                to(Clarifying)
            } else {
                with(Collecting, &[EnterMenuMode])
            }
        }
        (Clarifying, Event::ClarificationResolved) => to(Collecting),
        (Collecting | Clarifying, Event::ProposalRefused) => to(Collecting),
        (Collecting | Clarifying, Event::MenuFallback) => with(Collecting, &[EnterMenuMode]),
        (Collecting, Event::MenuStep) => to(Collecting),
        (Collecting | Clarifying, Event::Cancelled) => {
            ends(Cancelled, EndReason::ShopperCancelled, &[])
        }
        (AwaitingConfirmation, Event::Confirmed) => {
            with(PendingRiskCheck, &[VoidConfirmation, AssessRisk])
        }
        (AwaitingConfirmation, Event::Corrected) => with(Collecting, &[VoidConfirmation]),
        (AwaitingConfirmation, Event::Cancelled) => {
            ends(Cancelled, EndReason::ShopperCancelled, &[VoidConfirmation])
        }
        (AwaitingConfirmation, Event::ConfirmationTampered) => ends(
            Cancelled,
            EndReason::ConfirmationTampered,
            &[VoidConfirmation],
        ),
        (AwaitingConfirmation, Event::ConfirmationExpired) => {
            ends(Expired, EndReason::ConfirmationExpired, &[VoidConfirmation])
        }
        (PendingRiskCheck, Event::RiskScored { score, thresholds }) => {
            risk_outcome(*score, thresholds)
        }
        // Withdrawal: consent can be taken back until the payment is submitted, never after.
        (PendingRiskCheck | ManualReview, Event::Cancelled) => {
            ends(Cancelled, EndReason::Withdrawn, &[])
        }
        (ManualReview, Event::ReviewApproved) => with(Submitted, &[SubmitToProvider]),
        (ManualReview, Event::ReviewDeclined) => ends(Declined, EndReason::ReviewDeclined, &[]),
        (Submitted, Event::SettlementSucceeded) => to(Settled),
        (Submitted, Event::SettlementFailed) => ends(Failed, EndReason::SettlementFailed, &[]),
        _ => {
            return Err(TransitionError::NotAllowed {
                state,
                event: event.kind(),
            });
        }
    };
    Ok(moved)
}

fn risk_outcome(score: Score, t: &RiskThresholds) -> Transition {
    use SessionState::*;
    let s = score.get();
    if s >= t.decline_at {
        ends(Declined, EndReason::RiskDeclined, &[])
    } else if s >= t.review_at {
        with(ManualReview, &[Effect::QueueForReview])
    } else {
        with(Submitted, &[Effect::SubmitToProvider])
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
