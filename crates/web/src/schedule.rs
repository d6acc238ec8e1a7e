//! One schedule's page: who is on call now, its final schedule and layers over a window, how
//! each layer rotates, the run-time overrides in force (an admin ends one) and its audit
//! trail; and **"take the pager now"**: one click puts the viewer on call in place of whoever
//! is, through `api::pager::take_as`, what the API's `take-pager` calls.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use muster_core::schedule::{self, rotates_in};
use muster_core::{Access, access};
use muster_server::AppState;
use muster_server::api::pager::{TakePager, Taker, take_as};
use muster_server::oncall;
use muster_server::scope::Owned;
use muster_store::IncidentFilter;
use serde::Deserialize;

use crate::oncall::{Frame, ScheduleView, Window, schedule_view};
use crate::page::{Layout, PageError, Time, render};
use crate::session::{Posted, Session};
use crate::util::{api_error, given};

/// Audit entries the page shows, newest first.
const AUDIT_SHOWN: u32 = 20;

pub struct LayerRow {
    pub name: String,
    pub members: String,
    pub shift: String,
    pub handoff: String,
    pub start: String,
    pub restricted: bool,
}

pub struct OverrideRow {
    pub id: String,
    pub person: String,
    pub replaces: String,
    pub from: Time,
    pub to: Time,
    pub reason: String,
    pub created_by: String,
}

pub struct AuditRow {
    pub at: Time,
    pub actor: String,
    pub action: String,
    pub detail: String,
}

/// An open incident the viewer can name when taking the pager.
pub struct OpenIncident {
    pub id: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    layout: Layout,
    frame: Frame,
    s: ScheduleView,
    zone_name: String,
    on_call: Vec<String>,
    layers: Vec<LayerRow>,
    overrides: Vec<OverrideRow>,
    audit: Vec<AuditRow>,
    /// Why the viewer cannot take the pager (empty: the form is shown).
    take_refused: String,
    incidents: Vec<OpenIncident>,
    admin: bool,
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Query(w): Query<Window>,
) -> Result<Response, PageError> {
    let cfg = state.config();
    let Some(configured) = cfg.config.schedules.get(&id) else {
        return Err(PageError::not_found(format!("There is no schedule {id}.")));
    };
    let now = state.clock.now();
    let path = format!("/oncall/schedules/{id}");
    let frame = Frame::of(&w, &session.zone, now, &path)?;
    let runtime = oncall::runtime_overrides(&state.store).await?;
    let Some(effective) = oncall::effective_schedule(&cfg.config, &runtime, &id) else {
        return Err(PageError::not_found(format!("There is no schedule {id}.")));
    };
    let zone = &session.zone;
    let overrides = state
        .store
        .overrides(&id)
        .await?
        .into_iter()
        .map(|o| OverrideRow {
            id: o.id,
            person: o.person,
            replaces: o.replaces.unwrap_or_default(),
            from: Time::new(o.from, zone),
            to: Time::new(o.to, zone),
            reason: o.reason,
            created_by: o.created_by,
        })
        .collect();
    let audit = state
        .store
        .audit(Some(&format!("schedule:{id}")), AUDIT_SHOWN)
        .await?
        .into_iter()
        .map(|a| AuditRow {
            at: Time::new(a.at, zone),
            actor: a.actor,
            action: a.action,
            detail: audit_detail(&a.data),
        })
        .collect();
    let take_refused = take_refusal(&session, &cfg.config, &effective);
    let incidents = if take_refused.is_empty() {
        open_incidents(&state).await?
    } else {
        Vec::new()
    };
    let page = SchedulePage {
        layout: Layout::new(configured.name.clone(), "oncall", &session, &path),
        s: schedule_view(configured, &effective, &frame.scale, &session),
        frame,
        zone_name: configured.time_zone.clone(),
        on_call: schedule::on_call(&effective, now),
        layers: configured.layers.iter().map(layer_row).collect(),
        overrides,
        audit,
        take_refused,
        incidents,
        admin: session.access.allows(Access::Admin),
    };
    Ok(render(&page))
}

fn layer_row(l: &muster_config::Layer) -> LayerRow {
    LayerRow {
        name: l.name.clone(),
        members: l.members.join(", "),
        shift: l.shift.to_string(),
        handoff: l.handoff.to_string(),
        start: l.start.to_string(),
        restricted: !l.restrictions.is_empty(),
    }
}

/// An audit entry's data in one line (`person=carol, replaces=bob, …`).
fn audit_detail(data: &serde_json::Value) -> String {
    let Some(map) = data.as_object() else {
        return data.to_string();
    };
    map.iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why the viewer's take-the-pager form is not shown; empty when it is. The server checks
/// again on POST: this only spares a button that would be refused.
fn take_refusal(
    session: &Session,
    config: &muster_config::Config,
    effective: &schedule::Schedule,
) -> String {
    if !session.access.allows(Access::Responder) {
        return "Viewers cannot take the pager.".into();
    }
    if !config.people.contains_key(&session.name) {
        return format!(
            "You are signed in as {}, which is not a person of the configuration.",
            session.name
        );
    }
    if !access::may_take_pager(session.access, rotates_in(effective, &session.name)) {
        return format!(
            "{} does not rotate in this schedule; an admin can cover a shift instead.",
            session.name
        );
    }
    String::new()
}

async fn open_incidents(state: &AppState) -> Result<Vec<OpenIncident>, PageError> {
    let open = state
        .store
        .list_incidents(&IncidentFilter {
            open_only: true,
            limit: Some(50),
            ..IncidentFilter::default()
        })
        .await?;
    Ok(open
        .iter()
        .map(|i| OpenIncident {
            id: i.id.to_string(),
            label: format!("{} {} — {}", i.id, i.severity, i.title),
        })
        .collect())
}

#[derive(Debug, Deserialize)]
pub struct TakeForm {
    /// Minutes, or empty for "until the end of the shift".
    #[serde(default)]
    minutes: String,
    /// An open incident's id, or empty.
    #[serde(default)]
    incident: String,
}

/// "Take the pager now": the checks and the override of the API's `take-pager`, audited.
pub async fn take(
    State(state): State<AppState>,
    Path(id): Path<String>,
    p: Posted<TakeForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    session
        .require_owner(&state, Owned::Schedule(id.clone()))
        .await?;
    let minutes = given(&form.minutes)
        .map(|m| {
            m.parse::<u32>()
                .map_err(|_| PageError::invalid(format!("minutes: `{m}` is not a number")))
        })
        .transpose()?;
    let incident = given(&form.incident);
    if let Some(raw) = &incident {
        session
            .require_owner(&state, Owned::Incident(raw.clone()))
            .await?;
    }
    let taker = Taker {
        name: &session.name,
        access: session.access,
    };
    let req = TakePager { minutes, incident };
    take_as(&state, taker, &id, &req).await.map_err(api_error)?;
    Ok(Redirect::to(&format!("/oncall/schedules/{id}")).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

/// Ends a run-time override (admin), audited, as the API's `DELETE …/overrides/{id}`.
pub async fn end_override(
    State(state): State<AppState>,
    Path((id, override_id)): Path<(String, String)>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    let session = p.session;
    session.require(Access::Admin)?;
    session
        .require_owner(&state, Owned::Schedule(id.clone()))
        .await?;
    let removed = state
        .store
        .delete_override(&id, &override_id, &session.name, state.clock.now())
        .await?;
    if removed.is_none() {
        return Err(PageError::not_found(format!(
            "There is no override {override_id} on schedule {id}."
        )));
    }
    Ok(Redirect::to(&format!("/oncall/schedules/{id}")).into_response())
}
