//! One turn of the dialogue: load the conversation, read the client's frame, decide, and
//! commit what was decided through the workflow.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::Instrument;

use super::dispose::{self, Book, Decision, Question};
use super::{Dialogue, Error, menu};
use crate::domain::draft::{Draft, Field, Role};
use crate::domain::machine::{Effect, Event};
use crate::domain::{Actor, EventKind, Lang, Mode, SessionId, SessionState, Transport};
use crate::store::{Contact, NewEvent, Order};
use crate::understanding::{Context, Phrase, UnderstandingError, audit};
use crate::workflow::frames::{ClientFrame, ServerFrame};
use crate::workflow::{SessionContext, Step};

/// Orders a shopper is offered or matched against.
pub(super) const BOOK_ORDERS: i64 = 20;

/// A session loaded for one turn, with the shopper's book when the turn reads it.
pub struct Conversation {
    pub ctx: SessionContext,
    pub book: ShopperBook,
    /// Every model endpoint failed while this turn was speaking.
    pub model_down: bool,
}

/// A new session's first draft, its first frames and its `opened` event.
pub struct Opening {
    pub draft: Draft,
    pub frames: Vec<Value>,
    pub event: NewEvent,
}

/// The shopper's orders and contacts as this turn read them.
pub struct ShopperBook {
    pub orders: Vec<Order>,
    pub contacts: Vec<Contact>,
    /// When this turn began, for the book's dates.
    pub now: DateTime<Utc>,
}

impl ShopperBook {
    pub fn view(&self) -> Book<'_> {
        Book {
            orders: &self.orders,
            contacts: &self.contacts,
            now: self.now,
        }
    }
}

impl Conversation {
    fn lang(&self) -> Lang {
        self.ctx.session.draft.lang
    }
}

impl Dialogue {
    /// The session with the shopper's orders and contacts.
    pub async fn conversation(&self, id: SessionId) -> Result<Conversation, Error> {
        let mut c = self.without_book(id).await?;
        self.open_book(&mut c).await?;
        Ok(c)
    }

    /// The session alone: for turns that never consult the shopper's book.
    async fn without_book(&self, id: SessionId) -> Result<Conversation, Error> {
        Ok(Conversation {
            ctx: self.flow.load(id).await?,
            book: ShopperBook {
                orders: Vec::new(),
                contacts: Vec::new(),
                now: self.flow.clock.now(),
            },
            model_down: false,
        })
    }

    async fn open_book(&self, c: &mut Conversation) -> Result<(), Error> {
        let (store, s) = (&self.flow.store, &c.ctx.session);
        c.book.orders = store
            .orders_for_user(&s.merchant_id, &s.user_id, BOOK_ORDERS)
            .await?;
        c.book.contacts = store.contacts_for_user(&s.merchant_id, &s.user_id).await?;
        Ok(())
    }

    /// Handles one client frame that came over a socket. Session frames go to every socket;
    /// the error is this caller's.
    pub async fn handle(&self, id: SessionId, frame: ClientFrame) -> Result<(), Error> {
        self.handle_over(id, frame, Transport::Socket).await
    }

    /// Handles one client frame that came `via` a socket or plain HTTP.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub async fn handle_over(
        &self,
        id: SessionId,
        frame: ClientFrame,
        via: Transport,
    ) -> Result<(), Error> {
        let started = std::time::Instant::now();
        let kind = frame.kind();
        let result = audit::holding(self.turn_for(id, frame, via)).await;
        let seconds = started.elapsed().as_secs_f64();
        metrics::histogram!(crate::metrics::TURN_SECONDS, "frame" => kind).record(seconds);
        result
    }

    async fn turn_for(
        &self,
        id: SessionId,
        frame: ClientFrame,
        via: Transport,
    ) -> Result<(), Error> {
        if matches!(frame, ClientFrame::Resume { .. } | ClientFrame::Ping) {
            return Ok(());
        }
        let _lock = self.flow.hub.lock(id).await;
        match self.take_turn(id, frame.clone(), via).await {
            // The copy of the session kept here was behind another instance's write, and
            // is dropped: once more, from the session as stored.
            Err(Error::Flow(crate::workflow::Error::Conflict)) => {
                self.take_turn(id, frame, via).await
            }
            done => done,
        }
    }

    async fn take_turn(
        &self,
        id: SessionId,
        frame: ClientFrame,
        via: Transport,
    ) -> Result<(), Error> {
        let mut c = self.without_book(id).await?;
        if matches!(
            frame,
            ClientFrame::UserMessage { .. } | ClientFrame::MenuSelect { .. }
        ) {
            self.open_book(&mut c).await?;
        }
        match frame {
            ClientFrame::UserMessage { text } => self.user_message(&mut c, &text).await,
            ClientFrame::Confirm { token } => Ok(self.flow.confirm(&c.ctx, &token, via).await?),
            ClientFrame::Cancel => Ok(self.flow.cancel(&c.ctx).await?),
            ClientFrame::MenuSelect { option_id, value } => {
                self.menu_select(&mut c, &option_id, value.as_deref()).await
            }
            ClientFrame::Resume { .. } | ClientFrame::Ping => Ok(()),
        }
    }

    /// Greets a session the first time a client arrives, and reads the text it was opened
    /// with.
    #[tracing::instrument(name = "turn", skip_all, fields(session_id = %id))]
    pub async fn start(&self, id: SessionId) -> Result<(), Error> {
        audit::holding(self.greet(id)).await
    }

    async fn greet(&self, id: SessionId) -> Result<(), Error> {
        let _lock = self.flow.hub.lock(id).await;
        let mut c = self.without_book(id).await?;
        let s = &c.ctx.session;
        if s.state.is_terminal() {
            return Ok(());
        }
        if s.frame_seq == 0 {
            return self.greet_first(c).await;
        }
        // Greeted when it opened: while the greeting is the only frame, a client arriving
        // hears it, and the opening text is read (once: any turn writes more frames).
        let unread = s.frame_seq == 1 && s.mode == Mode::Chat;
        if unread {
            let said = greeting(c.lang()).to_json();
            self.flow.publish(id, 1, vec![said]);
        }
        match c.ctx.session.draft.opening.take() {
            Some(text) if unread => {
                self.open_book(&mut c).await?;
                self.user_message(&mut c, &text).await
            }
            _ => Ok(()),
        }
    }

    /// Greets a session that was opened without its greeting: every menu session (the
    /// menu needs the shopper's book), and chat sessions stored before greetings were
    /// stored with the session.
    async fn greet_first(&self, mut c: Conversation) -> Result<(), Error> {
        let id = c.ctx.session.id;
        let events = self.flow.store.events(id).await?;
        let opening = events
            .first()
            .and_then(|e| e.payload["text"].as_str())
            .map(str::to_owned);
        if let Some(text) = &opening {
            c.ctx.session.draft.lang = Lang::of(text);
        }
        let mode = c.ctx.session.mode;
        if opening.is_some() || mode == Mode::Menu {
            self.open_book(&mut c).await?;
        }
        let mut frames = vec![greeting(c.lang())];
        if mode == Mode::Menu {
            frames.push(menu::view(
                &c.ctx.session.draft,
                &c.ctx.policy,
                &c.book.view(),
            ));
        }
        self.flow.say(id, frames).await?;
        match opening {
            Some(text) if mode == Mode::Chat => self.user_message(&mut c, &text).await,
            _ => Ok(()),
        }
    }

    /// What a session opened on `channel` with `text` is stored with: a chat session is
    /// greeted in `lang` and stores the greeting with itself (its opening text is read at
    /// its first turn); a menu session is greeted with its menu when a client arrives.
    pub fn opening(channel: Mode, text: Option<&str>, lang: Lang) -> Opening {
        let mut draft = Draft {
            lang,
            ..Draft::default()
        };
        let mut frames = Vec::new();
        if channel == Mode::Chat {
            draft.opening = text.map(str::to_owned);
            frames.push(greeting(draft.lang).to_json());
        }
        let event = NewEvent {
            kind: EventKind::Opened,
            actor: Actor::Merchant,
            payload: json!({ "channel": channel, "text": text }),
        };
        Opening {
            draft,
            frames,
            event,
        }
    }

    async fn user_message(&self, c: &mut Conversation, text: &str) -> Result<(), Error> {
        accepts_messages(c.ctx.session.state)?;
        // A button's id ("full", "1042") answers a question; it says nothing about language.
        let answers_question = c
            .ctx
            .session
            .draft
            .asking
            .as_ref()
            .is_some_and(|a| dispose::pick(&a.candidates, text).is_some());
        if !answers_question {
            follow_language(&mut c.ctx.session.draft.lang, text);
        }
        if c.ctx.session.mode == Mode::Menu {
            return self.typed_in_menu(c, text).await;
        }
        let extraction = match self.understanding.extract(&context(c), text).await {
            Ok(e) => e,
            Err(UnderstandingError::Unavailable) => return self.model_unavailable(c).await,
        };
        c.ctx.session.draft.remember(Role::Shopper, text);
        let asked = c.ctx.session.draft.asking.as_ref().map(|a| a.field);
        let book = c.book.view();
        let decision = dispose::dispose(
            &mut c.ctx.session.draft,
            &extraction,
            text,
            &c.ctx.policy,
            &book,
        );
        let payload = json!({ "text": text, "extraction": extraction });
        if c.ctx.session.state == SessionState::Clarifying && resolves(&decision, asked) {
            // A useful answer ends the round: only questions asked in vain count to the cap.
            let step = Step::new(Actor::Shopper, payload.clone());
            c.ctx.session = self
                .flow
                .commit(&c.ctx, Event::ClarificationResolved, step, |x| {
                    x.change.clarifications = 0
                })
                .await?;
        }
        if c.ctx.session.state == SessionState::AwaitingConfirmation
            && !matches!(decision, Decision::Answer(_))
        {
            // Anything but consent replaces the summary the shopper was shown.
            let step = Step::new(Actor::Shopper, payload.clone());
            c.ctx.session = self
                .flow
                .commit(&c.ctx, Event::Corrected, step, |_| {})
                .await?;
        }
        self.act(c, decision, payload).await?;
        // The model read the message but could not answer it: the menu from here, at once.
        let open = matches!(
            c.ctx.session.state,
            SessionState::Collecting | SessionState::Clarifying
        );
        if c.model_down && open && c.ctx.session.mode == Mode::Chat {
            return self.model_unavailable(c).await;
        }
        Ok(())
    }

    /// Says `text`, rephrased by the model when there is one, streaming its pieces. When
    /// no endpoint could speak, the turn notes it and `text` is said as it is.
    pub(super) async fn phrased(&self, c: &mut Conversation, text: String) -> String {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(64);
        let id = c.ctx.session.id;
        let relay = {
            let flow = self.flow.clone();
            let pieces = async move {
                while let Some(piece) = rx.recv().await {
                    let _ = flow
                        .say(id, vec![ServerFrame::AgentDelta { text: piece }])
                        .await;
                }
            };
            tokio::spawn(pieces.in_current_span())
        };
        let said = self
            .understanding
            .phrase(&context(c), &Phrase { text: text.clone() }, &tx)
            .await;
        drop(tx);
        let _ = relay.await;
        match said {
            Ok(said) if !said.trim().is_empty() => said,
            Ok(_) => text,
            Err(UnderstandingError::Unavailable) => {
                c.model_down = true;
                text
            }
        }
    }

    async fn act(
        &self,
        c: &mut Conversation,
        decision: Decision,
        payload: Value,
    ) -> Result<(), Error> {
        match decision {
            Decision::Propose { action, payee } => self.propose(c, action, payee).await,
            Decision::Clarify(q) => self.clarify(c, q, payload).await,
            Decision::Refuse { code, text } => {
                let text = self.phrased(c, text).await;
                c.ctx.session.draft.remember(Role::Agent, &text);
                let payload = json!({ "refused": code, "turn": payload });
                let step = Step::new(Actor::System, payload).saying(vec![ServerFrame::agent(text)]);
                c.ctx.session = self
                    .flow
                    .commit(&c.ctx, Event::ProposalRefused, step, |_| {})
                    .await?;
                Ok(())
            }
            Decision::Answer(text) => {
                let text = self.phrased(c, text).await;
                let frames = vec![ServerFrame::agent(text)];
                self.flow.say(c.ctx.session.id, frames).await?;
                Ok(())
            }
            Decision::Cancel => Ok(self.flow.cancel(&c.ctx).await?),
        }
    }

    async fn clarify(
        &self,
        c: &mut Conversation,
        q: Question,
        payload: Value,
    ) -> Result<(), Error> {
        let asked = u32::try_from(c.ctx.session.clarifications).unwrap_or(u32::MAX);
        let event = Event::ClarificationNeeded {
            asked,
            max: c.ctx.policy.max_clarifications,
        };
        let planned = self.flow.plan(&c.ctx, event)?;
        if planned.names(Effect::EnterMenuMode) {
            let note = c
                .lang()
                .say("Let's use the menu instead.", "我们改用菜单吧。");
            let frames = vec![
                ServerFrame::agent(note),
                menu::view(&c.ctx.session.draft, &c.ctx.policy, &c.book.view()),
            ];
            let step = Step::new(Actor::System, payload).saying(frames);
            c.ctx.session = self
                .flow
                .commit_planned(&c.ctx, planned, step, |_| {})
                .await?;
            return Ok(());
        }
        let question = self.phrased(c, q.text.clone()).await;
        c.ctx.session.draft.remember(Role::Agent, &question);
        c.ctx.session.draft.asking = Some(q.asking());
        let frame = ServerFrame::Clarify {
            field: q.field,
            question,
            candidates: q.candidates,
        };
        let payload = json!({ "field": q.field, "turn": payload });
        let step = Step::new(Actor::System, payload).saying(vec![frame]);
        c.ctx.session = self
            .flow
            .commit_planned(&c.ctx, planned, step, |x| x.change.clarifications += 1)
            .await?;
        Ok(())
    }

    /// Every model endpoint failed: continue with the menu at once.
    pub(super) async fn model_unavailable(&self, c: &mut Conversation) -> Result<(), Error> {
        let lang = c.lang();
        if c.ctx.session.state == SessionState::AwaitingConfirmation {
            let text = lang.say(
                "I can't read messages right now. Please confirm or cancel the summary above.",
                "暂时无法理解消息。请确认或取消上面的摘要。",
            );
            self.flow
                .say(c.ctx.session.id, vec![ServerFrame::agent(text)])
                .await?;
            return Ok(());
        }
        let note = lang.say(
            "I can't understand messages right now, so let's use the menu.",
            "暂时无法理解消息，我们改用菜单吧。",
        );
        let frames = vec![
            ServerFrame::agent(note),
            menu::view(&c.ctx.session.draft, &c.ctx.policy, &c.book.view()),
        ];
        let step = Step::new(Actor::System, json!({ "cause": "model_unavailable" })).saying(frames);
        c.ctx.session = self
            .flow
            .commit(&c.ctx, Event::MenuFallback, step, |_| {})
            .await?;
        Ok(())
    }
}

fn greeting(lang: Lang) -> ServerFrame {
    ServerFrame::agent(lang.say(
        "Hi! I can help with refunds and transfers.",
        "您好！我可以帮您退款或转账。",
    ))
}

fn accepts_messages(state: SessionState) -> Result<(), Error> {
    match state {
        SessionState::Collecting
        | SessionState::Clarifying
        | SessionState::AwaitingConfirmation => Ok(()),
        state => Err(Error::SessionClosed(state)),
    }
}

/// Follows the shopper's language: Chinese when they write it, English when they write
/// letters, unchanged for bare numbers.
fn follow_language(lang: &mut Lang, text: &str) {
    if Lang::of(text) == Lang::Zh {
        *lang = Lang::Zh;
    } else if text.chars().any(|c| c.is_ascii_alphabetic()) {
        *lang = Lang::En;
    }
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

fn context(c: &Conversation) -> Context {
    Context {
        session_id: c.ctx.session.id.to_string(),
        merchant_id: c.ctx.merchant.id.to_string(),
        currency: c.ctx.policy.currency.code().to_owned(),
        history: c.ctx.session.draft.history.clone(),
    }
}
