//! What a session's model calls cost, and how the model endpoints fare.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::auth::{Caller, MerchantAuth};
use super::error::{AppError, Result};
use super::sessions::visible;
use crate::app::AppState;
use crate::domain::{Charge, Cost, SessionId};
use crate::store::ModelCallRecord;

/// `GET /v1/sessions/{id}/model-calls`: every model call the session made, with its cost,
/// and the session's cost (merchant only).
pub async fn calls(
    State(app): State<AppState>,
    MerchantAuth(merchant): MerchantAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>> {
    let s = visible(&app, &Caller::Merchant(Box::new(merchant)), &id).await?;
    let calls = app.store.model_calls(s.id).await?;
    let cost = session_cost(&app, s.id, &calls).await?;
    Ok(Json(
        json!({ "session_id": s.id, "model_calls": calls, "cost": cost }),
    ))
}

/// `GET /v1/models/health`: each model endpoint's baseline, window and drift alarms
/// (merchant key). Without a language model there are no endpoints.
pub async fn health(State(app): State<AppState>, MerchantAuth(_): MerchantAuth) -> Json<Value> {
    Json(match &app.drift {
        Some(drift) => drift.health(),
        None => json!({ "on_alarm": null, "endpoints": [] }),
    })
}

/// What a session cost so far: its model calls at their endpoints' prices and its calls to
/// the payment provider at `[pricing]`, each summed per currency, and the total.
pub(super) async fn session_cost(
    app: &AppState,
    id: SessionId,
    calls: &[ModelCallRecord],
) -> Result<Value> {
    let model = sum(calls.iter().filter_map(|c| c.cost))?;
    let provider_calls = match app.store.submission_for_session(id).await? {
        Some(s) => i64::from(s.attempts),
        None => 0,
    };
    let provider_price = app.flow.provider_call_price();
    let provider: Vec<Charge> = match provider_price {
        Some(price) => {
            let value = price.value.picos().checked_mul(provider_calls);
            let value = value.map(Cost::from_picos).ok_or_else(too_large)?;
            vec![Charge {
                value,
                currency: price.currency,
            }]
        }
        None => Vec::new(),
    };
    let total = sum(model.iter().chain(&provider).copied())?;
    Ok(json!({
        "model_calls": calls.len(),
        "model": model,
        "provider_calls": provider_calls,
        "provider": provider,
        "total": total,
    }))
}

/// `charges` summed per currency, in the order of the currencies' codes.
fn sum(charges: impl Iterator<Item = Charge>) -> Result<Vec<Charge>> {
    let mut sums: BTreeMap<&'static str, Charge> = BTreeMap::new();
    for c in charges {
        let slot = sums.entry(c.currency.code()).or_insert(Charge {
            value: Cost::ZERO,
            currency: c.currency,
        });
        slot.value = slot.value.checked_add(c.value).ok_or_else(too_large)?;
    }
    Ok(sums.into_values().collect())
}

fn too_large() -> AppError {
    AppError::internal("a session's cost does not fit")
}
