//! Read-only views of the configuration in force, and its reload.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};

fn listing<'a, T: Serialize + 'a>(
    items: impl Iterator<Item = &'a T>,
) -> Result<Json<Vec<Value>>, ApiError> {
    items
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map(Json)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

#[utoipa::path(get, path = "/api/v1/services", tag = "catalog",
    responses((status = 200, description = "The configured items", body = Vec<Object>), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub async fn services(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    listing(state.config().config.services.values())
}

#[utoipa::path(get, path = "/api/v1/people", tag = "catalog",
    responses((status = 200, description = "The configured items", body = Vec<Object>), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub async fn people(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    listing(state.config().config.people.values())
}

#[utoipa::path(get, path = "/api/v1/policies", tag = "catalog",
    responses((status = 200, description = "The configured items", body = Vec<Object>), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub async fn policies(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    listing(state.config().config.policies.values())
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "catalog",
    responses((status = 200, description = "The configured items", body = Vec<Object>), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub async fn schedules(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<Value>>, ApiError> {
    listing(state.config().config.schedules.values())
}

#[derive(Serialize, ToSchema)]
pub struct ReloadResult {
    pub status: String,
    pub services: usize,
    pub people: usize,
    pub policies: usize,
}

#[utoipa::path(post, path = "/api/v1/config/reload", tag = "catalog",
    responses((status = 200, description = "Reloaded; the new configuration is in force", body = ReloadResult), (status = 403, description = "Only admins may reload", body = ErrorBody),
        (status = 422, description = "The new configuration is invalid; the old one stays in force", body = ErrorBody)))]
pub async fn reload(
    State(state): State<AppState>,
    _admin: AdminCaller,
) -> Result<Json<ReloadResult>, ApiError> {
    let loaded = crate::reactions::reloaded(&state).await.map_err(|errors| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_config",
            format!(
                "configuration not reloaded; the old one stays in force:\n{}",
                errors.join("\n")
            ),
        )
    })?;
    Ok(Json(ReloadResult {
        status: "reloaded".into(),
        services: loaded.config.services.len(),
        people: loaded.config.people.len(),
        policies: loaded.config.policies.len(),
    }))
}
