//! What a chaos shopper has received of its session, and what it does next because of it.

use std::collections::BTreeMap;

use serde_json::Value;

const ENDS: [&str; 5] = ["settled", "failed", "declined", "cancelled", "expired"];

/// The session frames received, by seq.
#[derive(Default)]
pub struct Seen(BTreeMap<i64, Value>);

impl Seen {
    pub fn record(&mut self, frame: Value) {
        // Errors and pongs answer one socket; their seq repeats the last session frame's.
        if frame["type"] == "error" || frame["type"] == "pong" {
            return;
        }
        if let Some(seq) = frame["seq"].as_i64() {
            self.0.insert(seq, frame);
        }
    }

    /// The highest seq with every frame up to it received.
    pub fn contiguous(&self) -> i64 {
        let mut upto = 0;
        for &seq in self.0.keys() {
            if seq != upto + 1 {
                break;
            }
            upto = seq;
        }
        upto
    }

    pub fn missing(&self, upto: i64) -> usize {
        (1..=upto).filter(|s| !self.0.contains_key(s)).count()
    }

    /// The state the last status frame announced, and that frame's seq.
    pub fn state(&self) -> (&str, i64) {
        let status = self.0.iter().rev().find(|(_, f)| f["type"] == "status");
        status.map_or(("collecting", 0), |(seq, f)| {
            (f["state"].as_str().unwrap_or_default(), *seq)
        })
    }

    /// The confirmation card issued since the last status frame.
    pub fn card(&self) -> Option<(i64, &Value)> {
        let (_, since) = self.state();
        let mut after = self.0.range(since + 1..).rev();
        after
            .find(|(_, f)| f["type"] == "confirmation_required")
            .map(|(seq, f)| (*seq, f))
    }
}

/// What the shopper does next, from what it has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Want {
    Say,
    /// Countersign the card with this seq.
    Confirm(i64),
    Wait,
    Done,
}

pub fn want(seen: &Seen) -> Want {
    match seen.state().0 {
        state if ENDS.contains(&state) => Want::Done,
        "collecting" | "clarifying" => Want::Say,
        "awaiting_confirmation" => seen
            .card()
            .map_or(Want::Wait, |(seq, _)| Want::Confirm(seq)),
        _ => Want::Wait,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_next_step_follows_the_last_status_and_its_card() {
        let mut seen = Seen::default();
        seen.record(json!({"seq": 1, "type": "agent_message", "text": "Hi"}));
        assert_eq!(want(&seen), Want::Say);
        seen.record(json!({"seq": 2, "type": "status", "state": "awaiting_confirmation"}));
        assert_eq!(want(&seen), Want::Wait, "the card is on its way");
        seen.record(json!({"seq": 3, "type": "confirmation_required", "token": "t"}));
        assert_eq!(want(&seen), Want::Confirm(3));
        seen.record(json!({"seq": 4, "type": "status", "state": "pending_risk_check"}));
        assert_eq!(want(&seen), Want::Wait);
        seen.record(json!({"seq": 7, "type": "status", "state": "settled"}));
        assert_eq!(want(&seen), Want::Done);
    }

    #[test]
    fn holes_are_counted_and_resume_from_the_first() {
        let mut seen = Seen::default();
        for seq in [1, 2, 4] {
            seen.record(json!({"seq": seq, "type": "agent_message", "text": "x"}));
        }
        seen.record(json!({"seq": 7, "type": "pong"}));
        assert_eq!(seen.contiguous(), 2);
        assert_eq!(seen.missing(5), 2, "3 and 5; a pong is no session frame");
    }
}
