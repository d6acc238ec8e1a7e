//! `GET /api/v1/incidents/{id}/similar`: past incidents like this one, best first, with the
//! people who held roles in them (the experts to pull in). See `Store::similar_incidents`.

use axum::Json;
use axum::extract::State;
use muster_core::{Severity, Status, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

const DEFAULT_LIMIT: u32 = 5;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimilarParams {
    /// How many matches (1 to 50, default 5).
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimilarView {
    /// The incident asked about.
    pub incident: String,
    /// Best first.
    pub similar: Vec<SimilarIncidentView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SimilarIncidentView {
    #[schema(example = "INC-7")]
    pub id: String,
    pub title: String,
    #[schema(value_type = String, example = "SEV1")]
    pub severity: Severity,
    #[schema(value_type = String, example = "resolved")]
    pub status: Status,
    pub services: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub declared_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Higher is more similar; comparable within one answer only.
    pub score: f64,
    pub experts: Vec<ExpertView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExpertView {
    /// Person id.
    pub person: String,
    /// Their name from the configuration, when it knows them.
    pub name: Option<String>,
    /// Roles they held in that incident.
    pub roles: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/similar", tag = "incidents",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), SimilarParams),
    responses((status = 200, description = "Similar incidents, best first", body = SimilarView),
        (status = 400, description = "limit out of range", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn similar(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<SimilarParams>,
) -> Result<Json<SimilarView>, ApiError> {
    let number = incident_id(&id)?;
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=muster_store::MAX_SIMILAR).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit: must be 1 to {}",
            muster_store::MAX_SIMILAR
        )));
    }
    let found = state.store.similar_incidents(number, limit).await?;
    let cfg = state.config();
    let similar = found
        .into_iter()
        .map(|s| SimilarIncidentView {
            id: s.incident.id.to_string(),
            title: s.incident.title,
            severity: s.incident.severity,
            status: s.incident.status,
            services: s.incident.services,
            declared_at: s.incident.declared_at,
            resolved_at: s.incident.resolved_at,
            score: s.score,
            experts: s
                .experts
                .into_iter()
                .map(|e| ExpertView {
                    name: cfg.config.people.get(&e.person).map(|p| p.name.clone()),
                    person: e.person,
                    roles: e.roles,
                })
                .collect(),
        })
        .collect();
    Ok(Json(SimilarView {
        incident: number.to_string(),
        similar,
    }))
}
