//! `/api/v1/status-page/…`: public incidents and their updates as responders work them.
//!
//! An update is drafted (responder), approved by the linked incident's comms lead or an admin
//! token other than its drafter, then published (responder). With `status_page.require_approval: false` a draft may
//! be published directly. Only published updates ever reach the public page (`crate::status`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use muster_config::StatusPage;
use muster_core::status_page::{ComponentImpact, ComponentStatus, PublicStatus};
use muster_core::{Access, Incident, Status, Timestamp};
use muster_store::{NewPublicUpdate, PublicIncident, PublicUpdate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

/// The role whose holder approves public updates.
pub const APPROVER_ROLE: &str = "comms_lead";
const MAX_NAME_CHARS: usize = 200;
const MAX_BODY_CHARS: usize = 10_000;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicIncidentView {
    #[schema(example = "pi-1")]
    pub id: String,
    /// The internal incident, e.g. `INC-42`.
    pub incident: String,
    pub name: String,
    pub created_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Oldest first, drafts included.
    pub updates: Vec<PublicUpdateView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicUpdateView {
    #[schema(example = "pu-1")]
    pub id: String,
    #[schema(example = "investigating")]
    pub status: String,
    pub body: String,
    pub components: Vec<ComponentImpactView>,
    /// `draft`, `approved` or `published`.
    pub state: String,
    pub drafted_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub drafted_at: Timestamp,
    pub approved_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approved_at: Option<Timestamp>,
    pub published_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub published_at: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentImpactView {
    /// A component id from `status_page.components`.
    pub component: String,
    /// `operational`, `under_maintenance`, `degraded_performance`, `partial_outage` or
    /// `major_outage`.
    pub status: String,
}

impl From<PublicUpdate> for PublicUpdateView {
    fn from(u: PublicUpdate) -> Self {
        PublicUpdateView {
            id: u.id,
            status: u.status.as_str().into(),
            body: u.body,
            components: u
                .components
                .into_iter()
                .map(|c| ComponentImpactView {
                    component: c.component,
                    status: c.status.as_str().into(),
                })
                .collect(),
            state: u.state.as_str().into(),
            drafted_by: u.drafted_by,
            drafted_at: u.drafted_at,
            approved_by: u.approved_by,
            approved_at: u.approved_at,
            published_by: u.published_by,
            published_at: u.published_at,
        }
    }
}

impl From<PublicIncident> for PublicIncidentView {
    fn from(p: PublicIncident) -> Self {
        PublicIncidentView {
            id: p.id,
            incident: p.incident.to_string(),
            name: p.name,
            created_by: p.created_by,
            created_at: p.created_at,
            updates: p.updates.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePublicIncident {
    /// The internal incident it speaks for, e.g. `INC-42`.
    pub incident: String,
    /// The public title (default: the internal incident's title).
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftUpdate {
    /// `investigating`, `identified`, `monitoring` or `resolved`.
    pub status: String,
    pub body: String,
    /// Affected components with their status. Default: the components mapped to the internal
    /// incident's services, `partial_outage` (`operational` when `status` is `resolved`).
    pub components: Option<Vec<ComponentImpactView>>,
}

fn page(state: &AppState) -> Result<StatusPage, ApiError> {
    state.config().config.status_page.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "no status_page section in the configuration",
        )
    })
}

fn missing(id: &str) -> ApiError {
    ApiError::not_found(format!("no public incident `{id}`"))
}

fn text_field(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    muster_core::control::check(field, value)?;
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::unprocessable(format!(
            "{field}: must be 1 to {max} characters"
        )));
    }
    Ok(value.to_string())
}

#[utoipa::path(get, path = "/api/v1/status-page/incidents", tag = "status-page", operation_id = "list_public_incidents",
    responses((status = 200, description = "Public incidents, newest first, drafts included", body = Vec<PublicIncidentView>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<PublicIncidentView>>, ApiError> {
    let list = state
        .store
        .public_incidents(muster_store::MAX_PUBLIC_INCIDENTS)
        .await?;
    Ok(Json(list.into_iter().map(Into::into).collect()))
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents", tag = "status-page", operation_id = "create_public_incident", request_body = CreatePublicIncident,
    responses((status = 201, description = "Created; nothing is public until an update is published", body = PublicIncidentView),
        (status = 404, description = "No such internal incident", body = ErrorBody),
        (status = 409, description = "No status page is configured, or the incident is a drill's", body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreatePublicIncident>,
) -> Result<Response, ApiError> {
    let created = create_as(&state, &caller, &req).await?;
    Ok((StatusCode::CREATED, Json(PublicIncidentView::from(created))).into_response())
}

/// Opens a public incident for an internal one as `caller`: a responder whose teams own it,
/// never for a drill's incident. What `POST /api/v1/status-page/incidents` does, and the web
/// UI's form.
pub async fn create_as(
    state: &AppState,
    caller: &Caller,
    req: &CreatePublicIncident,
) -> Result<PublicIncident, ApiError> {
    caller.require(Access::Responder)?;
    page(state)?;
    let number = incident_id(&req.incident)?;
    let internal = state
        .store
        .incident(number)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("incident {number} not found")))?;
    let owners = state.config().config.owners_of_services(&internal.services);
    caller.require_scope(&owners, &format!("incident {number}"))?;
    if internal.exercise {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "exercise",
            format!("{number} is a drill's incident: drills never reach the public status page"),
        ));
    }
    let name = text_field(
        "name",
        req.name.as_deref().unwrap_or(&internal.title),
        MAX_NAME_CHARS,
    )?;
    Ok(state
        .store
        .create_public_incident(number, &name, &caller.name, state.clock.now())
        .await?)
}

#[utoipa::path(get, path = "/api/v1/status-page/incidents/{id}", tag = "status-page", operation_id = "show_public_incident",
    params(("id" = String, Path, description = "Public incident id, e.g. pi-1")),
    responses((status = 200, description = "OK", body = PublicIncidentView),
        (status = 404, description = "No such public incident", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PublicIncidentView>, ApiError> {
    let p = state
        .store
        .public_incident(&id)
        .await?
        .ok_or_else(|| missing(&id))?;
    Ok(Json(p.into()))
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents/{id}/updates", tag = "status-page", operation_id = "draft_public_update", request_body = DraftUpdate,
    params(("id" = String, Path, description = "Public incident id, e.g. pi-1")),
    responses((status = 201, description = "Drafted (not public)", body = PublicUpdateView),
        (status = 404, description = "No such public incident", body = ErrorBody),
        (status = 409, description = "No status page is configured", body = ErrorBody),
        (status = 422, description = "A field has an invalid or unknown value", body = ErrorBody)))]
pub async fn draft(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<DraftUpdate>,
) -> Result<Response, ApiError> {
    let drafted = draft_as(&state, &caller, &id, req).await?;
    Ok((StatusCode::CREATED, Json(PublicUpdateView::from(drafted))).into_response())
}

/// Drafts an update of public incident `id` as `caller` (a responder): its status, body and
/// components checked against the page. What the API's draft endpoint does, and the web UI's
/// draft form.
pub async fn draft_as(
    state: &AppState,
    caller: &Caller,
    id: &str,
    req: DraftUpdate,
) -> Result<PublicUpdate, ApiError> {
    caller.require(Access::Responder)?;
    let page = page(state)?;
    let public = state
        .store
        .public_incident(id)
        .await?
        .ok_or_else(|| missing(id))?;
    let status: PublicStatus = req
        .status
        .parse()
        .map_err(|e: muster_core::DomainError| ApiError::unprocessable(e.to_string()))?;
    let body = text_field("body", &req.body, MAX_BODY_CHARS)?;
    let components = match req.components {
        Some(list) => components(&page, &list)?,
        None => {
            let internal = state.store.incident(public.incident).await?;
            default_components(&page, internal.as_ref(), status)
        }
    };
    let new = NewPublicUpdate {
        status,
        body,
        components,
    };
    state
        .store
        .draft_public_update(id, new, &caller.name, state.clock.now())
        .await?
        .ok_or_else(|| missing(id))
}

/// Checks each component and status against the page, naming the item at fault.
fn components(
    page: &StatusPage,
    list: &[ComponentImpactView],
) -> Result<Vec<ComponentImpact>, ApiError> {
    let mut out: Vec<ComponentImpact> = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        if page.component(&c.component).is_none() {
            let known: Vec<&str> = page.components.iter().map(|c| c.id.as_str()).collect();
            return Err(ApiError::unprocessable(format!(
                "components[{i}].component: unknown component `{}`; expected one of: {}",
                c.component,
                known.join(", ")
            )));
        }
        if out.iter().any(|o| o.component == c.component) {
            return Err(ApiError::unprocessable(format!(
                "components[{i}].component: `{}` is listed twice",
                c.component
            )));
        }
        let status: ComponentStatus = c.status.parse().map_err(|e: muster_core::DomainError| {
            ApiError::unprocessable(format!("components[{i}].status: {e}"))
        })?;
        out.push(ComponentImpact {
            component: c.component.clone(),
            status,
        });
    }
    Ok(out)
}

/// The components an update names when its drafter names none: those mapped to the internal
/// incident's services, `partial_outage` (`operational` once resolved).
pub fn default_components(
    page: &StatusPage,
    internal: Option<&Incident>,
    status: PublicStatus,
) -> Vec<ComponentImpact> {
    let Some(internal) = internal else {
        return Vec::new();
    };
    let impact = if status == PublicStatus::Resolved || internal.status == Status::Resolved {
        ComponentStatus::Operational
    } else {
        ComponentStatus::PartialOutage
    };
    page.components_for_services(&internal.services)
        .map(|c| ComponentImpact {
            component: c.id.clone(),
            status: impact,
        })
        .collect()
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents/{id}/updates/{update_id}/approve", tag = "status-page", operation_id = "approve_public_update",
    params(("id" = String, Path, description = "Public incident id"), ("update_id" = String, Path, description = "Update id, e.g. pu-1")),
    responses((status = 200, description = "Approved (not yet public)", body = PublicUpdateView),
        (status = 403, description = "Only the incident's comms lead or an admin token may approve, and never the update's drafter", body = ErrorBody),
        (status = 404, description = "No such update", body = ErrorBody),
        (status = 409, description = "Not a draft", body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, update_id)): ApiPath<(String, String)>,
) -> Result<Json<PublicUpdateView>, ApiError> {
    Ok(Json(
        approve_as(&state, &caller, &id, &update_id).await?.into(),
    ))
}

/// Approves update `update_id` of public incident `id` as `caller`, if [`check_approver`]
/// lets them. What the API's approve endpoint does, and the web UI's approve button.
pub async fn approve_as(
    state: &AppState,
    caller: &Caller,
    id: &str,
    update_id: &str,
) -> Result<PublicUpdate, ApiError> {
    let public = state
        .store
        .public_incident(id)
        .await?
        .ok_or_else(|| missing(id))?;
    let drafter = public
        .updates
        .iter()
        .find(|u| u.id == update_id)
        .map(|u| u.drafted_by.as_str());
    let internal = state.store.incident(public.incident).await?;
    check_approver(caller, internal.as_ref(), drafter)?;
    state
        .store
        .approve_public_update(id, update_id, &caller.name, state.clock.now())
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no update `{update_id}` on `{id}`")))
}

/// Who may approve an update: never its drafter (`drafter`, when the update exists); the
/// linked incident's comms lead or an admin otherwise.
pub fn check_approver(
    caller: &Caller,
    internal: Option<&Incident>,
    drafter: Option<&str>,
) -> Result<(), ApiError> {
    if drafter == Some(caller.name.as_str()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "`{}` drafted this update and may not approve it; another person must (the \
                 incident's {APPROVER_ROLE} or an admin)",
                caller.name
            ),
        ));
    }
    may_approve(caller, internal)
}

/// Admins, and the person who holds the comms-lead role of the linked incident now.
fn may_approve(caller: &Caller, internal: Option<&Incident>) -> Result<(), ApiError> {
    if caller.access.allows(Access::Admin) {
        return Ok(());
    }
    caller.require(Access::Responder)?;
    let holder = internal.and_then(|i| i.roles.get(APPROVER_ROLE));
    if holder.is_some_and(|h| h.person == caller.name) {
        return Ok(());
    }
    let who = holder.map_or_else(
        || "nobody holds it on the incident".to_string(),
        |h| format!("it is held by `{}`", h.person),
    );
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "only the incident's {APPROVER_ROLE} or an admin may approve public updates; {who}"
        ),
    ))
}

#[utoipa::path(post, path = "/api/v1/status-page/incidents/{id}/updates/{update_id}/publish", tag = "status-page", operation_id = "publish_public_update",
    params(("id" = String, Path, description = "Public incident id"), ("update_id" = String, Path, description = "Update id, e.g. pu-1")),
    responses((status = 200, description = "Published: on the page from now on", body = PublicUpdateView),
        (status = 404, description = "No such update", body = ErrorBody),
        (status = 409, description = "Not approved yet (when approval is required), or already published", body = ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, update_id)): ApiPath<(String, String)>,
) -> Result<Json<PublicUpdateView>, ApiError> {
    Ok(Json(
        publish_as(&state, &caller, &id, &update_id).await?.into(),
    ))
}

/// Publishes update `update_id` of public incident `id` as `caller` (a responder): refused for
/// a draft while `status_page.require_approval`. What the API's publish endpoint does, and the
/// web UI's publish button.
pub async fn publish_as(
    state: &AppState,
    caller: &Caller,
    id: &str,
    update_id: &str,
) -> Result<PublicUpdate, ApiError> {
    caller.require(Access::Responder)?;
    let page = page(state)?;
    state
        .store
        .publish_public_update(
            id,
            update_id,
            page.require_approval,
            &caller.name,
            state.clock.now(),
        )
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no update `{update_id}` on `{id}`")))
}
