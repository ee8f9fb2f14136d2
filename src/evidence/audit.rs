//! `countersign audit verify`: every session's event chain recomputed from its rows.

use serde::Serialize;

use crate::chain::GENESIS;
use crate::domain::SessionId;
use crate::store::{Store, StoreError};

/// Sessions read per page when every chain is checked.
const PAGE: i64 = 500;

/// Where a chain does not hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Break {
    pub session_id: String,
    /// The first event that does not follow from the one before it.
    pub seq: i64,
    pub problem: String,
}

/// What a check found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub sessions: u64,
    pub events: u64,
    /// Sessions stored before events were chained: nothing to check.
    pub unchained: u64,
    pub breaks: Vec<Break>,
}

/// Checks one session's chain; `NotFound` when there is no such session.
pub async fn session(store: &dyn Store, id: SessionId) -> Result<Report, StoreError> {
    let mut report = Report::default();
    check(store, id, &mut report).await?;
    Ok(report)
}

/// Checks every session's chain.
pub async fn all(store: &dyn Store) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut after = String::new();
    loop {
        let ids = store.session_ids_after(&after, PAGE).await?;
        let Some(last) = ids.last() else {
            return Ok(report);
        };
        after = last.to_string();
        for id in ids {
            check(store, id, &mut report).await?;
        }
    }
}

/// Reads the session before its events: events are only ever appended, so every event up
/// to the session's version is among them even while the session moves on.
async fn check(store: &dyn Store, id: SessionId, report: &mut Report) -> Result<(), StoreError> {
    let s = store.session(id).await?.ok_or(StoreError::NotFound)?;
    let events = store.events(id).await?;
    report.sessions += 1;
    report.events += events.len() as u64;
    let broken = |seq: i64, problem: &str| Break {
        session_id: id.to_string(),
        seq,
        problem: problem.to_owned(),
    };
    if events.first().is_some_and(|e| e.hash.is_none()) && s.event_hash.is_none() {
        report.unchained += 1;
        if let Some(e) = events.iter().find(|e| e.hash.is_some()) {
            report
                .breaks
                .push(broken(e.seq, "a hash after unchained events"));
        }
        return Ok(());
    }
    let mut previous = GENESIS.to_owned();
    for (i, e) in events.iter().enumerate() {
        if e.seq != i as i64 + 1 {
            report
                .breaks
                .push(broken(i as i64 + 1, "the event is missing"));
            return Ok(());
        }
        let Some(stored) = &e.hash else {
            report.breaks.push(broken(e.seq, "the event has no hash"));
            return Ok(());
        };
        if e.link().hash(&previous).as_ref() != Some(stored) {
            report.breaks.push(broken(
                e.seq,
                "the hash does not match the event and the one before it",
            ));
            return Ok(());
        }
        previous = stored.clone();
    }
    // Events read after the session may include transitions made since: the head is the
    // hash of the event its version made.
    let at_head = events.iter().find(|e| e.seq == s.version);
    if at_head.and_then(|e| e.hash.as_ref()) != s.event_hash.as_ref() || at_head.is_none() {
        report.breaks.push(broken(
            s.version,
            "the session's head does not match the event of its version",
        ));
    }
    Ok(())
}
