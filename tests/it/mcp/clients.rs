//! What a client sees of the server: the tools it lists, both protocol revisions, and
//! URL-mode elicitation.

use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, ErrorData, ProtocolVersion, UrlElicitationCapability,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext};
use rmcp::{ClientHandler, RoleClient};
use serde_json::json;

use super::{client, link_secret, sessions, transport};
use crate::backend_tests;
use crate::fixtures::shop;
use crate::helpers::Backend;

async fn tools_are_listed_with_schemas_and_honest_hints(b: Backend) {
    let (app, key) = shop(b, None).await;
    let c = client(&app, &key).await;
    let tools = c.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "list_orders",
            "order_status",
            "propose_refund",
            "propose_transfer",
            "session_status"
        ]
    );
    for tool in &tools {
        let input = serde_json::to_value(&tool.input_schema).unwrap();
        assert_eq!(input["type"], "object", "{}", tool.name);
        assert!(
            tool.output_schema.is_some(),
            "{} has no output schema",
            tool.name
        );
        let hints = tool.annotations.as_ref().expect("annotations");
        let proposes = tool.name.starts_with("propose_");
        assert_eq!(hints.read_only_hint, Some(!proposes), "{}", tool.name);
        assert_eq!(hints.destructive_hint, Some(false), "{}", tool.name);
    }
    let refund = tools.iter().find(|t| t.name == "propose_refund").unwrap();
    let required = serde_json::to_value(&refund.input_schema).unwrap()["required"].clone();
    assert_eq!(required, json!(["user_id", "order_id"]));
    c.cancel().await.unwrap();
}

/// A client that opens every URL it is asked to (a browser tab, in a real host).
#[derive(Clone, Default)]
struct Opener {
    asked: Arc<Mutex<Vec<(String, String)>>>,
}

impl ClientHandler for Opener {
    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        if let ElicitRequestParams::UrlElicitationParams {
            url,
            elicitation_id,
            ..
        } = request
        {
            self.asked.lock().unwrap().push((url, elicitation_id));
        }
        Ok(ElicitResult::new(ElicitationAction::Accept))
    }

    fn get_info(&self) -> ClientConfig {
        let mut config = ClientConfig::default();
        config.capabilities.elicitation =
            Some(ElicitationCapability::new().with_url(UrlElicitationCapability::new()));
        config
    }
}

async fn a_client_that_takes_url_elicitation_is_asked_to_open_the_page(b: Backend) {
    let (app, key) = shop(b, None).await;
    let opener = Opener::default();
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let c = opener
        .clone()
        .serve_with_lifecycle(transport(&app, &key), lifecycle)
        .await
        .expect("discover");
    let before = sessions(&app).await;
    let args = json!({"user_id": "u1", "order_id": "1042"});
    let params = CallToolRequestParams::new("propose_refund")
        .with_arguments(args.as_object().unwrap().clone());
    let r = c.call_tool(params).await.unwrap();
    let p = r
        .structured_content
        .expect("the proposal, once the page was opened");
    let asked = opener.asked.lock().unwrap().clone();
    let wanted = (
        p["countersign_url"].as_str().unwrap().to_owned(),
        p["session_id"].as_str().unwrap().to_owned(),
    );
    assert_eq!(asked, [wanted]);
    // The retry carried the result back: one session, not two.
    assert_eq!(sessions(&app).await, before + 1);
    let (_, view) = app.get("/v1/countersign", &link_secret(&p)).await;
    assert_eq!(view["state"], "awaiting_confirmation");
    // A request state this server did not seal is refused.
    let forged = CallToolRequestParams::new("propose_refund")
        .with_arguments(args.as_object().unwrap().clone())
        .with_request_state("forged");
    let r = c.call_tool(forged).await.unwrap();
    assert_eq!(r.is_error, Some(true), "{r:?}");
    assert_eq!(sessions(&app).await, before + 1);
    c.cancel().await.unwrap();
}

async fn a_client_of_the_stateless_revision_is_served(b: Backend) {
    let (app, key) = shop(b, None).await;
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let c = ClientConfig::default()
        .serve_with_lifecycle(transport(&app, &key), lifecycle)
        .await
        .expect("discover");
    let params = CallToolRequestParams::new("list_orders")
        .with_arguments(json!({"user_id": "u1"}).as_object().unwrap().clone());
    let r = c.call_tool(params).await.unwrap();
    assert_eq!(
        r.structured_content.unwrap()["orders"][1]["order_id"],
        "1041"
    );
    c.cancel().await.unwrap();
}

backend_tests!(
    tools_are_listed_with_schemas_and_honest_hints,
    a_client_that_takes_url_elicitation_is_asked_to_open_the_page,
    a_client_of_the_stateless_revision_is_served,
);
