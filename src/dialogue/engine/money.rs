//! After consent: the risk check, the review decision and settlement. Each is one
//! transition through `commit`, under the session's turn.

use chrono::TimeDelta;

use super::*;
use crate::domain::InboxOutcome;
use crate::domain::machine::Score;
use crate::payments::webhook::{self, Notification};
use crate::risk::RiskInput;
use crate::risk::rules::{MERCHANT_WINDOW, SHOPPER_WINDOW};
use crate::store::InboxEntry;

/// A session left in pending_risk_check this long was interrupted (a crash after consent).
const STALLED_AFTER: TimeDelta = TimeDelta::seconds(5);

fn proposed(s: &Session) -> Result<Action, FrameError> {
    s.proposed_action
        .clone()
        .ok_or_else(|| internal("no proposed action"))
}

async fn risk_input(app: &AppState, turn: &Turn) -> Result<RiskInput, FrameError> {
    let s = &turn.session;
    let action = proposed(s)?;
    let now = crate::clock::now();
    let stats = app
        .store
        .risk_stats(
            &s.merchant_id,
            &s.user_id,
            s.device.as_deref(),
            s.id,
            now - SHOPPER_WINDOW,
            now - MERCHANT_WINDOW,
        )
        .await
        .map_err(store_error)?;
    let order = match &action {
        Action::Refund { order_id, .. } => app
            .store
            .order(&s.merchant_id, order_id)
            .await
            .map_err(store_error)?,
        Action::Transfer { .. } => None,
    };
    let contact = match &action {
        Action::Transfer { contact_id, .. } => app
            .store
            .contact(&s.merchant_id, contact_id)
            .await
            .map_err(store_error)?,
        Action::Refund { .. } => None,
    };
    Ok(RiskInput {
        session_id: s.id,
        merchant_id: s.merchant_id.to_string(),
        user_id: s.user_id.to_string(),
        device: s.device.clone(),
        action,
        order,
        contact,
        policy: turn.policy.clone(),
        stats,
    })
}

/// What the shopper hears after the risk check; a decline is never explained.
fn outcome_frames(lang: Lang, to: SessionState) -> Vec<ServerFrame> {
    let text = match to {
        SessionState::Submitted => t(
            lang,
            "Approved. It is on its way to the payment provider.",
            "已批准，正在提交给支付机构。",
        ),
        SessionState::ManualReview => t(
            lang,
            "A colleague will review this shortly.",
            "我们的同事会尽快审核。",
        ),
        _ => t(
            lang,
            "We could not complete this request.",
            "我们无法完成此请求。",
        ),
    };
    vec![ServerFrame::agent(text)]
}

/// Scores a consented session and moves it on: submitted, manual_review or declined.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn assess(app: &AppState, id: SessionId) -> Result<(), FrameError> {
    let _turn = app.hub.turn(id).await;
    for _ in 0..3 {
        let turn = load_without_book(app, id).await?;
        if turn.session.state != SessionState::PendingRiskCheck {
            return Ok(());
        }
        let input = risk_input(app, &turn).await?;
        let assessment = app.risk.assess(&input).await;
        let score =
            Score::new(assessment.score).ok_or_else(|| internal("risk score out of range"))?;
        let event = Event::RiskScored {
            score,
            thresholds: turn.policy.risk,
        };
        let to = machine::transition(turn.session.state, &event)
            .map_err(not_allowed)?
            .to;
        let payload = serde_json::to_value(&assessment).map_err(internal)?;
        let frames = outcome_frames(turn.draft.lang, to);
        match commit(app, &turn, event, Actor::System, payload, frames, |_| {}).await {
            Ok(_) => {
                if to == SessionState::Submitted {
                    app.dispatch.notify_one();
                }
                return Ok(());
            }
            // Another refund took the money first: score again, now with its hold in view.
            Err(e) if e.code == "insufficient_refundable" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(internal("risk check kept racing other refunds"))
}

/// Assesses sessions whose risk check was interrupted.
pub async fn assess_stalled(app: &AppState) {
    let before = crate::clock::now() - STALLED_AFTER;
    let stalled = app
        .store
        .stalled(SessionState::PendingRiskCheck, before, 50)
        .await
        .unwrap_or_default();
    for id in stalled {
        if let Err(e) = assess(app, id).await {
            tracing::warn!(session_id = %id, code = e.code, "could not assess a stalled session");
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewDecision {
    Approve,
    Decline,
}

/// An operator's decision on a session in manual_review.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn decide_review(
    app: &AppState,
    id: SessionId,
    decision: ReviewDecision,
    decided_by: &crate::domain::MerchantId,
    reviewer: Option<&str>,
    note: Option<&str>,
) -> Result<Session, FrameError> {
    let _turn = app.hub.turn(id).await;
    let turn = load_without_book(app, id).await?;
    if turn.session.state != SessionState::ManualReview {
        let message = format!("the session is {}, not in review", turn.session.state);
        return Err(FrameError::new("not_in_review", message));
    }
    let event = match decision {
        ReviewDecision::Approve => Event::ReviewApproved,
        ReviewDecision::Decline => Event::ReviewDeclined,
    };
    let to = machine::transition(turn.session.state, &event)
        .map_err(not_allowed)?
        .to;
    let payload = json!({ "decided_by": decided_by, "reviewer": reviewer, "note": note });
    let lang = turn.draft.lang;
    let approved = commit(
        app,
        &turn,
        event,
        Actor::Operator,
        payload.clone(),
        outcome_frames(lang, to),
        |_| {},
    )
    .await;
    match approved {
        Ok(saved) => {
            if saved.state == SessionState::Submitted {
                app.dispatch.notify_one();
            }
            Ok(saved)
        }
        // Another refund of the order took the money while this one waited: the approval
        // cannot be carried out, so the session is declined and the shopper told.
        Err(e) if e.code == "insufficient_refundable" => {
            let mut payload = payload;
            payload["refused"] = json!(e.code);
            let frames = outcome_frames(lang, SessionState::Declined);
            let declined = Event::ReviewDeclined;
            commit(app, &turn, declined, Actor::System, payload, frames, |_| {}).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// What became of a verified settlement notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleOutcome {
    Applied,
    Duplicate,
    Orphan,
    Ignored,
    Mismatch,
}

/// Records a verified notification in the inbox and, when it settles or fails a submitted
/// session, moves the session in the same transaction.
#[tracing::instrument(name = "settlement", skip_all, fields(session_id = %n.session_id))]
pub async fn settle(
    app: &AppState,
    n: &Notification,
    raw: serde_json::Value,
) -> Result<SettleOutcome, FrameError> {
    let merchant_id =
        crate::domain::MerchantId::parse(&n.merchant_id).map_err(|_| internal("merchant id"))?;
    let entry = |outcome: InboxOutcome| InboxEntry {
        merchant_id: merchant_id.clone(),
        event_id: n.id.clone(),
        session_id: n.session_id.clone(),
        kind: n.kind.clone(),
        idempotency_key: n.idempotency_key.clone(),
        outcome,
        payload: raw.clone(),
        received_at: crate::clock::now(),
    };
    let session = SessionId::parse(&n.session_id).ok();
    let Some(id) = session else {
        return record(app, &entry(InboxOutcome::Orphan), None)
            .await
            .map(|new| {
                if new {
                    SettleOutcome::Orphan
                } else {
                    SettleOutcome::Duplicate
                }
            });
    };
    let _turn = app.hub.turn(id).await;
    for _ in 0..3 {
        let turn = match load_without_book(app, id).await {
            Ok(turn) if turn.session.merchant_id == merchant_id => turn,
            Ok(_)
            | Err(FrameError {
                code: "not_found", ..
            }) => {
                let new = record(app, &entry(InboxOutcome::Orphan), None).await?;
                return Ok(if new {
                    SettleOutcome::Orphan
                } else {
                    SettleOutcome::Duplicate
                });
            }
            Err(e) => return Err(e),
        };
        let submission = app
            .store
            .submission_for_session(id)
            .await
            .map_err(store_error)?;
        let matches = submission
            .as_ref()
            .is_some_and(|s| s.idempotency_key == n.idempotency_key && s.amount == n.amount);
        if turn.session.state != SessionState::Submitted || !matches {
            let outcome = if matches {
                (InboxOutcome::Ignored, SettleOutcome::Ignored)
            } else {
                (InboxOutcome::Mismatch, SettleOutcome::Mismatch)
            };
            if outcome.1 == SettleOutcome::Mismatch {
                tracing::warn!(session_id = %id, "settlement notification does not match the submission");
            }
            let new = record(app, &entry(outcome.0), None).await?;
            return Ok(if new {
                outcome.1
            } else {
                SettleOutcome::Duplicate
            });
        }
        match settle_commit(app, &turn, n, &entry(InboxOutcome::Applied)).await {
            Ok(true) => return Ok(SettleOutcome::Applied),
            Ok(false) => return Ok(SettleOutcome::Duplicate),
            Err(e) if e.code == "concurrent_update" => continue,
            Err(e) => return Err(e),
        }
    }
    Err(internal("settlement kept racing other writers"))
}

async fn record(
    app: &AppState,
    entry: &InboxEntry,
    then: Option<(SessionId, i64, &Commit)>,
) -> Result<bool, FrameError> {
    app.store
        .record_webhook(entry, then)
        .await
        .map_err(store_error)
}

/// Builds the settled/failed transition and stores it with the inbox row.
async fn settle_commit(
    app: &AppState,
    turn: &Turn,
    n: &Notification,
    entry: &InboxEntry,
) -> Result<bool, FrameError> {
    let s = &turn.session;
    let succeeded = n.kind == webhook::SUCCEEDED;
    let event = if succeeded {
        Event::SettlementSucceeded
    } else {
        Event::SettlementFailed
    };
    let moved = machine::transition(s.state, &event).map_err(not_allowed)?;
    let lang = turn.draft.lang;
    let text = if succeeded {
        t(
            lang,
            "Done: the payment provider confirmed it.",
            "完成：支付机构已确认。",
        )
    } else {
        t(
            lang,
            "The payment provider could not complete it. Nothing was moved.",
            "支付机构未能完成，未进行任何操作。",
        )
    };
    let frames: Vec<Value> = [
        status_frame(moved.to, moved.reason),
        ServerFrame::agent(text),
    ]
    .iter()
    .map(ServerFrame::to_json)
    .collect();
    let mut change = s.change(crate::clock::now());
    change.state = moved.to;
    change.reason = moved.reason;
    let payload = json!({ "provider_reference": n.provider_reference, "event_id": n.id, "failure_reason": n.failure_reason });
    let mut commit = Commit::new(
        change,
        NewEvent {
            kind: event.kind(),
            actor: Actor::Provider,
            payload,
        },
        frames,
    );
    commit.finish_submission = true;
    if let Action::Refund {
        order_id, amount, ..
    } = proposed(s)?
    {
        let (merchant_id, minor) = (s.merchant_id.clone(), amount.minor());
        commit.order = Some(if succeeded {
            OrderEffect::Settle {
                merchant_id,
                order_id,
                minor,
            }
        } else {
            OrderEffect::Release {
                merchant_id,
                order_id,
                minor,
            }
        });
    }
    let (app, s, entry, to) = (app.clone(), s.clone(), entry.clone(), moved.to);
    to_the_end(async move {
        let inserted = record(&app, &entry, Some((s.id, s.version, &commit))).await?;
        if inserted {
            transitioned(&s, to, commit.event.kind);
            let last = s.frame_seq + commit.frames.len() as i64;
            publish(&app, s.id, last, commit.frames);
        }
        Ok(inserted)
    })
    .await
}

/// The provider refused a submission for good: the session failed and the hold is released.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn provider_refused(app: &AppState, id: SessionId, why: &str) {
    let _turn = app.hub.turn(id).await;
    let Ok(turn) = load_without_book(app, id).await else {
        return;
    };
    if turn.session.state != SessionState::Submitted {
        return;
    }
    let lang = turn.draft.lang;
    let text = t(
        lang,
        "The payment provider could not complete it. Nothing was moved.",
        "支付机构未能完成，未进行任何操作。",
    );
    let release = proposed(&turn.session).ok().and_then(|a| match a {
        Action::Refund {
            order_id, amount, ..
        } => Some((order_id, amount.minor())),
        Action::Transfer { .. } => None,
    });
    let merchant_id = turn.session.merchant_id.clone();
    let result = commit(
        app,
        &turn,
        Event::SettlementFailed,
        Actor::Provider,
        json!({ "refused": why }),
        vec![ServerFrame::agent(text)],
        |c| {
            c.finish_submission = true;
            c.order = release.map(|(order_id, minor)| OrderEffect::Release {
                merchant_id,
                order_id,
                minor,
            });
        },
    )
    .await;
    if let Err(e) = result {
        tracing::error!(session_id = %id, code = e.code, "could not fail a refused submission");
    }
}
