//! URL-mode elicitation for clients of the stateless revision (`2026-07-28`) that support
//! it: a proposal first answers `input_required`, asking the client to open
//! `countersign_url`, with the finished result sealed in the request state; the client's
//! retry gets that result back. Other clients get the result at once.

use rmcp::RoleServer;
use rmcp::model::{
    CallToolResponse, ElicitRequest, ElicitRequestParams, InputRequest, InputRequests,
    InputRequiredResult,
};
use rmcp::service::RequestContext;
use serde::{Deserialize, Serialize};

use super::args::Proposal;
use crate::domain::MerchantId;
use crate::secrets::MasterKey;

/// Seals the request state: the client carries it back and can neither read nor forge it.
const STATE_CONTEXT: &str = "countersign/mcp/request-state/v1";
/// The key of the one input request.
const INPUT: &str = "countersign";

#[derive(Serialize, Deserialize)]
struct Pending {
    merchant_id: String,
    proposal: Proposal,
}

/// Whether the client asked for this call takes URL-mode elicitation as an input request.
pub fn wanted(ctx: &RequestContext<RoleServer>) -> bool {
    let stateless = ctx.protocol_version().is_some_and(|v| !v.has_initialize());
    let url = ctx
        .client_capabilities()
        .and_then(|c| c.elicitation)
        .and_then(|e| e.url);
    stateless && url.is_some()
}

/// Asks the client to open the proposal's countersign page, keeping the result for the retry.
pub fn ask(keys: &MasterKey, merchant: &MerchantId, proposal: Proposal) -> CallToolResponse {
    let params = ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: format!(
            "Please read this and confirm or cancel it on the page: {}",
            proposal.summary
        ),
        url: proposal.countersign_url.clone(),
        elicitation_id: proposal.session_id.clone(),
    };
    let pending = Pending {
        merchant_id: merchant.as_str().to_owned(),
        proposal,
    };
    let plain = serde_json::to_string(&pending).unwrap_or_default();
    let mut requests = InputRequests::new();
    requests.insert(
        INPUT.to_owned(),
        InputRequest::Elicitation(ElicitRequest::new(params)),
    );
    let state = keys.seal(STATE_CONTEXT, &plain);
    InputRequiredResult::new(Some(requests), Some(state)).into()
}

/// The result sealed in `state` when this merchant's earlier call sealed it.
pub fn resumed(keys: &MasterKey, merchant: &MerchantId, state: &str) -> Result<Proposal, String> {
    let refused = || "the request state is not one this server gave".to_owned();
    let plain = keys.open(STATE_CONTEXT, state).map_err(|_| refused())?;
    let pending: Pending = serde_json::from_str(plain.expose()).map_err(|_| refused())?;
    if pending.merchant_id != merchant.as_str() {
        return Err(refused());
    }
    Ok(pending.proposal)
}
