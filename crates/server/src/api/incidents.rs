//! Incidents: declare, list, show, patch, and the timeline, milestones, roles, tasks and notes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_core::{Access, Command, Incident, IncidentNumber, Severity, Status};
use muster_store::IncidentFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::reactions::{self, commit::Declaration};
pub use crate::views::incident::{
    IncidentView, MilestoneView, RoleView, TaskView, TimelineEventView,
};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    pub title: String,
    #[schema(value_type = String, example = "SEV1")]
    pub severity: Severity,
    #[serde(default)]
    pub services: Vec<String>,
    /// Optional kind of incident (`security`, `data-exposure`, …) that policies and playbooks
    /// can match on.
    #[serde(default)]
    pub incident_type: Option<String>,
}

/// Only the fields present are changed. Setting `status` of a resolved incident reopens it.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchRequest {
    pub title: Option<String>,
    #[schema(value_type = Option<String>, example = "SEV2")]
    pub severity: Option<Severity>,
    #[schema(value_type = Option<String>, example = "mitigated")]
    pub status: Option<Status>,
    pub services: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MilestoneRequest {
    #[schema(example = "blast_radius_validated")]
    pub milestone: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    #[schema(example = "incident_commander")]
    pub role: String,
    pub person: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    pub title: String,
    pub assignee: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    pub done: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub text: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponderRequest {
    /// The person joining (a person id from the configuration).
    pub person: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NudgeAckRequest {
    /// The nudge's key, as in the outbox item and the `policy_fired` record.
    #[schema(example = "sev1-status-updates:cadence:1:0")]
    pub key: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses, e.g. `triage,investigating`.
    pub status: Option<String>,
    /// Comma-separated severities, e.g. `SEV1,SEV2`.
    pub severity: Option<String>,
    /// Only incidents affecting this service.
    pub service: Option<String>,
    /// Only incidents that are not resolved.
    pub open: Option<bool>,
    /// At most this many (default 50, max 500), newest first.
    pub limit: Option<u32>,
    /// Only incidents older than this id (paging).
    pub before: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimelineParams {
    /// Only events with a sequence number above this.
    pub after: Option<i64>,
    /// At most this many (default 500, max 5000).
    pub limit: Option<u32>,
}

fn parse_list<T: std::str::FromStr<Err = muster_core::DomainError>>(
    raw: &Option<String>,
) -> Result<Option<Vec<T>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    raw.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse::<T>().map_err(ApiError::from))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Runs `command` against the incident under its lock and answers with the new state.
async fn apply(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    command: Command,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Access::Responder)?;
    let id = incident_id(raw_id)?;
    let incident = reactions::apply(state, &caller.name, id, command).await?;
    Ok(Json(incident.into()))
}

async fn load(state: &AppState, raw_id: &str) -> Result<Incident, ApiError> {
    let id: IncidentNumber = incident_id(raw_id)?;
    state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {id} not found")))
}

#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(ListParams),
    responses((status = 200, description = "OK", body = Vec<IncidentView>), (status = 400, description = "Malformed request", body = ErrorBody), (status = 401, description = "Missing or unknown token", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<Json<Vec<IncidentView>>, ApiError> {
    let filter = IncidentFilter {
        status: parse_list::<Status>(&p.status)?,
        severity: parse_list::<Severity>(&p.severity)?,
        service: p.service,
        open_only: p.open.unwrap_or(false),
        limit: p.limit,
        before: p
            .before
            .as_deref()
            .map(|b| {
                b.parse().map_err(|_| {
                    ApiError::unprocessable(format!(
                        "invalid before `{b}`: an incident id such as INC-42"
                    ))
                })
            })
            .transpose()?,
    };
    let incidents = state.store.list_incidents(&filter).await?;
    Ok(Json(incidents.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = DeclareRequest,
    responses((status = 201, description = "Declared", body = IncidentView), (status = 400, description = "Malformed request", body = ErrorBody), (status = 403, description = "The token's role may not do this", body = ErrorBody),
        (status = 413, description = "Body larger than 1 MiB", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn declare(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<DeclareRequest>,
) -> Result<Response, ApiError> {
    caller.require(Access::Responder)?;
    let owners = state.config().config.owners_of_services(&req.services);
    caller.require_scope(&owners, "a declared service")?;
    let incident = reactions::declare(&state, &caller.name, req.declaration()).await?;
    let location = format!("/api/v1/incidents/{}", incident.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(IncidentView::from(incident)),
    )
        .into_response())
}

impl DeclareRequest {
    pub fn declaration(&self) -> Declaration<'_> {
        Declaration {
            title: &self.title,
            severity: self.severity,
            services: &self.services,
            incident_type: self.incident_type.as_deref(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(load(&state, &id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = PatchRequest,
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    // The incident's owners now were checked by the extractor; its owners after the change
    // must be covered too, or a limited token could hand its incident to another team.
    if let Some(services) = &req.services {
        let owners = state.config().config.owners_of_services(services);
        caller.require_scope(&owners, "the incident after this change")?;
    }
    let command = Command::Update {
        title: req.title,
        severity: req.severity,
        status: req.status,
        services: req.services,
    };
    apply(&state, &caller, &id, command).await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/timeline", tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), TimelineParams),
    responses((status = 200, description = "OK", body = Vec<TimelineEventView>), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn timeline(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<TimelineParams>,
) -> Result<Json<Vec<TimelineEventView>>, ApiError> {
    let incident = load(&state, &id).await?;
    let limit = p.limit.unwrap_or(500).min(5000);
    let events = state
        .store
        .timeline(incident.id, p.after.unwrap_or(0), limit)
        .await?;
    Ok(Json(events.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/milestones", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = Vec<MilestoneView>), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn milestones(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<MilestoneView>>, ApiError> {
    Ok(Json(
        IncidentView::from(load(&state, &id).await?).milestones,
    ))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/milestones", tag = "incidents", request_body = MilestoneRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn reach_milestone(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<MilestoneRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let command = match req.milestone.as_str() {
        "acknowledged" => Command::Acknowledge,
        _ => Command::ReachMilestone {
            milestone: req.milestone,
        },
    };
    apply(&state, &caller, &id, command).await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/roles", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = BTreeMap<String, RoleView>), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn roles(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<BTreeMap<String, RoleView>>, ApiError> {
    Ok(Json(IncidentView::from(load(&state, &id).await?).roles))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/roles", tag = "incidents", request_body = RoleRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView),
        (status = 403, description = "The token's role may not do this; `comms_lead` is assigned only by the incident's incident_commander or an admin token", body = ErrorBody),
        (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn assign_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Access::Responder)?;
    let number = incident_id(&id)?;
    let admin = caller.access.allows(Access::Admin);
    let role = req.role.clone();
    let command = Command::AssignRole {
        role: req.role,
        person: req.person,
    };
    let incident = reactions::apply_guarded(&state, &caller.name, number, command, |inc| {
        if admin {
            return Ok(());
        }
        muster_core::incident::check_assigner(inc, &role, &caller.name)
    })
    .await?;
    Ok(Json(incident.into()))
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), ("role" = String, Path, description = "Role id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody)))]
pub async fn release_role(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, role)): ApiPath<(String, String)>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(&state, &caller, &id, Command::ReleaseRole { role }).await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/tasks", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = Vec<TaskView>), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn tasks(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    Ok(Json(IncidentView::from(load(&state, &id).await?).tasks))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks", tag = "incidents", request_body = TaskRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn add_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<TaskRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let command = Command::AddTask {
        title: req.title,
        assignee: req.assignee,
    };
    apply(&state, &caller, &id, command).await
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}/tasks/{task_id}", tag = "incidents", request_body = TaskPatch,
    params(("id" = String, Path, description = "Incident id"), ("task_id" = u32, Path, description = "Task number")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn update_task(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, task_id)): ApiPath<(String, u32)>,
    ApiJson(req): ApiJson<TaskPatch>,
) -> Result<Json<IncidentView>, ApiError> {
    let command = Command::SetTaskDone {
        task_id,
        done: req.done,
    };
    apply(&state, &caller, &id, command).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", request_body = NoteRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn add_note(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NoteRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(&state, &caller, &id, Command::AddNote { text: req.text }).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/responders", tag = "incidents", request_body = ResponderRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ResponderRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(&state, &caller, &id, Command::Join { person: req.person }).await
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/responders/{person}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), ("person" = String, Path, description = "Person id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody),
        (status = 409, description = "Not a responder", body = ErrorBody)))]
pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, person)): ApiPath<(String, String)>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(&state, &caller, &id, Command::Leave { person }).await
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/nudges/ack", tag = "incidents", request_body = NudgeAckRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn ack_nudge(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NudgeAckRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(
        &state,
        &caller,
        &id,
        Command::AcknowledgeNudge { key: req.key },
    )
    .await
}
