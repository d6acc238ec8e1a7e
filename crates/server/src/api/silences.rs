//! Maintenance windows and silences per service (`/api/v1/silences`): alerts keep being
//! stored and counted, but open no incident and page nobody while one is in force.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muster_core::{Access, Timestamp};
use muster_store::Silence;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SilenceView {
    pub id: i64,
    pub service: String,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub reason: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<Silence> for SilenceView {
    fn from(s: Silence) -> Self {
        SilenceView {
            id: s.id,
            service: s.service,
            from: s.from,
            to: s.to,
            reason: s.reason,
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceRequest {
    pub service: String,
    /// Default: now.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Why: kept in the audit trail.
    pub reason: String,
}

#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts",
    responses((status = 200, description = "Silences in force now or later", body = Vec<SilenceView>)))]
pub async fn list_silences(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    let list = state.store.silences(state.clock.now()).await?;
    Ok(Json(list.into_iter().map(SilenceView::from).collect()))
}

#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts", request_body = SilenceRequest,
    responses((status = 201, description = "Silence stored and in force", body = SilenceView),
        (status = 422, description = "Unknown service, empty window, a window past `limits.max_silence` or no reason", body = ErrorBody)))]
pub async fn create_silence(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<SilenceRequest>,
) -> Result<Response, ApiError> {
    caller.require(Access::Responder)?;
    // An unknown service has no owner: it passes here, and `create_as` answers 422.
    let owners = state.config().config.owners_of_services([&req.service]);
    caller.require_scope(&owners, &format!("service `{}`", req.service))?;
    let stored = create_as(&state, &caller.name, &req).await?;
    Ok((StatusCode::CREATED, Json(SilenceView::from(stored))).into_response())
}

/// Checks and stores a silence as `actor`: a known service, a window that ends after it
/// starts and within `limits.max_silence`, a reason. What `POST /api/v1/silences` does after
/// its role check, and the web UI's silence form.
pub async fn create_as(
    state: &AppState,
    actor: &str,
    req: &SilenceRequest,
) -> Result<Silence, ApiError> {
    let cfg = state.config();
    if !cfg.config.services.contains_key(&req.service) {
        return Err(ApiError::unprocessable(format!(
            "service: unknown service `{}`",
            req.service
        )));
    }
    let now = state.clock.now();
    let from = req.from.unwrap_or(now);
    if req.to <= from {
        return Err(ApiError::unprocessable(
            "to: the silence must end after it starts",
        ));
    }
    // A silence is a bounded window: neither longer than `limits.max_silence` nor ending
    // later than that from now (a forgotten silence would hide a service's alerts for good).
    let max = cfg.config.limits.max_silence.to_signed();
    if req.to.duration_since(from) > max || req.to.duration_since(now) > max {
        return Err(ApiError::unprocessable(format!(
            "to: a silence may last at most {} and end at most that long from now (limits.max_silence)",
            muster_core::words::duration(max)
        )));
    }
    muster_core::control::check("reason", &req.reason)?;
    if req.reason.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "reason: say why (it is kept in the audit trail)",
        ));
    }
    Ok(state
        .store
        .create_silence(&req.service, from, req.to, req.reason.trim(), actor, now)
        .await?)
}

#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Silence id")),
    responses((status = 200, description = "Ended", body = SilenceView),
        (status = 404, description = "No such silence in force", body = ErrorBody)))]
pub async fn delete_silence(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SilenceView>, ApiError> {
    caller.require(Access::Responder)?;
    let missing = || ApiError::not_found(format!("no silence `{id}` in force"));
    let n: i64 = id.parse().map_err(|_| missing())?;
    let removed = state
        .store
        .delete_silence(n, &caller.name, state.clock.now())
        .await?
        .ok_or_else(missing)?;
    Ok(Json(removed.into()))
}
