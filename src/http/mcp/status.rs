//! `session_status`: a proposal's session as its merchant sees it.

use super::args::{self, SessionStatus};
use crate::app::AppState;
use crate::domain::{Action, EventKind, SessionId};
use crate::store::Merchant;

/// The session `id` if it is this merchant's; any other is simply not found.
pub async fn of(app: &AppState, m: &Merchant, id: SessionId) -> Result<SessionStatus, String> {
    let not_found = || "session_id: no such session".to_owned();
    let session = app.store.session(id).await.map_err(super::tools::failed)?;
    let s = session
        .filter(|s| s.merchant_id == m.id)
        .ok_or_else(not_found)?;
    let provider_reference = match s.state.is_terminal() {
        true => settled_reference(app, id).await?,
        false => None,
    };
    let (action, target) = match &s.proposed_action {
        Some(Action::Refund { order_id, .. }) => (Some("refund"), Some(order_id.as_str())),
        Some(Action::Transfer { contact_id, .. }) => (Some("transfer"), Some(contact_id.as_str())),
        None => (None, None),
    };
    Ok(SessionStatus {
        session_id: s.id.to_string(),
        user_id: s.user_id.as_str().to_owned(),
        state: s.state.as_str().to_owned(),
        reason: s.reason.map(|r| r.as_str().to_owned()),
        action: action.map(str::to_owned),
        amount: s.proposed_action.as_ref().map(|a| a.amount().into()),
        target: target.map(str::to_owned),
        expires_at: s.confirmation_expires_at.map(args::time),
        provider_reference,
    })
}

/// The provider's reference from the event that settled the session.
async fn settled_reference(app: &AppState, id: SessionId) -> Result<Option<String>, String> {
    let events = app.store.events(id).await.map_err(super::tools::failed)?;
    let settled = events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::SettlementSucceeded);
    Ok(settled
        .and_then(|e| e.payload["provider_reference"].as_str())
        .map(str::to_owned))
}
