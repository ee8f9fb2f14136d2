//! One turn of the dialogue: load the session, decide, persist the transition with its
//! event and frames in one transaction, then publish the frames to the session's sockets.

use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use super::dispose::{self, Book, Decision, Question, t};
use super::frames::{ClientFrame, FrameError, Numbered, ServerFrame};
use super::menu;
use crate::app::AppState;
use crate::confirmation::{self, Draft as Confirmation};
use crate::domain::draft::{Draft, Field, Role};
use crate::domain::machine::{self, Effect, Event};
use crate::domain::{Action, Actor, EndReason, Lang, Mode, Policy, SessionId, SessionState};
use crate::merchants::API_SECRET_CONTEXT;
use crate::payments;
use crate::secrets::hash_credential;
use crate::store::{
    Commit, Contact, Merchant, NewEvent, NewSubmission, Order, OrderEffect, Session, StoreError,
};
use crate::understanding::{Context, Phrase, UnderstandingError};

/// Orders a shopper is offered or matched against.
const BOOK_ORDERS: i64 = 20;

/// A session loaded for one turn.
pub(crate) struct Turn {
    pub session: Session,
    pub merchant: Merchant,
    pub policy: Policy,
    pub draft: Draft,
    pub orders: Vec<Order>,
    pub contacts: Vec<Contact>,
    /// Every model endpoint failed while this turn was speaking.
    pub model_down: bool,
}

impl Turn {
    pub(crate) fn book(&self) -> Book<'_> {
        Book {
            orders: &self.orders,
            contacts: &self.contacts,
            now: crate::clock::now(),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> FrameError {
    tracing::error!(error = %e, "dialogue failure");
    FrameError::new(
        "internal",
        "something went wrong on our side; nothing was moved",
    )
}

fn store_error(e: StoreError) -> FrameError {
    match e {
        StoreError::Conflict => FrameError::new(
            "concurrent_update",
            "the session changed meanwhile; nothing was moved",
        ),
        StoreError::NotFound => FrameError::new("not_found", "session not found"),
        StoreError::Insufficient => FrameError::new(
            "insufficient_refundable",
            "the order no longer has that much to refund",
        ),
        other => internal(other),
    }
}

pub(crate) async fn load(app: &AppState, id: SessionId) -> Result<Turn, FrameError> {
    let mut turn = load_without_book(app, id).await?;
    open_book(app, &mut turn).await?;
    Ok(turn)
}

/// Reads the shopper's orders and contacts into `turn`.
async fn open_book(app: &AppState, turn: &mut Turn) -> Result<(), FrameError> {
    turn.orders = app
        .store
        .orders_for_user(&turn.merchant.id, &turn.session.user_id, BOOK_ORDERS)
        .await
        .map_err(store_error)?;
    turn.contacts = app
        .store
        .contacts_for_user(&turn.merchant.id, &turn.session.user_id)
        .await
        .map_err(store_error)?;
    Ok(())
}

/// The session, its merchant and policy, with an empty book: for turns that never consult
/// the shopper's orders or contacts (consent, risk, settlement, review decisions).
pub(crate) async fn load_without_book(app: &AppState, id: SessionId) -> Result<Turn, FrameError> {
    let session = app
        .store
        .session(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| store_error(StoreError::NotFound))?;
    let merchant = app
        .merchants
        .by_id(app.store.as_ref(), &session.merchant_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| internal("merchant vanished"))?;
    let policy = merchant.policy.parse().map_err(internal)?;
    let draft = session.draft.clone();
    Ok(Turn {
        session,
        merchant,
        policy,
        draft,
        orders: Vec::new(),
        contacts: Vec::new(),
        model_down: false,
    })
}

/// Handles one client frame. Session frames go to every socket; the error is this caller's.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn handle(app: &AppState, id: SessionId, frame: ClientFrame) -> Result<(), FrameError> {
    let started = std::time::Instant::now();
    let kind = frame.kind();
    let result = turn_for(app, id, frame).await;
    let seconds = started.elapsed().as_secs_f64();
    metrics::histogram!(crate::metrics::TURN_SECONDS, "frame" => kind).record(seconds);
    result
}

async fn turn_for(app: &AppState, id: SessionId, frame: ClientFrame) -> Result<(), FrameError> {
    if matches!(frame, ClientFrame::Resume { .. } | ClientFrame::Ping) {
        return Ok(());
    }
    let _turn = app.hub.turn(id).await;
    let mut turn = load_without_book(app, id).await?;
    if matches!(
        frame,
        ClientFrame::UserMessage { .. } | ClientFrame::MenuSelect { .. }
    ) {
        open_book(app, &mut turn).await?;
    }
    match frame {
        ClientFrame::UserMessage { text } => user_message(app, &mut turn, &text).await,
        ClientFrame::Confirm { token } => confirm(app, &mut turn, &token).await,
        ClientFrame::Cancel => cancel(app, &turn).await,
        ClientFrame::MenuSelect { option_id, value } => {
            menu_select(app, &mut turn, &option_id, value.as_deref()).await
        }
        ClientFrame::Resume { .. } | ClientFrame::Ping => Ok(()),
    }
}

/// Greets a session the first time a client arrives, and reads the text it was opened with.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn start(app: &AppState, id: SessionId) -> Result<(), FrameError> {
    let _turn = app.hub.turn(id).await;
    let mut turn = load_without_book(app, id).await?;
    if turn.session.frame_seq > 0 || turn.session.state.is_terminal() {
        return Ok(());
    }
    let events = app.store.events(id).await.map_err(store_error)?;
    let opening = events
        .first()
        .and_then(|e| e.payload["text"].as_str())
        .map(str::to_owned);
    if let Some(text) = &opening {
        turn.draft.lang = Lang::of(text);
    }
    if opening.is_some() || turn.session.mode == Mode::Menu {
        open_book(app, &mut turn).await?;
    }
    let lang = turn.draft.lang;
    let mut frames = vec![ServerFrame::agent(t(
        lang,
        "Hi! I can help with refunds and transfers.",
        "您好！我可以帮您退款或转账。",
    ))];
    if turn.session.mode == Mode::Menu {
        frames.push(menu::view(&turn.draft, &turn.policy, &turn.book()));
    }
    say(app, id, frames).await?;
    match opening {
        Some(text) if turn.session.mode == Mode::Chat => user_message(app, &mut turn, &text).await,
        _ => Ok(()),
    }
}

fn accepts_messages(s: &Session) -> Result<(), FrameError> {
    match s.state {
        SessionState::Collecting
        | SessionState::Clarifying
        | SessionState::AwaitingConfirmation => Ok(()),
        state => Err(FrameError::new(
            "session_closed",
            format!("this session is {state} and takes no more messages"),
        )),
    }
}

/// Follows the shopper's language: Chinese when they write it, English when they write
/// letters, unchanged for bare numbers.
fn follow_language(draft: &mut Draft, text: &str) {
    if Lang::of(text) == Lang::Zh {
        draft.lang = Lang::Zh;
    } else if text.chars().any(|c| c.is_ascii_alphabetic()) {
        draft.lang = Lang::En;
    }
}

async fn user_message(app: &AppState, turn: &mut Turn, text: &str) -> Result<(), FrameError> {
    accepts_messages(&turn.session)?;
    // A button's id ("full", "1042") answers a question; it says nothing about language.
    let answers_question = turn
        .draft
        .asking
        .as_ref()
        .is_some_and(|a| dispose::pick(&a.candidates, text).is_some());
    if !answers_question {
        follow_language(&mut turn.draft, text);
    }
    if turn.session.mode == Mode::Menu {
        return typed_in_menu(app, turn, text).await;
    }
    let ctx = context(turn);
    let extraction = match app.understanding.extract(&ctx, text).await {
        Ok(e) => e,
        Err(UnderstandingError::Unavailable) => return model_unavailable(app, turn).await,
    };
    turn.draft.remember(Role::Shopper, text);
    let book = Book {
        orders: &turn.orders,
        contacts: &turn.contacts,
        now: crate::clock::now(),
    };
    let asked = turn.draft.asking.as_ref().map(|a| a.field);
    let decision = dispose::dispose(&mut turn.draft, &extraction, text, &turn.policy, &book);
    let payload = json!({ "text": text, "extraction": extraction });
    if turn.session.state == SessionState::Clarifying && resolves(&decision, asked) {
        // A useful answer ends the round: only questions asked in vain count to the cap.
        turn.session = commit(
            app,
            turn,
            Event::ClarificationResolved,
            Actor::Shopper,
            payload.clone(),
            vec![],
            |c| c.change.clarifications = 0,
        )
        .await?;
    }
    if turn.session.state == SessionState::AwaitingConfirmation
        && !matches!(decision, Decision::Answer(_))
    {
        // Anything but consent replaces the summary the shopper was shown.
        turn.session = commit(
            app,
            turn,
            Event::Corrected,
            Actor::Shopper,
            payload.clone(),
            vec![],
            |_| {},
        )
        .await?;
    }
    act(app, turn, decision, payload).await?;
    // The model read the message but could not answer it: the menu from here, at once.
    let open = matches!(
        turn.session.state,
        SessionState::Collecting | SessionState::Clarifying
    );
    if turn.model_down && open && turn.session.mode == Mode::Chat {
        return model_unavailable(app, turn).await;
    }
    Ok(())
}

/// Whether the decision moves past the question that was asked: a proposal, or a
/// question about something else.
fn resolves(decision: &Decision, asked: Option<Field>) -> bool {
    match decision {
        Decision::Propose { .. } => true,
        Decision::Clarify(q) => Some(q.field) != asked,
        _ => false,
    }
}

fn context(turn: &Turn) -> Context {
    Context {
        session_id: turn.session.id.to_string(),
        merchant_id: turn.merchant.id.to_string(),
        currency: turn.policy.currency.code().to_owned(),
        history: turn.draft.history.clone(),
    }
}

/// Says `text`, rephrased by the model when there is one, streaming its pieces. When no
/// endpoint could speak, the turn notes it and `text` is said as it is.
async fn phrased(app: &AppState, turn: &mut Turn, text: String) -> String {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
    let id = turn.session.id;
    let relay = {
        let app = app.clone();
        let pieces = async move {
            while let Some(piece) = rx.recv().await {
                let _ = say(&app, id, vec![ServerFrame::AgentDelta { text: piece }]).await;
            }
        };
        tokio::spawn(pieces.in_current_span())
    };
    let said = app
        .understanding
        .phrase(&context(turn), &Phrase { text: text.clone() }, &tx)
        .await;
    drop(tx);
    let _ = relay.await;
    match said {
        Ok(said) if !said.trim().is_empty() => said,
        Ok(_) => text,
        Err(UnderstandingError::Unavailable) => {
            turn.model_down = true;
            text
        }
    }
}

async fn act(
    app: &AppState,
    turn: &mut Turn,
    decision: Decision,
    payload: Value,
) -> Result<(), FrameError> {
    match decision {
        Decision::Propose { action, payee } => propose(app, turn, action, payee).await,
        Decision::Clarify(q) => clarify(app, turn, q, payload).await,
        Decision::Refuse { code, text } => {
            let text = phrased(app, turn, text).await;
            turn.draft.remember(Role::Agent, &text);
            let payload = json!({ "refused": code, "turn": payload });
            turn.session = commit(
                app,
                turn,
                Event::ProposalRefused,
                Actor::System,
                payload,
                vec![ServerFrame::agent(text)],
                |_| {},
            )
            .await?;
            Ok(())
        }
        Decision::Answer(text) => {
            let text = phrased(app, turn, text).await;
            say(app, turn.session.id, vec![ServerFrame::agent(text)])
                .await
                .map(|_| ())
        }
        Decision::Cancel => cancel(app, turn).await,
    }
}

async fn clarify(
    app: &AppState,
    turn: &mut Turn,
    q: Question,
    payload: Value,
) -> Result<(), FrameError> {
    let asked = u32::try_from(turn.session.clarifications).unwrap_or(u32::MAX);
    let event = Event::ClarificationNeeded {
        asked,
        max: turn.policy.max_clarifications,
    };
    let moved = machine::transition(turn.session.state, &event).map_err(not_allowed)?;
    if moved.effects.contains(&Effect::EnterMenuMode) {
        let lang = turn.draft.lang;
        let note = t(lang, "Let's use the menu instead.", "我们改用菜单吧。");
        let frames = vec![
            ServerFrame::agent(note),
            menu::view(&turn.draft, &turn.policy, &turn.book()),
        ];
        turn.session = commit(app, turn, event, Actor::System, payload, frames, |_| {}).await?;
        return Ok(());
    }
    let question = phrased(app, turn, q.text.clone()).await;
    turn.draft.remember(Role::Agent, &question);
    turn.draft.asking = Some(q.asking());
    let frame = ServerFrame::Clarify {
        field: q.field,
        question,
        candidates: q.candidates,
    };
    let payload = json!({ "field": q.field, "turn": payload });
    turn.session = commit(app, turn, event, Actor::System, payload, vec![frame], |c| {
        c.change.clarifications += 1
    })
    .await?;
    Ok(())
}

/// Signs the confirmation for `action` and asks the shopper to countersign it.
async fn propose(
    app: &AppState,
    turn: &mut Turn,
    action: crate::domain::Action,
    payee: Option<String>,
) -> Result<(), FrameError> {
    let secret = app
        .keys
        .open(API_SECRET_CONTEXT, &turn.merchant.api_secret_sealed)
        .map_err(internal)?;
    let summary = action.summary(turn.draft.lang, payee.as_deref());
    let issued = Confirmation {
        session_id: &turn.session.id.to_string(),
        merchant_id: turn.merchant.id.as_str(),
        action: action.clone(),
        summary: summary.clone(),
        issued_at: crate::clock::now(),
        ttl_seconds: turn.policy.confirmation_ttl_seconds,
        kid: &turn.merchant.signing_kid,
    }
    .sign(secret.expose());
    let expires_at = chrono::DateTime::from_timestamp(issued.payload.expires_at, 0)
        .ok_or_else(|| internal("expiry out of range"))?;
    turn.draft.asking = None;
    turn.draft.remember(Role::Agent, &summary);
    let frame = ServerFrame::ConfirmationRequired {
        expires_at: issued.payload.expires_at,
        token: issued.token,
        payload: Box::new(issued.payload),
    };
    let payload = json!({ "action": action, "summary": summary, "expires_at": expires_at });
    commit(
        app,
        turn,
        Event::ConfirmationIssued,
        Actor::System,
        payload,
        vec![frame],
        |c| {
            c.change.proposed_action = Some(action);
            c.change.confirmation_hash = Some(issued.token_hash);
            c.change.confirmation_expires_at = Some(expires_at);
        },
    )
    .await?;
    Ok(())
}

async fn confirm(app: &AppState, turn: &mut Turn, token: &str) -> Result<(), FrameError> {
    if turn.session.state != SessionState::AwaitingConfirmation {
        let message = format!(
            "there is no confirmation waiting (the session is {}); nothing was moved",
            turn.session.state
        );
        return Err(FrameError::new("not_awaiting_confirmation", message));
    }
    let secret = app
        .keys
        .open(API_SECRET_CONTEXT, &turn.merchant.api_secret_sealed)
        .map_err(internal)?;
    let kid = turn.merchant.signing_kid.clone();
    let verified = confirmation::verify(token, |k| {
        (k == kid).then(|| confirmation::key_for(secret.expose(), k))
    });
    let Ok(payload) = verified else {
        let lang = turn.draft.lang;
        let text = t(
            lang,
            "That confirmation was altered, so nothing was moved and this session is closed.",
            "该确认信息被篡改，未进行任何操作，本次会话已关闭。",
        );
        commit(
            app,
            turn,
            Event::ConfirmationTampered,
            Actor::Shopper,
            json!({}),
            vec![ServerFrame::agent(text)],
            |_| {},
        )
        .await?;
        return Err(FrameError::new(
            "confirmation_tampered",
            "the confirmation token is not valid; the session is cancelled",
        ));
    };
    if payload.session_id != turn.session.id.to_string() {
        return Err(FrameError::new(
            "confirmation_mismatch",
            "that confirmation belongs to another session; nothing was moved",
        ));
    }
    let current = turn
        .session
        .confirmation_hash
        .as_deref()
        .unwrap_or_default();
    if !bool::from(hash_credential(token).as_bytes().ct_eq(current.as_bytes())) {
        return Err(FrameError::new(
            "confirmation_stale",
            "that confirmation was replaced by a newer one; nothing was moved",
        ));
    }
    if crate::clock::now().timestamp() >= payload.expires_at {
        expire(app, turn).await?;
        return Err(FrameError::new(
            "confirmation_expired",
            "that confirmation has expired; nothing was moved",
        ));
    }
    let record =
        json!({ "action": payload.action, "summary": payload.summary, "nonce": payload.nonce });
    commit(
        app,
        turn,
        Event::Confirmed,
        Actor::Shopper,
        record,
        vec![],
        |_| {},
    )
    .await?;
    // The risk check runs as soon as this turn ends; the sweeper catches it after a crash.
    let (app, id) = (app.clone(), turn.session.id);
    tokio::spawn(async move {
        if let Err(e) = assess(&app, id).await {
            tracing::warn!(session_id = %id, code = e.code, "risk check failed; it will be retried");
        }
    });
    Ok(())
}

async fn cancel(app: &AppState, turn: &Turn) -> Result<(), FrameError> {
    let lang = turn.draft.lang;
    let text = t(
        lang,
        "Cancelled. Nothing was moved.",
        "已取消，未进行任何操作。",
    );
    commit(
        app,
        turn,
        Event::Cancelled,
        Actor::Shopper,
        json!({}),
        vec![ServerFrame::agent(text)],
        |_| {},
    )
    .await?;
    Ok(())
}

/// Moves a session whose confirmation ran out to `expired`.
async fn expire(app: &AppState, turn: &Turn) -> Result<(), FrameError> {
    let lang = turn.draft.lang;
    let text = t(
        lang,
        "The confirmation expired, so nothing was moved.",
        "确认已过期，未进行任何操作。",
    );
    commit(
        app,
        turn,
        Event::ConfirmationExpired,
        Actor::System,
        json!({}),
        vec![ServerFrame::agent(text)],
        |_| {},
    )
    .await?;
    Ok(())
}

/// Expires `id` if it is still waiting on a confirmation that has run out.
#[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
pub async fn expire_if_due(app: &AppState, id: SessionId) -> Result<(), FrameError> {
    let _turn = app.hub.turn(id).await;
    let turn = load_without_book(app, id).await?;
    let due = turn
        .session
        .confirmation_expires_at
        .is_some_and(|at| at <= crate::clock::now());
    if turn.session.state == SessionState::AwaitingConfirmation && due {
        expire(app, &turn).await?;
    }
    Ok(())
}

/// Every model endpoint failed: continue with the menu at once.
async fn model_unavailable(app: &AppState, turn: &mut Turn) -> Result<(), FrameError> {
    let lang = turn.draft.lang;
    if turn.session.state == SessionState::AwaitingConfirmation {
        let text = t(
            lang,
            "I can't read messages right now. Please confirm or cancel the summary above.",
            "暂时无法理解消息。请确认或取消上面的摘要。",
        );
        return say(app, turn.session.id, vec![ServerFrame::agent(text)])
            .await
            .map(|_| ());
    }
    let note = t(
        lang,
        "I can't understand messages right now, so let's use the menu.",
        "暂时无法理解消息，我们改用菜单吧。",
    );
    let frames = vec![
        ServerFrame::agent(note),
        menu::view(&turn.draft, &turn.policy, &turn.book()),
    ];
    commit(
        app,
        turn,
        Event::MenuFallback,
        Actor::System,
        json!({ "cause": "model_unavailable" }),
        frames,
        |_| {},
    )
    .await?;
    Ok(())
}

async fn typed_in_menu(app: &AppState, turn: &mut Turn, text: &str) -> Result<(), FrameError> {
    if menu::step(&turn.draft) == menu::Step::Amount {
        return menu_select(app, turn, menu::custom(), Some(text)).await;
    }
    Err(FrameError::new(
        "menu_mode",
        "please choose one of the menu's options",
    ))
}

async fn menu_select(
    app: &AppState,
    turn: &mut Turn,
    option: &str,
    value: Option<&str>,
) -> Result<(), FrameError> {
    if turn.session.state != SessionState::Collecting {
        return Err(FrameError::new(
            "no_menu",
            format!("the session is {} and has no menu now", turn.session.state),
        ));
    }
    if turn.session.mode == Mode::Chat {
        let payload = json!({ "cause": "shopper_chose_menu" });
        turn.session = commit(
            app,
            turn,
            Event::MenuFallback,
            Actor::Shopper,
            payload,
            vec![],
            |_| {},
        )
        .await?;
    }
    let book = Book {
        orders: &turn.orders,
        contacts: &turn.contacts,
        now: crate::clock::now(),
    };
    let outcome = menu::select(&mut turn.draft, option, value, &turn.policy, &book)?;
    let payload = json!({ "option_id": option, "value": value });
    let refused = match outcome {
        menu::Outcome::Cancel => return cancel(app, turn).await,
        menu::Outcome::Next => None,
        menu::Outcome::Ready => match dispose::next_step(&mut turn.draft, &turn.policy, &book) {
            Decision::Propose { action, payee } => return propose(app, turn, action, payee).await,
            Decision::Refuse { code, text } => Some((code, text)),
            _ => None,
        },
    };
    let menu_frame = menu::view(&turn.draft, &turn.policy, &turn.book());
    let (event, actor, payload, frames) = match refused {
        Some((code, text)) => {
            let payload = json!({ "refused": code, "turn": payload });
            (
                Event::ProposalRefused,
                Actor::System,
                payload,
                vec![ServerFrame::agent(text), menu_frame],
            )
        }
        None => (Event::MenuStep, Actor::Shopper, payload, vec![menu_frame]),
    };
    commit(app, turn, event, actor, payload, frames, |_| {}).await?;
    Ok(())
}

fn not_allowed(e: machine::TransitionError) -> FrameError {
    FrameError::new("not_allowed", e.to_string())
}

/// What the shopper is told about a state. A decline is never explained to them.
fn status_frame(state: SessionState, reason: Option<EndReason>) -> ServerFrame {
    let reason = reason
        .filter(|_| state != SessionState::Declined)
        .map(|r| r.as_str().to_owned());
    ServerFrame::Status { state, reason }
}

/// Applies `event` to the session, persists it with `frames` (and a status frame when the
/// state changes) in one transaction, and publishes the frames.
pub(super) async fn commit(
    app: &AppState,
    turn: &Turn,
    event: Event,
    actor: Actor,
    payload: Value,
    mut frames: Vec<ServerFrame>,
    edit: impl FnOnce(&mut Commit),
) -> Result<Session, FrameError> {
    let s = &turn.session;
    let moved = machine::transition(s.state, &event).map_err(not_allowed)?;
    let mut change = s.change(crate::clock::now());
    change.state = moved.to;
    change.reason = moved.reason;
    change.draft = turn.draft.clone();
    for effect in &moved.effects {
        match effect {
            Effect::EnterMenuMode => change.mode = Mode::Menu,
            Effect::VoidConfirmation => {
                change.confirmation_hash = None;
                change.confirmation_expires_at = None;
            }
            Effect::AssessRisk | Effect::QueueForReview | Effect::SubmitToProvider => {}
        }
    }
    if moved.to != s.state {
        frames.insert(0, status_frame(moved.to, moved.reason));
    }
    let json: Vec<Value> = frames.iter().map(ServerFrame::to_json).collect();
    let record = NewEvent {
        kind: event.kind(),
        actor,
        payload,
    };
    let mut commit = Commit::new(change, record, json);
    if moved.effects.contains(&Effect::SubmitToProvider) {
        outbox(app, s, &mut commit)?;
    }
    edit(&mut commit);
    let (app, s) = (app.clone(), s.clone());
    to_the_end(async move {
        let saved = app
            .store
            .apply(s.id, s.version, &commit)
            .await
            .map_err(store_error)?;
        transitioned(&s, saved.state, commit.event.kind);
        publish(&app, s.id, saved.frame_seq, commit.frames);
        Ok(saved)
    })
    .await
}

/// Runs a write and the publishing of its frames to this instance's sockets in a task of
/// its own, to the end. A caller may be dropped at any await (a client hanging up
/// mid-request, a socket closing mid-turn) while its write still commits, and nothing else
/// hands those frames to sockets here: the relay skips this instance's own announcements.
async fn to_the_end<T: Send + 'static>(
    work: impl Future<Output = Result<T, FrameError>> + Send + 'static,
) -> Result<T, FrameError> {
    match tokio::spawn(work.in_current_span()).await {
        Ok(done) => done,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(internal(e)),
    }
}

/// Logs and counts a stored transition.
fn transitioned(s: &Session, to: SessionState, event: crate::domain::EventKind) {
    metrics::counter!(crate::metrics::TRANSITIONS, "from" => s.state.as_str(), "to" => to.as_str())
        .increment(1);
    tracing::info!(session_id = %s.id, from = %s.state, to = %to, event = %event, "transition");
}

/// The outbox row (and, for a refund, the hold on the order) that entering `submitted`
/// writes in the same transaction.
fn outbox(app: &AppState, s: &Session, commit: &mut Commit) -> Result<(), FrameError> {
    let action = s
        .proposed_action
        .clone()
        .ok_or_else(|| internal("submitting without an action"))?;
    commit.submission = Some(NewSubmission {
        idempotency_key: payments::idempotency_key(s.id, &action),
        session_id: s.id,
        merchant_id: s.merchant_id.clone(),
        provider: app.provider.name().to_owned(),
        action: action.clone(),
        amount: action.amount(),
        at: commit.change.at,
    });
    if let Action::Refund {
        order_id, amount, ..
    } = &action
    {
        let (merchant_id, order_id, minor) =
            (s.merchant_id.clone(), order_id.clone(), amount.minor());
        commit.order = Some(OrderEffect::Reserve {
            merchant_id,
            order_id,
            minor,
        });
    }
    Ok(())
}

/// Stores and publishes frames that change nothing else.
pub(super) async fn say(
    app: &AppState,
    id: SessionId,
    frames: Vec<ServerFrame>,
) -> Result<i64, FrameError> {
    let json: Vec<Value> = frames.iter().map(ServerFrame::to_json).collect();
    let app = app.clone();
    to_the_end(async move {
        let last = app
            .store
            .append_frames(id, &json)
            .await
            .map_err(store_error)?;
        publish(&app, id, last, json);
        Ok(last)
    })
    .await
}

fn publish(app: &AppState, id: SessionId, last: i64, frames: Vec<Value>) {
    let first = last - frames.len() as i64 + 1;
    let numbered = frames
        .into_iter()
        .enumerate()
        .map(|(i, frame)| Numbered {
            seq: first + i as i64,
            frame,
        })
        .collect();
    app.hub.publish(id, numbered);
}

mod money;
pub use money::{
    ReviewDecision, SettleOutcome, assess, assess_stalled, decide_review, provider_refused, settle,
};
