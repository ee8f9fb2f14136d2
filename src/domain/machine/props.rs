//! Random event sequences from `Collecting`, each event applied only when the machine
//! allows it: what must hold on every path.

use proptest::prelude::*;

use super::*;
use Effect::*;
use SessionState::*;

fn fraction() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(1.0), 0.0..=1.0f64]
}

/// Thresholds as a merchant's policy allows them: fractions, review below decline.
fn thresholds() -> impl Strategy<Value = RiskThresholds> {
    (fraction(), fraction())
        .prop_filter("thresholds differ", |(a, b)| a != b)
        .prop_map(|(a, b)| RiskThresholds {
            review_at: a.min(b),
            decline_at: a.max(b),
        })
}

fn risk_scored() -> impl Strategy<Value = Event> {
    (thresholds(), fraction(), 0..3u8).prop_map(|(thresholds, s, pick)| {
        // A score on a threshold is where the outcome changes.
        let s = match pick {
            0 => thresholds.review_at,
            1 => thresholds.decline_at,
            _ => s,
        };
        Event::RiskScored {
            score: Score::new(s).unwrap(),
            thresholds,
        }
    })
}

/// Every event; the ones that move a session forward weigh more, so that sequences
/// reach submission and settlement often.
fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        4 => Just(Event::ConfirmationIssued),
        1 => (0..4u32, 0..4u32).prop_map(|(asked, max)| Event::ClarificationNeeded { asked, max }),
        1 => Just(Event::ClarificationResolved),
        1 => Just(Event::ProposalRefused),
        1 => Just(Event::MenuFallback),
        1 => Just(Event::MenuStep),
        1 => Just(Event::Corrected),
        6 => Just(Event::Confirmed),
        1 => Just(Event::Cancelled),
        1 => Just(Event::ConfirmationTampered),
        1 => Just(Event::ConfirmationExpired),
        3 => risk_scored(),
        3 => Just(Event::ReviewApproved),
        1 => Just(Event::ReviewDeclined),
        3 => Just(Event::SettlementSucceeded),
        1 => Just(Event::SettlementFailed),
    ]
}

proptest! {
    #[test]
    fn every_allowed_path_keeps_the_invariants(events in prop::collection::vec(event(), 0..48)) {
        let mut state = Collecting;
        let mut confirmed = false;
        let mut submissions = 0;
        for event in &events {
            let result = transition(state, event);
            if state.is_terminal() {
                prop_assert_eq!(result, Err(TransitionError::Terminal(state)));
                continue;
            }
            let t = match result {
                Ok(t) => t,
                Err(e) => {
                    // Refused: the state stays as it is.
                    prop_assert_eq!(e, TransitionError::NotAllowed { state, event: event.kind() });
                    continue;
                }
            };
            let has = |effect| t.effects.contains(&effect);
            for (i, effect) in t.effects.iter().enumerate() {
                prop_assert!(!t.effects[i + 1..].contains(effect), "{:?} twice", effect);
            }

            // Money moves once, and only after the shopper countersigned.
            submissions += t.effects.iter().filter(|&&e| e == SubmitToProvider).count();
            prop_assert!(submissions <= 1, "a second submission: {:?}", events);
            prop_assert_eq!(has(SubmitToProvider), t.to == Submitted);
            if t.to == Submitted {
                prop_assert!(confirmed, "submitted without a confirmation: {:?}", events);
                prop_assert!(matches!(state, PendingRiskCheck | ManualReview));
            }
            // A score the merchant wants reviewed or declined never submits by itself.
            if let Event::RiskScored { score, thresholds } = event
                && score.get() >= thresholds.review_at
            {
                prop_assert_ne!(t.to, Submitted);
            }
            if t.to == Settled {
                prop_assert_eq!(state, Submitted);
            }
            // Consent may be withdrawn until the payment is submitted, never after.
            if t.to == Cancelled {
                prop_assert_eq!(submissions, 0, "cancelled after a submission: {:?}", events);
            }

            // The outstanding token is voided exactly when leaving AwaitingConfirmation.
            prop_assert_eq!(
                has(VoidConfirmation),
                state == AwaitingConfirmation && t.to != AwaitingConfirmation
            );
            prop_assert_eq!(has(AssessRisk), t.to == PendingRiskCheck);
            prop_assert_eq!(has(QueueForReview), t.to == ManualReview);
            // Every end but settlement says why.
            prop_assert_eq!(t.reason.is_some(), t.to.is_terminal() && t.to != Settled);

            confirmed |= *event == Event::Confirmed;
            state = t.to;
        }
    }
}
