//! `GET /api/v1/outbox/dead-letters`: notifications Muster gave up on, so none is lost silently.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use muster_core::Access;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    pub id: i64,
    #[schema(example = "INC-7/playbook:sev1-payments:comms-leads/person:carol/slack")]
    pub key: String,
    #[schema(example = "INC-7")]
    pub incident: Option<String>,
    /// `delivery`, `page`, `notify`, …
    pub effect: String,
    pub attempts: u32,
    /// The last provider error (secrets are never part of it).
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The item as queued: recipient, channel chain, message.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// At most this many, oldest first (default 100, max 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/outbox/dead-letters", tag = "incidents", params(DeadLetterParams),
    responses((status = 200, description = "Dead letters, oldest first", body = Vec<DeadLetterView>),
        (status = 403, description = "Needs a responder token", body = ErrorBody)))]
pub async fn dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(p): ApiQuery<DeadLetterParams>,
) -> Result<Json<Vec<DeadLetterView>>, ApiError> {
    // Payloads hold contact addresses: not for viewer tokens.
    caller.require(Access::Responder)?;
    let rows = state.store.dead_letters(p.limit.unwrap_or(100)).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| DeadLetterView {
                id: r.id,
                key: r.idempotency_key,
                incident: r.incident.map(|n| n.to_string()),
                effect: r.effect,
                attempts: r.attempts,
                last_error: r.last_error,
                created_at: r.created_at,
                updated_at: r.updated_at,
                payload: r.payload,
            })
            .collect(),
    ))
}
