//! `GET /api/v1/incidents/{id}/clock`: what the policies are waiting for, and how long is left.

use axum::Json;
use axum::extract::State;

use super::extract::{ApiPath, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::clock::{ClockView, clock_view};

#[utoipa::path(get, path = "/api/v1/incidents/{id}/clock", tag = "incidents",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = ClockView), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn clock(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ClockView>, ApiError> {
    let id = incident_id(&id)?;
    if state.store.incident(id).await?.is_none() {
        return Err(ApiError::not_found(format!("incident {id} not found")));
    }
    Ok(Json(clock_view(&state, id).await?))
}
