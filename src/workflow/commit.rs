//! Every transition: the machine applied once, each effect it names carried out, the
//! session row, its event and its frames (with the outbox row, the order's bookkeeping or
//! an inbox row when the transition brings one) stored in one transaction; then the frames
//! published and the work the effects start set going.

use serde_json::Value;
use tracing::Instrument;

use super::frames::{Numbered, ServerFrame};
use super::{Error, SessionContext, Workflow};
use crate::domain::machine::{self, Effect, Event, Transition};
use crate::domain::{Action, Actor, EndReason, EventKind, Mode, SessionId, SessionState};
use crate::store::{Commit, InboxEntry, NewEvent, NewSubmission, OrderEffect, Session, Submission};
use crate::understanding::audit;

/// What a transition records besides its event: who did it, the event's payload, and what
/// the session's sockets are told.
pub struct Step {
    pub actor: Actor,
    pub payload: Value,
    pub frames: Vec<ServerFrame>,
}

impl Step {
    pub fn new(actor: Actor, payload: Value) -> Self {
        Step {
            actor,
            payload,
            frames: Vec::new(),
        }
    }

    pub fn saying(mut self, frames: Vec<ServerFrame>) -> Self {
        self.frames = frames;
        self
    }
}

/// The machine's answer to an event, before anything is stored: callers that say
/// different things depending on where the session goes read it, then commit it.
pub struct Planned {
    event: Event,
    from: SessionState,
    moved: Transition,
}

impl Planned {
    pub fn to(&self) -> SessionState {
        self.moved.to
    }

    /// Whether the transition names `effect`.
    pub fn names(&self, effect: Effect) -> bool {
        self.moved.effects.contains(&effect)
    }
}

/// Work an effect starts once its transition is stored.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum FollowUp {
    Assess,
    /// Hand the submission, leased to this instance, to the provider.
    Deliver(Box<Submission>),
    Review,
}

/// A transition ready to be written.
struct Prepared {
    commit: Commit,
    follow_ups: Vec<FollowUp>,
}

impl Workflow {
    /// Applies the state machine to `event` in the session's current state.
    pub fn plan(&self, ctx: &SessionContext, event: Event) -> Result<Planned, Error> {
        let from = ctx.session.state;
        let moved = machine::transition(from, &event)?;
        Ok(Planned { event, from, moved })
    }

    /// Applies `event` to the session and stores it with `step`, if the session is still
    /// the version `ctx` holds. `edit` adds what only the caller knows (a new
    /// confirmation, a count).
    pub async fn commit(
        &self,
        ctx: &SessionContext,
        event: Event,
        step: Step,
        edit: impl FnOnce(&mut Commit),
    ) -> Result<Session, Error> {
        let planned = self.plan(ctx, event)?;
        self.commit_planned(ctx, planned, step, edit).await
    }

    /// Stores a planned transition: the one place effects are carried out.
    pub async fn commit_planned(
        &self,
        ctx: &SessionContext,
        planned: Planned,
        step: Step,
        edit: impl FnOnce(&mut Commit),
    ) -> Result<Session, Error> {
        let Prepared {
            mut commit,
            follow_ups,
        } = self.prepare(ctx, planned, step)?;
        edit(&mut commit);
        let (flow, s) = (self.clone(), ctx.session.clone());
        let calls = commit.model_calls.len();
        let saved = to_the_end(async move {
            let saved = flow.stored(s.id, flow.store.apply(s.id, s.version, &commit).await)?;
            transitioned(s.id, s.state, saved.state, commit.event.kind);
            flow.publish(s.id, saved.frame_seq, commit.frames);
            flow.follow_up(s.id, Some(&saved), &follow_ups);
            Ok(saved)
        })
        .await?;
        audit::stored(calls);
        Ok(saved)
    }

    /// As `commit_planned`, with `entry` stored in the inbox in the same transaction;
    /// `false` when the inbox had it already and nothing was written.
    pub(super) async fn commit_with_inbox(
        &self,
        ctx: &SessionContext,
        planned: Planned,
        step: Step,
        entry: InboxEntry,
    ) -> Result<bool, Error> {
        let Prepared { commit, follow_ups } = self.prepare(ctx, planned, step)?;
        let (flow, s) = (self.clone(), ctx.session.clone());
        to_the_end(async move {
            let written = flow.store.settle_webhook(&entry, s.id, s.version, &commit);
            let Some(saved) = flow.stored(s.id, written.await)? else {
                return Ok(false);
            };
            transitioned(s.id, s.state, saved.state, commit.event.kind);
            flow.publish(s.id, saved.frame_seq, commit.frames);
            flow.follow_up(s.id, Some(&saved), &follow_ups);
            Ok(true)
        })
        .await
    }

    /// Keeps what a write stored as this instance's copy of the session; a write that
    /// found the session moved drops the copy, so the next step reads it afresh.
    fn stored<T: Kept>(&self, id: SessionId, written: crate::store::Result<T>) -> Result<T, Error> {
        match written {
            Ok(saved) => {
                if let Some(s) = saved.kept() {
                    self.hub.remember(s);
                }
                Ok(saved)
            }
            Err(e) => {
                self.hub.forget_latest(id);
                Err(e.into())
            }
        }
    }

    fn prepare(
        &self,
        ctx: &SessionContext,
        planned: Planned,
        step: Step,
    ) -> Result<Prepared, Error> {
        let s = &ctx.session;
        if planned.from != s.state {
            return Err(Error::internal("a transition planned for another state"));
        }
        let moved = planned.moved;
        let mut change = s.change(self.clock.now());
        change.state = moved.to;
        change.reason = moved.reason;
        let mut frames = step.frames;
        if moved.to != s.state {
            frames.insert(0, status_frame(moved.to, moved.reason));
        }
        let json = frames.iter().map(ServerFrame::to_json).collect();
        let event = NewEvent {
            kind: planned.event.kind(),
            actor: step.actor,
            payload: step.payload,
        };
        let mut commit = Commit::new(change, event, json);
        commit.model_calls = audit::held();
        let mut follow_ups = Vec::new();
        for effect in moved.effects {
            follow_ups.extend(self.carry_out(effect, s, &mut commit)?);
        }
        leave_submitted(s, &mut commit)?;
        Ok(Prepared { commit, follow_ups })
    }

    /// Carries out one effect the machine named: what it writes goes into `commit`, in the
    /// same transaction as the state change; what it starts runs once that is stored.
    fn carry_out(
        &self,
        effect: Effect,
        s: &Session,
        commit: &mut Commit,
    ) -> Result<Option<FollowUp>, Error> {
        match effect {
            Effect::EnterMenuMode => commit.change.mode = Mode::Menu,
            Effect::VoidConfirmation => {
                commit.change.confirmation_hash = None;
                commit.change.confirmation_expires_at = None;
            }
            Effect::AssessRisk => return Ok(Some(FollowUp::Assess)),
            Effect::QueueForReview => return Ok(Some(FollowUp::Review)),
            Effect::SubmitToProvider => {
                let written = self.outbox(s, commit)?;
                let leased = written.leased_until.is_some();
                return Ok(leased.then(|| FollowUp::Deliver(Box::new(written.as_claimed()))));
            }
        }
        Ok(None)
    }

    /// Starts what the stored transition's effects call for; `saved` is the session as
    /// stored, when the write returned it, so the work need not read it again.
    fn follow_up(&self, id: SessionId, saved: Option<&Session>, follow_ups: &[FollowUp]) {
        for f in follow_ups {
            match f {
                FollowUp::Assess => {
                    let (flow, saved) = (self.clone(), saved.cloned());
                    let assess = async move {
                        if let Err(e) = flow.assess(id, saved).await {
                            tracing::warn!(session_id = %id, code = e.code(), "risk check failed; the sweeper retries it");
                        }
                    };
                    tokio::spawn(assess.in_current_span());
                }
                FollowUp::Deliver(submission) => self.deliver_now(*submission.clone()),
                FollowUp::Review => {
                    metrics::counter!(crate::metrics::REVIEWS_QUEUED).increment(1);
                    tracing::info!(session_id = %id, "queued for an operator's review");
                }
            }
        }
    }

    /// The outbox row (and, for a refund, the hold on the order) that entering `submitted`
    /// writes in the same transaction. Where this instance delivers, the row is written
    /// leased to it.
    fn outbox(&self, s: &Session, commit: &mut Commit) -> Result<NewSubmission, Error> {
        let action = proposed(s)?;
        let at = commit.change.at;
        let written = NewSubmission {
            idempotency_key: crate::payments::idempotency_key(s.id, &action),
            session_id: s.id,
            merchant_id: s.merchant_id.clone(),
            provider: self.provider.name().to_owned(),
            action: action.clone(),
            amount: action.amount(),
            at,
            leased_until: self.delivers.then(|| at + super::outbox::LEASE),
        };
        commit.submission = Some(written.clone());
        if let Action::Refund {
            order_id, amount, ..
        } = action
        {
            commit.order = Some(OrderEffect::Reserve {
                merchant_id: s.merchant_id.clone(),
                order_id,
                minor: amount.minor(),
            });
        }
        Ok(written)
    }

    /// Stores and publishes frames that change nothing else; returns the last one's seq.
    pub async fn say(&self, id: SessionId, frames: Vec<ServerFrame>) -> Result<i64, Error> {
        let json: Vec<Value> = frames.iter().map(ServerFrame::to_json).collect();
        let flow = self.clone();
        to_the_end(async move {
            let last = flow.store.append_frames(id, &json).await?;
            flow.hub.framed(id, last);
            flow.publish(id, last, json);
            Ok(last)
        })
        .await
    }

    /// Hands stored frames, the last numbered `last`, to this instance's sockets.
    pub fn publish(&self, id: SessionId, last: i64, frames: Vec<Value>) {
        let first = last - frames.len() as i64 + 1;
        let numbered = frames
            .into_iter()
            .enumerate()
            .map(|(i, frame)| Numbered {
                seq: first + i as i64,
                frame,
            })
            .collect();
        self.hub.publish(id, numbered);
    }
}

/// A write's result that may hold the session as stored.
trait Kept {
    fn kept(&self) -> Option<&Session>;
}

impl Kept for Session {
    fn kept(&self) -> Option<&Session> {
        Some(self)
    }
}

impl Kept for Option<Session> {
    fn kept(&self) -> Option<&Session> {
        self.as_ref()
    }
}

/// Leaving `submitted` finishes the submission; for a refund, the order's hold becomes
/// refunded money when it settled, and is released when it failed.
fn leave_submitted(s: &Session, commit: &mut Commit) -> Result<(), Error> {
    let to = commit.change.state;
    if s.state != SessionState::Submitted || to == SessionState::Submitted {
        return Ok(());
    }
    commit.finish_submission = true;
    if let Action::Refund {
        order_id, amount, ..
    } = proposed(s)?
    {
        let (merchant_id, minor) = (s.merchant_id.clone(), amount.minor());
        commit.order = Some(match to {
            SessionState::Settled => OrderEffect::Settle {
                merchant_id,
                order_id,
                minor,
            },
            _ => OrderEffect::Release {
                merchant_id,
                order_id,
                minor,
            },
        });
    }
    Ok(())
}

/// The action the shopper countersigned.
pub(super) fn proposed(s: &Session) -> Result<Action, Error> {
    s.proposed_action
        .clone()
        .ok_or_else(|| Error::internal("no proposed action"))
}

/// What the shopper is told about a state. A decline is never explained to them.
pub(super) fn status_frame(state: SessionState, reason: Option<EndReason>) -> ServerFrame {
    let reason = reason
        .filter(|_| state != SessionState::Declined)
        .map(|r| r.as_str().to_owned());
    ServerFrame::Status { state, reason }
}

/// Runs a write and the publishing of its frames to this instance's sockets in a task of
/// its own, to the end. A caller may be dropped at any await (a client hanging up
/// mid-request, a socket closing mid-turn) while its write still commits, and nothing else
/// hands those frames to sockets here: the relay skips this instance's own announcements.
pub(super) async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    match tokio::spawn(work.in_current_span()).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::internal(e)),
    }
}

/// Logs and counts a stored transition.
pub(super) fn transitioned(id: SessionId, from: SessionState, to: SessionState, event: EventKind) {
    metrics::counter!(crate::metrics::TRANSITIONS, "from" => from.as_str(), "to" => to.as_str())
        .increment(1);
    tracing::info!(session_id = %id, from = %from, to = %to, event = %event, "transition");
}
