//! A turn in menu mode: a choice (or a typed amount) moves the menu on, and a complete
//! choice becomes a proposal.

use serde_json::json;

use super::dispose::{self, Decision};
use super::turn::Conversation;
use super::{Dialogue, Error, menu};
use crate::domain::machine::Event;
use crate::domain::{Actor, Mode, SessionState};
use crate::workflow::Step;
use crate::workflow::frames::ServerFrame;

impl Dialogue {
    /// Text typed while the menu shows: an amount when the menu asks for one.
    pub(super) async fn typed_in_menu(
        &self,
        c: &mut Conversation,
        text: &str,
    ) -> Result<(), Error> {
        if menu::step(&c.ctx.session.draft) == menu::Step::Amount {
            return self.menu_select(c, menu::custom(), Some(text)).await;
        }
        Err(Error::MenuMode)
    }

    pub(super) async fn menu_select(
        &self,
        c: &mut Conversation,
        option: &str,
        value: Option<&str>,
    ) -> Result<(), Error> {
        if c.ctx.session.state != SessionState::Collecting {
            return Err(Error::NoMenu(c.ctx.session.state));
        }
        if c.ctx.session.mode == Mode::Chat {
            let step = Step::new(Actor::Shopper, json!({ "cause": "shopper_chose_menu" }));
            c.ctx.session = self
                .flow
                .commit(&c.ctx, Event::MenuFallback, step, |_| {})
                .await?;
        }
        let book = c.book.view();
        let outcome = menu::select(
            &mut c.ctx.session.draft,
            option,
            value,
            &c.ctx.policy,
            &book,
        )?;
        let payload = json!({ "option_id": option, "value": value });
        let refused = match outcome {
            menu::Outcome::Cancel => return Ok(self.flow.cancel(&c.ctx).await?),
            menu::Outcome::Next => None,
            menu::Outcome::Ready => {
                match dispose::next_step(&mut c.ctx.session.draft, &c.ctx.policy, &book) {
                    Decision::Propose { action, payee } => {
                        return self.propose(c, action, payee).await;
                    }
                    Decision::Refuse { code, text } => Some((code, text)),
                    _ => None,
                }
            }
        };
        let menu_frame = menu::view(&c.ctx.session.draft, &c.ctx.policy, &c.book.view());
        let (event, step) = match refused {
            Some((code, text)) => {
                let payload = json!({ "refused": code, "turn": payload });
                let frames = vec![ServerFrame::agent(text), menu_frame];
                let step = Step::new(Actor::System, payload).saying(frames);
                (Event::ProposalRefused, step)
            }
            None => (
                Event::MenuStep,
                Step::new(Actor::Shopper, payload).saying(vec![menu_frame]),
            ),
        };
        self.flow.commit(&c.ctx, event, step, |_| {}).await?;
        Ok(())
    }
}
