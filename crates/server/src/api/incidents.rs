//! Incidents: declare, list, show, patch, and the timeline, milestones, roles, tasks and notes.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use muster_core::{
    Access, Command, Incident, IncidentNumber, Severity, Status, TimelineEvent, Timestamp, decide,
    declare_typed,
};
use muster_store::IncidentFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiQuery, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::policy;

/// An incident as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    #[schema(example = "INC-42")]
    pub id: String,
    pub title: String,
    #[schema(value_type = String, example = "SEV1")]
    pub severity: Severity,
    #[schema(value_type = String, example = "investigating")]
    pub status: Status,
    pub services: Vec<String>,
    /// `security`, `data-exposure`, … when declared with a type.
    pub incident_type: Option<String>,
    /// People working the incident now.
    pub responders: Vec<String>,
    /// Role id → holder.
    pub roles: BTreeMap<String, RoleView>,
    pub milestones: Vec<MilestoneView>,
    pub tasks: Vec<TaskView>,
    #[schema(value_type = String, format = DateTime)]
    pub declared_at: Timestamp,
    pub declared_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Sequence number of the latest timeline event.
    pub last_seq: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MilestoneView {
    pub milestone: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: u32,
    pub title: String,
    pub assignee: Option<String>,
    pub done: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

/// One timeline entry: who did what, when. `data` depends on `kind`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEventView {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    #[schema(example = "milestone_reached")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        IncidentView {
            id: i.id.to_string(),
            title: i.title,
            severity: i.severity,
            status: i.status,
            services: i.services,
            incident_type: i.incident_type,
            responders: i.responders,
            roles: i
                .roles
                .into_iter()
                .map(|(role, h)| {
                    (
                        role,
                        RoleView {
                            person: h.person,
                            since: h.since,
                        },
                    )
                })
                .collect(),
            milestones: i
                .milestones
                .into_iter()
                .map(|m| MilestoneView {
                    milestone: m.milestone,
                    at: m.at,
                    actor: m.actor,
                })
                .collect(),
            tasks: i.tasks.into_iter().map(TaskView::from).collect(),
            declared_at: i.declared_at,
            declared_by: i.declared_by,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
            last_seq: i.last_seq,
        }
    }
}

impl From<muster_core::Task> for TaskView {
    fn from(t: muster_core::Task) -> Self {
        TaskView {
            id: t.id,
            title: t.title,
            assignee: t.assignee,
            done: t.done,
            created_at: t.created_at,
            done_at: t.done_at,
        }
    }
}

impl From<TimelineEvent> for TimelineEventView {
    fn from(e: TimelineEvent) -> Self {
        let kind = e.change.kind().to_string();
        let data = match serde_json::to_value(&e.change) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        };
        TimelineEventView {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind,
            data,
        }
    }
}

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
    Ok(Json(
        apply_as(state, &caller.name, id, command).await?.into(),
    ))
}

/// Runs `command` as `actor` (an API token's owner, or a person acting from Slack).
pub(crate) async fn apply_as(
    state: &AppState,
    actor: &str,
    id: IncidentNumber,
    command: Command,
) -> Result<Incident, ApiError> {
    let cfg = state.config();
    let overrides = policy::runtime_overrides(&state.store).await?;
    let now = state.clock.now();
    // The policies react in the same transaction: their timers, outbox items and timeline
    // records commit with the change or not at all.
    let (incident, _events) = state
        .store
        .update_with_policy(id, actor, now, |inc, policy_state| {
            let mut changes = decide(inc, &command, &cfg.vocab)?;
            let (more, mut effects) =
                policy::react(&cfg, &overrides, inc, policy_state, &changes, actor, now);
            changes.extend(more);
            effects
                .outbox
                .extend(crate::slack::channel::on_change(&cfg, inc, &changes));
            Ok((changes, effects))
        })
        .await?;
    Ok(incident)
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
        before: p.before.as_deref().map(incident_id).transpose()?,
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
    let incident = declare_as(&state, &caller.name, &req).await?;
    let location = format!("/api/v1/incidents/{}", incident.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(IncidentView::from(incident)),
    )
        .into_response())
}

/// Declares an incident as `actor`, with the policies', playbooks' and Slack's effects.
pub(crate) async fn declare_as(
    state: &AppState,
    actor: &str,
    req: &DeclareRequest,
) -> Result<Incident, ApiError> {
    let cfg = state.config();
    let changes = declare_typed(
        &req.title,
        req.severity,
        &req.services,
        req.incident_type.as_deref(),
        &cfg.vocab,
    )?;
    let overrides = policy::runtime_overrides(&state.store).await?;
    let now = state.clock.now();
    let declared = changes.clone();
    let (incident, _) = state
        .store
        .declare_with_policy(actor, now, changes, |inc, policy_state| {
            let (mut changes, mut effects) =
                policy::react(&cfg, &overrides, inc, policy_state, &declared, actor, now);
            // The playbooks' tasks and notifications commit with the declaration, like the
            // policies'.
            crate::playbook::on_declared(&cfg.config, inc, &mut changes, &mut effects);
            crate::slack::channel::on_declare(&cfg, inc, now, &mut effects);
            (changes, effects)
        })
        .await?;
    tracing::info!(incident = %incident.id, severity = %incident.severity, %actor, "incident declared");
    Ok(incident)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(load(&state, &id).await?.into()))
}

#[utoipa::path(patch, path = "/api/v1/incidents/{id}", tag = "incidents", request_body = PatchRequest,
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn patch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<PatchRequest>,
) -> Result<Json<IncidentView>, ApiError> {
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
) -> Result<Json<BTreeMap<String, RoleView>>, ApiError> {
    Ok(Json(IncidentView::from(load(&state, &id).await?).roles))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/roles", tag = "incidents", request_body = RoleRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn assign_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RoleRequest>,
) -> Result<Json<IncidentView>, ApiError> {
    let command = Command::AssignRole {
        role: req.role,
        person: req.person,
    };
    apply(&state, &caller, &id, command).await
}

#[utoipa::path(delete, path = "/api/v1/incidents/{id}/roles/{role}", tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), ("role" = String, Path, description = "Role id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 409, description = "Conflicts with the incident's current state", body = ErrorBody)))]
pub async fn release_role(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, role)): Path<(String, String)>,
) -> Result<Json<IncidentView>, ApiError> {
    apply(&state, &caller, &id, Command::ReleaseRole { role }).await
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/tasks", tag = "incidents",
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = Vec<TaskView>), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn tasks(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<TaskView>>, ApiError> {
    Ok(Json(IncidentView::from(load(&state, &id).await?).tasks))
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/tasks", tag = "incidents", request_body = TaskRequest,
    params(("id" = String, Path, description = "Incident id")),
    responses((status = 200, description = "OK", body = IncidentView), (status = 404, description = "No such incident", body = ErrorBody), (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn add_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
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
    Path((id, task_id)): Path<(String, u32)>,
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
    Path(id): Path<String>,
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
    Path(id): Path<String>,
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
    Path((id, person)): Path<(String, String)>,
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
    Path(id): Path<String>,
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
