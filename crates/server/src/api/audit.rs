//! The audit trail: who changed what outside incidents (schedule overrides today).

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEntryView {
    pub id: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    #[schema(example = "override.created")]
    pub action: String,
    #[schema(example = "schedule:payments-primary")]
    pub subject: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only entries about this subject, e.g. `schedule:payments-primary`.
    pub subject: Option<String>,
    /// At most this many, newest first (default 100, max 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "catalog", params(AuditParams),
    responses((status = 200, description = "Audit entries, newest first", body = Vec<AuditEntryView>)))]
pub async fn list_audit(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<AuditParams>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let entries = state
        .store
        .audit(p.subject.as_deref(), p.limit.unwrap_or(100))
        .await?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditEntryView {
                id: e.id,
                at: e.at,
                actor: e.actor,
                action: e.action,
                subject: e.subject,
                data: e.data,
            })
            .collect(),
    ))
}
