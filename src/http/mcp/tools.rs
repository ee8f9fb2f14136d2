//! The tools an agent may call. Reads answer from the merchant's book; proposals go through
//! the dialogue's disposal and open a session that only the shopper can confirm, on the
//! page behind `countersign_url`. No result carries a confirmation token or a client token.

use std::sync::Arc;

use axum::http::request::Parts;
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{Extension, IntoCallToolResult, RequestState};
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{CallToolResponse, Implementation, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, ServerHandler, tool, tool_handler, tool_router};

use super::args::{self, *};
use super::elicit;
use crate::app::AppState;
use crate::dialogue::{AgentProposal, Refused};
use crate::domain::Lang;
use crate::domain::draft::{AmountChoice, Draft, Goal};
use crate::secrets::{hash_credential, random_token};
use crate::store::Merchant;

/// The merchant whose key authenticated the request, put there by `super::authenticate`.
#[derive(Clone)]
pub struct Agent(pub Arc<Merchant>);

/// One MCP server per request (the transport is stateless); cheap to build.
#[derive(Clone)]
pub struct Countersign {
    app: AppState,
    tool_router: ToolRouter<Self>,
}

const INSTRUCTIONS: &str = "Countersign acts for one shopper of this merchant per call \
    (user_id). Reading orders changes nothing. A proposal moves no money: it opens a \
    session and returns countersign_url, a page where the shopper reads the exact signed \
    summary and confirms or cancels. Give the shopper that link; poll session_status to \
    learn the outcome. A refused proposal says what policy refused and what may be \
    offered instead.";

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Countersign {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "countersign",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(INSTRUCTIONS.to_owned())
    }
}

fn merchant(parts: &Parts) -> Result<Arc<Merchant>, String> {
    let agent = parts.extensions.get::<Agent>();
    agent
        .map(|a| a.0.clone())
        .ok_or_else(|| "unauthorized".to_owned())
}

/// An internal failure: logged, and said to the agent without detail.
pub(super) fn failed(e: impl std::fmt::Display) -> String {
    tracing::error!(error = %e, "mcp tool failed");
    "something went wrong on our side; nothing was changed, try again".to_owned()
}

#[tool_router(router = tool_router)]
impl Countersign {
    pub fn new(app: AppState) -> Self {
        Countersign {
            app,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "The shopper's recent orders, most recent first, with what each may still refund.",
        annotations(
            title = "List orders",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_orders(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(a): Parameters<ShopperArgs>,
    ) -> Result<Json<Orders>, String> {
        let m = merchant(&parts)?;
        let user = args::user(&a.user_id)?;
        let book = self.app.dialogue.book_of(&m, &user).await.map_err(failed)?;
        let orders = book.orders.iter().map(OrderView::from).collect();
        Ok(Json(Orders {
            user_id: user.as_str().to_owned(),
            orders,
        }))
    }

    #[tool(
        description = "One of the shopper's orders: amount, refunded, being refunded, refundable.",
        annotations(
            title = "Order status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn order_status(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(a): Parameters<OrderArgs>,
    ) -> Result<Json<OrderStatus>, String> {
        let m = merchant(&parts)?;
        let (user, id) = (args::user(&a.user_id)?, args::order(&a.order_id)?);
        let order = self.app.store.order(&m.id, &id).await.map_err(failed)?;
        match order.filter(|o| o.user_id == user) {
            Some(o) => Ok(Json(OrderStatus {
                order: OrderView::from(&o),
            })),
            None => Err(format!(
                "order {} is not one of this shopper's orders",
                id.as_str()
            )),
        }
    }

    #[tool(
        description = "Proposes a refund of one of the shopper's orders. Moves no money: on success it returns countersign_url, where the shopper confirms or cancels the exact signed summary. Checked against the merchant's policy and order book like a chat request.",
        output_schema = schema_for_output::<Proposal>(),
        annotations(
            title = "Propose a refund",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn propose_refund(
        &self,
        ctx: RequestContext<RoleServer>,
        Extension(parts): Extension<Parts>,
        RequestState(state): RequestState,
        Parameters(a): Parameters<RefundArgs>,
    ) -> Result<CallToolResponse, String> {
        let m = merchant(&parts)?;
        if let Some(state) = state {
            return complete(elicit::resumed(&self.app.keys, &m.id, &state)?);
        }
        let reason = args::note("reason", a.reason)?;
        let amount = match &a.amount {
            Some(amount) => AmountChoice::Exact(args::money(amount)?),
            None => AmountChoice::Full,
        };
        let draft = Draft {
            lang: reason.as_deref().map(Lang::of).unwrap_or_default(),
            goal: Some(Goal::Refund),
            order_id: Some(args::order(&a.order_id)?),
            amount: Some(amount),
            reason,
            ..Draft::default()
        };
        let user = args::user(&a.user_id)?;
        self.propose(&ctx, m, user, draft).await
    }

    #[tool(
        description = "Proposes a transfer from the shopper to one of their payees. Moves no money: on success it returns countersign_url, where the shopper confirms or cancels the exact signed summary. Checked against the merchant's policy and the shopper's payees like a chat request.",
        output_schema = schema_for_output::<Proposal>(),
        annotations(
            title = "Propose a transfer",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn propose_transfer(
        &self,
        ctx: RequestContext<RoleServer>,
        Extension(parts): Extension<Parts>,
        RequestState(state): RequestState,
        Parameters(a): Parameters<TransferArgs>,
    ) -> Result<CallToolResponse, String> {
        let m = merchant(&parts)?;
        if let Some(state) = state {
            return complete(elicit::resumed(&self.app.keys, &m.id, &state)?);
        }
        let note = args::note("note", a.note)?;
        let draft = Draft {
            lang: note.as_deref().map(Lang::of).unwrap_or_default(),
            goal: Some(Goal::Transfer),
            contact_id: Some(args::contact(&a.contact_id)?),
            amount: Some(AmountChoice::Exact(args::money(&a.amount)?)),
            reason: note,
            ..Draft::default()
        };
        let user = args::user(&a.user_id)?;
        self.propose(&ctx, m, user, draft).await
    }

    #[tool(
        description = "A proposal's session: its state and, once settled, the provider's reference.",
        annotations(
            title = "Session status",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn session_status(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(a): Parameters<SessionArgs>,
    ) -> Result<Json<SessionStatus>, String> {
        let m = merchant(&parts)?;
        let id = args::session(&a.session_id)?;
        super::status::of(&self.app, &m, id).await.map(Json)
    }
}

impl Countersign {
    /// Proposes `draft`; a client that takes URL-mode elicitation is asked to open the
    /// countersign page first.
    async fn propose(
        &self,
        ctx: &RequestContext<RoleServer>,
        m: Arc<Merchant>,
        user: crate::domain::UserId,
        draft: Draft,
    ) -> Result<CallToolResponse, String> {
        let mcp = &self.app.config.mcp;
        let secret = random_token(crate::http::countersign::LINK_PREFIX);
        let proposal = AgentProposal {
            merchant: &m,
            user_id: user,
            draft,
            link_hash: hash_credential(secret.expose()),
            link_ttl: chrono::TimeDelta::seconds(mcp.link_ttl_seconds.max(1)),
            max_open: mcp.max_open_proposals,
        };
        let outcome = self.app.dialogue.propose_for_agent(proposal).await;
        match outcome.map_err(failed)? {
            Ok(p) => {
                let proposal = Proposal {
                    session_id: p.session_id.to_string(),
                    summary: p.summary,
                    amount: p.action.amount().into(),
                    expires_at: args::time(p.expires_at),
                    countersign_url: format!(
                        "{}/countersign#{}",
                        self.app.config.public_url(),
                        secret.expose()
                    ),
                };
                match elicit::wanted(ctx) {
                    true => Ok(elicit::ask(&self.app.keys, &m.id, proposal)),
                    false => complete(proposal),
                }
            }
            Err(refused) => Err(refusal(refused)),
        }
    }
}

/// The finished result: the proposal as structured content and as text.
fn complete(p: Proposal) -> Result<CallToolResponse, String> {
    Json(p).into_call_tool_result().map_err(failed)
}

/// What the policy refused, and what the agent may offer instead.
fn refusal(r: Refused) -> String {
    let offer = match r.code {
        "above_policy_max" | "above_refundable" => "You may propose a smaller amount.",
        "unknown_order" | "unknown_contact" => "You may propose one of those instead.",
        "nothing_refundable" | "unverified_contact" | "refund_disabled" | "transfer_disabled" => {
            "Nothing of this kind can be proposed; the shopper may contact the merchant."
        }
        _ => "",
    };
    format!("Refused ({}): {} {offer}", r.code, r.text)
        .trim_end()
        .to_owned()
}
