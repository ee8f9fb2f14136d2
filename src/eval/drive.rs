//! Runs a case through the dialogue exactly as a chat socket does: a merchant with the
//! case's policy, the case's book in a temporary SQLite store, a session, the greeting,
//! then each message as a `user_message` frame handed to `Dialogue::handle`, reading the
//! frames the turn stored until a confirmation card appears or the messages run out.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::TimeDelta;
use serde_json::{Value, json};

use super::corpus::{BookDoc, Card, Case, Kind, OrderDoc};
use crate::app::AppState;
use crate::config::{Config, ProviderKind};
use crate::domain::{
    Action, Charge, Cost, Currency, Lang, MerchantId, Mode, Money, SessionId, UserId,
};
use crate::secrets::{MasterKey, hash_credential, random_token};
use crate::store::{self, Contact, NewSession, Order, Store};
use crate::workflow::frames::ClientFrame;

/// Frames read per page.
const PAGE: i64 = 200;
const SHOPPER: &str = "shopper";
/// The owner of a book's `other_orders`.
const SOMEONE_ELSE: &str = "someone-else";

/// How a case's conversation ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case's session.
    pub session: SessionId,
    pub card: Option<Card>,
    /// Messages sent: up to the card, else all of them.
    pub turns: usize,
    /// The last thing the service said (a message, a question, a menu or an error).
    pub last_reply: Option<String>,
}

/// The service's dialogue over a store of its own, for one run of the corpus.
pub struct Bench {
    app: AppState,
    /// The directory holding the database, removed by `close`.
    dir: PathBuf,
}

/// Which reader the dialogue uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Reader {
    /// The built-in rule-based reader.
    Offline,
    /// The language-model endpoints of the configuration (`[[llm.endpoints]]`).
    Model,
}

impl Bench {
    /// Opens a fresh SQLite database in a directory of its own under the temporary
    /// directory; `close` removes the directory, as does a failure to open.
    pub async fn open(config: Config, reader: Reader) -> anyhow::Result<Self> {
        if reader == Reader::Model {
            anyhow::ensure!(
                config.llm.is_some(),
                "--understanding model needs [[llm.endpoints]] in the configuration (--config FILE)"
            );
        }
        let stamp = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let name = format!("countersign-eval-{}-{stamp}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        match assemble(config, reader, &dir).await {
            Ok(app) => Ok(Bench { app, dir }),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    /// Removes the database. The pools may still open a connection as they wind down;
    /// without its directory it cannot leave a file behind.
    pub fn close(self) {
        drop(self.app);
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Runs case number `n` (each case gets a merchant of its own).
    pub async fn run(&self, n: usize, case: &Case) -> anyhow::Result<Outcome> {
        let merchant = MerchantId::parse(&format!("eval-{n}"))?;
        let store = self.app.store.as_ref();
        crate::merchants::create(store, &self.app.keys, merchant.clone(), case.policy.clone())
            .await?;
        put_book(store, &merchant, &case.book).await?;
        let id = self.open_session(&merchant, case.lang.into()).await?;
        self.app.dialogue.start(id).await?;
        let mut seen = 0;
        let mut last_reply = self.read(id, &mut seen).await?.1;
        for (i, text) in case.messages.iter().enumerate() {
            if let Some(error) = self.send(id, text).await {
                last_reply = Some(error);
            }
            let (card, reply) = self.read(id, &mut seen).await?;
            last_reply = reply.or(last_reply);
            if card.is_some() {
                return Ok(Outcome {
                    session: id,
                    card,
                    turns: i + 1,
                    last_reply,
                });
            }
        }
        Ok(Outcome {
            session: id,
            card: None,
            turns: case.messages.len(),
            last_reply,
        })
    }

    /// What the model calls of session `id` cost, per currency (nothing with the offline
    /// reader or unpriced endpoints).
    pub async fn model_cost(&self, id: SessionId) -> anyhow::Result<Vec<Charge>> {
        let calls = self.app.store.model_calls(id).await?;
        sum(calls.iter().filter_map(|c| c.cost))
    }

    /// A chat session greeted in the shopper's language, as the chat page asks for it.
    async fn open_session(&self, merchant: &MerchantId, lang: Lang) -> anyhow::Result<SessionId> {
        let token = random_token("cst_");
        let opening = crate::dialogue::Dialogue::opening(Mode::Chat, None, lang);
        let new = NewSession {
            id: SessionId::new(),
            merchant_id: merchant.clone(),
            user_id: UserId::parse(SHOPPER)?,
            channel: Mode::Chat,
            device: None,
            client_token_hash: hash_credential(token.expose()),
            created_at: self.app.flow.clock.now(),
            draft: opening.draft,
            frames: opening.frames,
        };
        Ok(self
            .app
            .store
            .create_session(&new, &opening.event)
            .await?
            .id)
    }

    /// Hands one message to the dialogue as the socket would; an error is what the
    /// socket would have said back.
    async fn send(&self, id: SessionId, text: &str) -> Option<String> {
        let raw = json!({ "type": "user_message", "text": text }).to_string();
        let frame = match ClientFrame::parse(&raw) {
            Ok(frame) => frame,
            Err(e) => return Some(format!("error {}: {e}", e.code())),
        };
        let handled = self.app.dialogue.handle(id, frame).await;
        handled.err().map(|e| format!("error: {e}"))
    }

    /// The frames stored since `seen`: the card if one was shown, and the last reply.
    async fn read(
        &self,
        id: SessionId,
        seen: &mut i64,
    ) -> anyhow::Result<(Option<Card>, Option<String>)> {
        let (mut card, mut reply) = (None, None);
        loop {
            let page = self.app.store.frames_after(id, *seen, PAGE).await?;
            let Some(last) = page.last() else {
                return Ok((card, reply));
            };
            *seen = last.seq;
            for f in page {
                reply = said(&f.frame).or(reply);
                if f.frame["type"] == "confirmation_required" {
                    card = Some(card_of(&f.frame["payload"]["action"])?);
                }
            }
        }
    }
}

/// The service's state over a new database in `dir`, reading with `reader`.
async fn assemble(mut config: Config, reader: Reader, dir: &Path) -> anyhow::Result<AppState> {
    config.database_url = format!("sqlite://{}", dir.join("eval.db").display());
    config.seed_demo = false;
    config.provider = ProviderKind::Sandbox;
    config.risk_remote = None;
    let store = store::connect(&config.database_url)
        .await
        .context("opening the evaluation database")?;
    let understood = match reader {
        Reader::Offline => crate::app::Reader::offline(),
        Reader::Model => crate::app::understanding_for(&config, &store)?,
    };
    AppState::new(store, MasterKey::generate(), config, understood)
}

/// `charges` summed per currency, in the order of the currencies' codes.
pub fn sum(charges: impl Iterator<Item = Charge>) -> anyhow::Result<Vec<Charge>> {
    let mut sums: std::collections::BTreeMap<&'static str, Charge> = Default::default();
    for c in charges {
        let zero = Charge {
            value: Cost::ZERO,
            currency: c.currency,
        };
        let slot = sums.entry(c.currency.code()).or_insert(zero);
        slot.value = slot
            .value
            .checked_add(c.value)
            .context("the model cost does not fit")?;
    }
    Ok(sums.into_values().collect())
}

/// What a frame says to the shopper, if it says anything.
fn said(frame: &Value) -> Option<String> {
    let text = match frame["type"].as_str()? {
        "agent_message" => &frame["text"],
        "clarify" => &frame["question"],
        "menu" => &frame["prompt"],
        "confirmation_required" => &frame["payload"]["summary"],
        "error" => &frame["message"],
        _ => return None,
    };
    text.as_str().map(str::to_owned)
}

fn card_of(action: &Value) -> anyhow::Result<Card> {
    let action: Action =
        serde_json::from_value(action.clone()).context("a confirmation card's action")?;
    let card = match &action {
        Action::Refund { order_id, .. } => Card {
            action: Kind::Refund,
            target: order_id.to_string(),
            amount_minor: action.amount().minor(),
        },
        Action::Transfer { contact_id, .. } => Card {
            action: Kind::Transfer,
            target: contact_id.to_string(),
            amount_minor: action.amount().minor(),
        },
    };
    Ok(card)
}

async fn put_book(store: &dyn Store, merchant: &MerchantId, book: &BookDoc) -> anyhow::Result<()> {
    let (shopper, other) = (UserId::parse(SHOPPER)?, UserId::parse(SOMEONE_ELSE)?);
    let orders = book.orders.iter().map(|o| (o, &shopper));
    for (o, owner) in orders.chain(book.other_orders.iter().map(|o| (o, &other))) {
        store.put_order(&order(merchant, owner, o)?).await?;
    }
    let now = crate::clock::now();
    for c in &book.contacts {
        let contact = Contact {
            merchant_id: merchant.clone(),
            contact_id: c.id.clone(),
            user_id: shopper.clone(),
            name: c.name.clone(),
            aliases: c.aliases.clone(),
            verified: c.verified,
            alipay: None,
            created_at: now,
            updated_at: now,
        };
        store.put_contact(&contact).await?;
    }
    Ok(())
}

fn order(merchant: &MerchantId, owner: &UserId, o: &OrderDoc) -> anyhow::Result<Order> {
    let currency = Currency::parse(&o.currency)?;
    let now = crate::clock::now();
    let age = TimeDelta::seconds((o.placed_days_ago * 86_400.0) as i64);
    Ok(Order {
        merchant_id: merchant.clone(),
        order_id: o.id.clone(),
        user_id: owner.clone(),
        amount: Money::from_minor(o.amount_minor, currency)?,
        refunded: Money::from_minor(o.refunded_minor, currency)?,
        reserved: Money::zero(currency),
        description: o.description.clone(),
        alipay_trade_no: None,
        placed_at: now - age,
        updated_at: now,
    })
}
