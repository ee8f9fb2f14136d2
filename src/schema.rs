//! The JSON Schemas in `schemas/`: the outside contract, compiled into the binary.

use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::Value;

fn compile(name: &str, text: &str) -> Validator {
    let schema: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("schemas/{name} is not JSON: {e}"));
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("schemas/{name} is invalid: {e}"))
}

macro_rules! schema {
    ($ident:ident, $file:literal) => {
        pub static $ident: LazyLock<Validator> =
            LazyLock::new(|| compile($file, include_str!(concat!("../schemas/", $file))));
    };
}

schema!(POLICY, "policy.schema.json");
schema!(EXTRACTION, "extraction.schema.json");
schema!(WS_CLIENT, "ws-client.schema.json");
schema!(WS_SERVER, "ws-server.schema.json");
schema!(SETTLEMENT_WEBHOOK, "settlement-webhook.schema.json");

/// Checks `instance`; the error names the first offending field by its JSON pointer.
pub fn check(validator: &Validator, instance: &Value) -> Result<(), String> {
    match validator.iter_errors(instance).next() {
        None => Ok(()),
        Some(e) => {
            let at = e.instance_path().to_string();
            let at = if at.is_empty() { "body".to_owned() } else { at };
            Err(format!("{at}: {e}"))
        }
    }
}
