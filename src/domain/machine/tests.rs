//! Walks every (state, event) pair against the table of allowed moves below.

use super::*;
use Effect::*;
use SessionState::*;

const T: RiskThresholds = RiskThresholds {
    review_at: 0.5,
    decline_at: 0.8,
};

fn risk(score: f64) -> Event {
    Event::RiskScored {
        score: Score::new(score).unwrap(),
        thresholds: T,
    }
}

/// One sample of every event, with both sides of every threshold inside an event.
fn samples() -> Vec<(&'static str, Event)> {
    vec![
        ("issued", Event::ConfirmationIssued),
        (
            "clarify_1_of_3",
            Event::ClarificationNeeded { asked: 1, max: 3 },
        ),
        (
            "clarify_3_of_3",
            Event::ClarificationNeeded { asked: 3, max: 3 },
        ),
        ("resolved", Event::ClarificationResolved),
        ("menu", Event::MenuFallback),
        ("refused", Event::ProposalRefused),
        ("menu_step", Event::MenuStep),
        ("corrected", Event::Corrected),
        ("confirmed", Event::Confirmed),
        ("cancelled", Event::Cancelled),
        ("tampered", Event::ConfirmationTampered),
        ("expired", Event::ConfirmationExpired),
        ("risk_0.49", risk(0.49)),
        ("risk_0.5", risk(0.5)),
        ("risk_0.79", risk(0.79)),
        ("risk_0.8", risk(0.8)),
        ("approved", Event::ReviewApproved),
        ("review_declined", Event::ReviewDeclined),
        ("settled", Event::SettlementSucceeded),
        ("settle_failed", Event::SettlementFailed),
    ]
}

type Row = (
    SessionState,
    &'static str,
    SessionState,
    Option<EndReason>,
    &'static [Effect],
);

/// Every allowed move. Anything not listed must be rejected.
const ALLOWED: &[Row] = &[
    (Collecting, "issued", AwaitingConfirmation, None, &[]),
    (Collecting, "clarify_1_of_3", Clarifying, None, &[]),
    (
        Collecting,
        "clarify_3_of_3",
        Collecting,
        None,
        &[EnterMenuMode],
    ),
    (Collecting, "menu", Collecting, None, &[EnterMenuMode]),
    (Collecting, "refused", Collecting, None, &[]),
    (Collecting, "menu_step", Collecting, None, &[]),
    (
        Collecting,
        "cancelled",
        Cancelled,
        Some(EndReason::ShopperCancelled),
        &[],
    ),
    (Clarifying, "issued", AwaitingConfirmation, None, &[]),
    (Clarifying, "clarify_1_of_3", Clarifying, None, &[]),
    (
        Clarifying,
        "clarify_3_of_3",
        Collecting,
        None,
        &[EnterMenuMode],
    ),
    (Clarifying, "resolved", Collecting, None, &[]),
    (Clarifying, "menu", Collecting, None, &[EnterMenuMode]),
    (Clarifying, "refused", Collecting, None, &[]),
    (
        Clarifying,
        "cancelled",
        Cancelled,
        Some(EndReason::ShopperCancelled),
        &[],
    ),
    (
        AwaitingConfirmation,
        "confirmed",
        PendingRiskCheck,
        None,
        &[VoidConfirmation, AssessRisk],
    ),
    (
        AwaitingConfirmation,
        "corrected",
        Collecting,
        None,
        &[VoidConfirmation],
    ),
    (
        AwaitingConfirmation,
        "cancelled",
        Cancelled,
        Some(EndReason::ShopperCancelled),
        &[VoidConfirmation],
    ),
    (
        AwaitingConfirmation,
        "tampered",
        Cancelled,
        Some(EndReason::ConfirmationTampered),
        &[VoidConfirmation],
    ),
    (
        AwaitingConfirmation,
        "expired",
        Expired,
        Some(EndReason::ConfirmationExpired),
        &[VoidConfirmation],
    ),
    (
        PendingRiskCheck,
        "risk_0.49",
        Submitted,
        None,
        &[SubmitToProvider],
    ),
    (
        PendingRiskCheck,
        "risk_0.5",
        ManualReview,
        None,
        &[QueueForReview],
    ),
    (
        PendingRiskCheck,
        "risk_0.79",
        ManualReview,
        None,
        &[QueueForReview],
    ),
    (
        PendingRiskCheck,
        "risk_0.8",
        Declined,
        Some(EndReason::RiskDeclined),
        &[],
    ),
    (
        PendingRiskCheck,
        "cancelled",
        Cancelled,
        Some(EndReason::Withdrawn),
        &[],
    ),
    (
        ManualReview,
        "cancelled",
        Cancelled,
        Some(EndReason::Withdrawn),
        &[],
    ),
    (
        ManualReview,
        "approved",
        Submitted,
        None,
        &[SubmitToProvider],
    ),
    (
        ManualReview,
        "review_declined",
        Declined,
        Some(EndReason::ReviewDeclined),
        &[],
    ),
    (Submitted, "settled", Settled, None, &[]),
    (
        Submitted,
        "settle_failed",
        Failed,
        Some(EndReason::SettlementFailed),
        &[],
    ),
];

#[test]
fn every_state_event_pair_moves_as_designed_or_is_rejected() {
    let mut checked = 0;
    for &state in SessionState::ALL {
        for (label, event) in samples() {
            let got = transition(state, &event);
            let row = ALLOWED.iter().find(|r| r.0 == state && r.1 == label);
            match row {
                Some(&(_, _, to, reason, effects)) => {
                    let want = Transition {
                        to,
                        reason,
                        effects: effects.to_vec(),
                    };
                    assert_eq!(got, Ok(want), "{state} + {label}");
                }
                None if state.is_terminal() => {
                    assert_eq!(
                        got,
                        Err(TransitionError::Terminal(state)),
                        "{state} + {label}"
                    );
                }
                None => {
                    let want = TransitionError::NotAllowed {
                        state,
                        event: event.kind(),
                    };
                    assert_eq!(got, Err(want), "{state} + {label}");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 11 * 20);
    assert_eq!(SessionState::ALL.len(), 11);
}

#[test]
fn every_table_row_names_a_real_sample() {
    let labels: Vec<_> = samples().into_iter().map(|(l, _)| l).collect();
    for row in ALLOWED {
        assert!(labels.contains(&row.1), "unknown sample {}", row.1);
    }
}

#[test]
fn every_event_kind_except_opened_has_a_sample() {
    let kinds: Vec<_> = samples().iter().map(|(_, e)| e.kind()).collect();
    for kind in EventKind::ALL.iter().filter(|k| **k != EventKind::Opened) {
        assert!(kinds.contains(kind), "no sample for {kind}");
    }
}

#[test]
fn scores_outside_zero_to_one_do_not_exist() {
    assert!(Score::new(-0.01).is_none());
    assert!(Score::new(1.01).is_none());
    assert!(Score::new(f64::NAN).is_none());
    assert!(Score::new(1.0).is_some());
}
