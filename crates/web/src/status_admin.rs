//! The status page's admin: public incidents with their updates on the way to `/status`
//! (drafted → approved → published). Every action calls the function the API's handler calls
//! (`api::status_page::{create_as, draft_as, approve_as, publish_as}`), so the rules — who may
//! approve, approval before publishing — are the API's. A draft's body starts from the
//! linked incident's deterministic customer draft, as `…/status-update-draft?audience=customer`
//! makes it.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use muster_config::StatusPage;
use muster_core::brief::{self, Audience};
use muster_core::status_page::{
    ComponentImpact, ComponentStatus, PublicStatus, Published, stated_components, summarize,
};
use muster_core::{Access, Incident, IncidentNumber};
use muster_server::AppState;
use muster_server::api::status_page::{
    ComponentImpactView, CreatePublicIncident, DraftUpdate, approve_as, check_approver, create_as,
    default_components, draft_as, publish_as,
};
use muster_server::auth::Caller;
use muster_server::scope::Owned;
use muster_server::views::brief::Loaded;
use muster_store::{IncidentFilter, MAX_PUBLIC_INCIDENTS, PublicIncident, UpdateState};
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::{Posted, Session};
use crate::util::{api_error, given};

/// Internal incidents the open form offers.
const OFFERED: u32 = 100;

/// A component as a page shows it: its name and status in words.
pub struct ComponentRow {
    pub name: String,
    pub status: String,
}

pub struct Who {
    pub by: String,
    pub at: Time,
}

pub struct UpdateRow {
    pub id: String,
    pub status: String,
    pub state: &'static str,
    pub body: String,
    pub components: Vec<ComponentRow>,
    pub drafted: Who,
    pub approved: Option<Who>,
    pub published: Option<Who>,
    pub can_approve: bool,
    pub can_publish: bool,
    /// Why a draft cannot be published yet (empty when it can, or is published).
    pub waiting: String,
}

pub struct PublicRow {
    pub id: String,
    pub name: String,
    pub incident: String,
    /// Its public status in words, or that nothing is published yet.
    pub status: String,
    pub open: bool,
    pub impact: String,
    pub components: Vec<ComponentRow>,
    pub updates: Vec<UpdateRow>,
}

/// An internal incident the open form offers.
pub struct Offered {
    pub id: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "status_admin.html")]
struct ListPage {
    layout: Layout,
    configured: bool,
    incidents: Vec<PublicRow>,
    offered: Vec<Offered>,
    /// The prefill of the open form: an internal incident, its title, its components.
    chosen: String,
    name: String,
    chosen_components: Vec<String>,
}

/// One of a draft form's component choices.
pub struct ComponentChoice {
    pub id: String,
    pub name: String,
    /// The prefilled status; empty: not affected.
    pub selected: String,
}

#[derive(Template)]
#[template(path = "status_admin_incident.html")]
struct IncidentPage {
    layout: Layout,
    p: PublicRow,
    require_approval: bool,
    statuses: Vec<(&'static str, &'static str)>,
    component_statuses: Vec<(&'static str, &'static str)>,
    suggested: &'static str,
    body: String,
    choices: Vec<ComponentChoice>,
}

/// The session as the API's caller: the same name, role and teams.
fn caller(session: &Session) -> Caller {
    Caller {
        name: session.name.clone(),
        access: session.access,
        scope: session.scope.clone(),
    }
}

fn missing(id: &str) -> PageError {
    PageError::not_found(format!("There is no public incident {id}."))
}

/// Components by their page names (an id the configuration no longer has, as it is).
fn component_rows(page: Option<&StatusPage>, list: &[ComponentImpact]) -> Vec<ComponentRow> {
    list.iter()
        .map(|c| ComponentRow {
            name: page
                .and_then(|p| p.component(&c.component))
                .map_or_else(|| c.component.clone(), |found| found.name.clone()),
            status: c.status.label().to_string(),
        })
        .collect()
}

/// A public incident as the admin pages show it; `internal` (its linked incident) decides
/// who may approve.
fn public_row(
    p: PublicIncident,
    page: Option<&StatusPage>,
    internal: Option<&Incident>,
    session: &Session,
) -> PublicRow {
    let published: Vec<Published<'_>> = p
        .updates
        .iter()
        .filter_map(|u| {
            Some(Published {
                status: u.status,
                components: &u.components,
                at: u.published_at?,
            })
        })
        .collect();
    let summary = summarize(&published);
    let components = component_rows(page, &stated_components(&published));
    let zone = &session.zone;
    let me = caller(session);
    let require_approval = page.is_none_or(|p| p.require_approval);
    let can_act = session.access.allows(Access::Responder);
    let approver = internal
        .and_then(|i| i.roles.get(muster_server::api::status_page::APPROVER_ROLE))
        .map_or_else(
            || "the incident's comms lead".to_string(),
            |h| format!("the comms lead ({})", h.person),
        );
    let updates = p
        .updates
        .into_iter()
        .rev()
        .map(|u| {
            let draft = u.state == UpdateState::Draft;
            let can_approve = can_act
                && draft
                && check_approver(&me, internal, Some(u.drafted_by.as_str())).is_ok();
            let blocked = draft && require_approval;
            UpdateRow {
                status: u.status.label().to_string(),
                state: u.state.as_str(),
                components: component_rows(page, &u.components),
                drafted: Who {
                    by: u.drafted_by.clone(),
                    at: Time::new(u.drafted_at, zone),
                },
                approved: who(u.approved_by, u.approved_at, zone),
                published: who(u.published_by, u.published_at, zone),
                can_approve,
                can_publish: can_act && u.state != UpdateState::Published && !blocked,
                waiting: if blocked {
                    format!(
                        "Waiting for approval by {approver} or an admin, other than {}.",
                        u.drafted_by
                    )
                } else {
                    String::new()
                },
                id: u.id,
                body: u.body,
            }
        })
        .collect();
    PublicRow {
        id: p.id,
        name: p.name,
        incident: p.incident.to_string(),
        status: summary.as_ref().map_or_else(
            || "Not on the page yet".to_string(),
            |s| s.status.label().to_string(),
        ),
        open: summary
            .as_ref()
            .is_none_or(|s| s.status != PublicStatus::Resolved),
        impact: summary.map_or("none", |s| s.impact.as_str()).to_string(),
        components,
        updates,
    }
}

fn who(by: Option<String>, at: Option<jiff::Timestamp>, zone: &Zone) -> Option<Who> {
    Some(Who {
        by: by?,
        at: Time::new(at?, zone),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    /// Prefill the open form from this internal incident.
    #[serde(default)]
    incident: String,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let cfg = state.config();
    let page = cfg.config.status_page.as_ref();
    let mut incidents: Vec<PublicRow> = state
        .store
        .public_incidents(MAX_PUBLIC_INCIDENTS)
        .await?
        .into_iter()
        .map(|p| public_row(p, page, None, &session))
        .collect();
    // Open first; newest first within each (the store's order, kept by a stable sort).
    incidents.sort_by_key(|p| !p.open);
    let offered = state
        .store
        .list_incidents(&IncidentFilter {
            open_only: true,
            limit: Some(OFFERED),
            ..IncidentFilter::default()
        })
        .await?
        .into_iter()
        .filter(|i| !i.exercise)
        .map(|i| Offered {
            id: i.id.to_string(),
            title: i.title,
        })
        .collect();
    let (chosen, name, chosen_components) = match given(&q.incident) {
        Some(raw) => {
            let internal = crate::incident::load(&state, &raw).await?;
            let components = page
                .map(|p| {
                    p.components_for_services(&internal.services)
                        .map(|c| c.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            (internal.id.to_string(), internal.title, components)
        }
        None => (String::new(), String::new(), Vec::new()),
    };
    let view = ListPage {
        layout: Layout::new("Status page", "status", &session, "/status-admin"),
        configured: page.is_some(),
        incidents,
        offered,
        chosen,
        name,
        chosen_components,
    };
    Ok(render(&view))
}

#[derive(Debug, Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    incident: String,
    #[serde(default)]
    name: String,
}

pub async fn open(
    State(state): State<AppState>,
    p: Posted<OpenForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    let incident = form.incident.trim().to_string();
    session
        .require_owner(&state, Owned::Incident(incident.clone()))
        .await?;
    let req = CreatePublicIncident {
        incident,
        name: given(&form.name),
    };
    let created = create_as(&state, &caller(&session), &req)
        .await
        .map_err(api_error)?;
    tracing::info!(public = %created.id, incident = %created.incident, actor = %session.name, "public incident opened from the web UI");
    Ok(Redirect::to(&format!("/status-admin/{}", created.id)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let public = state
        .store
        .public_incident(&id)
        .await?
        .ok_or_else(|| missing(&id))?;
    let number: IncidentNumber = public.incident;
    let loaded = Loaded::load(&state, number).await?;
    let internal = loaded.as_ref().map(|l| &l.incident);
    let cfg = state.config();
    let page = cfg.config.status_page.as_ref();
    let suggested = internal.map_or(PublicStatus::Investigating, |i| {
        PublicStatus::suggested_for(i.status)
    });
    // The customer draft's plain sentences: what the API's draft endpoint says for customers.
    let body = loaded
        .as_ref()
        .map(|l| brief::status_update_draft(&l.facts(), Audience::Customer).body)
        .unwrap_or_default()
        .join(" ");
    let defaults = page
        .map(|p| default_components(p, internal, suggested))
        .unwrap_or_default();
    let choices = page
        .map(|p| {
            p.components
                .iter()
                .map(|c| ComponentChoice {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    selected: defaults
                        .iter()
                        .find(|d| d.component == c.id)
                        .map(|d| d.status.as_str().to_string())
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let view = IncidentPage {
        layout: Layout::new(
            format!("Public incident {id}"),
            "status",
            &session,
            &format!("/status-admin/{id}"),
        ),
        require_approval: page.is_none_or(|p| p.require_approval),
        p: public_row(public, page, internal, &session),
        statuses: PublicStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        component_statuses: ComponentStatus::ALL
            .iter()
            .map(|s| (s.as_str(), s.label()))
            .collect(),
        suggested: suggested.as_str(),
        body,
        choices,
    };
    Ok(render(&view))
}

/// Fields of the draft form besides the form token: `status`, `body`, and
/// `component:<id>` for each component (empty: not affected).
pub async fn draft(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted<BTreeMap<String, String>>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    session
        .require_owner(&state, Owned::PublicIncident(id.clone()))
        .await?;
    let components = form
        .iter()
        .filter_map(|(k, v)| {
            let component = k.strip_prefix("component:")?;
            given(v).map(|status| ComponentImpactView {
                component: component.to_string(),
                status,
            })
        })
        .collect();
    let req = DraftUpdate {
        status: form.get("status").cloned().unwrap_or_default(),
        body: form.get("body").cloned().unwrap_or_default(),
        components: Some(components),
    };
    let drafted = draft_as(&state, &caller(&session), &id, req)
        .await
        .map_err(api_error)?;
    tracing::info!(public = %id, update = %drafted.id, actor = %session.name, "public update drafted from the web UI");
    Ok(Redirect::to(&format!("/status-admin/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn approve(
    State(state): State<AppState>,
    Path((id, update)): Path<(String, String)>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    settle(&state, &p.session, &id, &update, Step::Approve).await
}

pub async fn publish(
    State(state): State<AppState>,
    Path((id, update)): Path<(String, String)>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    settle(&state, &p.session, &id, &update, Step::Publish).await
}

/// What becomes of a drafted update.
#[derive(Clone, Copy)]
enum Step {
    Approve,
    Publish,
}

/// Approves or publishes `update` with the API's checks, then back to the public incident.
async fn settle(
    state: &AppState,
    session: &Session,
    id: &str,
    update: &str,
    step: Step,
) -> Result<Response, PageError> {
    session.require(Access::Responder)?;
    session
        .require_owner(state, Owned::PublicIncident(id.to_string()))
        .await?;
    let caller = caller(session);
    let done = match step {
        Step::Approve => approve_as(state, &caller, id, update)
            .await
            .map(|_| "approved"),
        Step::Publish => publish_as(state, &caller, id, update)
            .await
            .map(|_| "published"),
    }
    .map_err(api_error)?;
    tracing::info!(public = %id, %update, actor = %session.name, "public update {done} from the web UI");
    Ok(Redirect::to(&format!("/status-admin/{id}")).into_response())
}
