//! Alerts and silences. The alert list filters as `GET /api/v1/alerts` does and shows each
//! alert's dedup count; acknowledging or resolving one calls `api::alerts::settle_as`, what
//! the API's `ack` and `resolve` call (its incident through the reactions). Silences are
//! listed, created through `api::silences::create_as` (the API's checks: a known service, an
//! end within `limits.max_silence`, a reason) and ended as the API ends them, audited.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use muster_core::alert::{AlertAction, AlertStatus};
use muster_core::{Access, IncidentNumber, Timestamp};
use muster_server::AppState;
use muster_server::api::alerts::settle_as;
use muster_server::api::silences::{SilenceRequest, create_as};
use muster_server::scope::Owned;
use muster_store::AlertFilter;
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::{Posted, Session};
use crate::util::{api_error, given};

/// Alerts a page shows unless asked for another number (as the API).
const PAGE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    integration: String,
    #[serde(default)]
    incident: String,
    #[serde(default)]
    before: String,
}

pub struct AlertRow {
    pub id: i64,
    pub status: String,
    pub service: String,
    pub severity: String,
    pub summary: String,
    pub integration: String,
    pub count: i64,
    pub first_seen: Time,
    pub last_seen: Time,
    pub incident: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    layout: Layout,
    status: String,
    integration: String,
    incident: String,
    integrations: Vec<String>,
    alerts: Vec<AlertRow>,
    older: String,
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<AlertQuery>,
) -> Result<Response, PageError> {
    let status = given(&q.status)
        .map(|s| {
            AlertStatus::parse(&s).ok_or_else(|| {
                PageError::invalid(format!(
                    "status: `{s}` is not one of firing, acknowledged, resolved"
                ))
            })
        })
        .transpose()?;
    let incident = given(&q.incident)
        .map(|s| {
            s.parse::<IncidentNumber>()
                .map_err(|_| PageError::invalid(format!("incident: `{s}` is not an incident id")))
        })
        .transpose()?;
    let before = given(&q.before)
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| PageError::invalid(format!("before: `{s}` is not an alert id")))
        })
        .transpose()?;
    let filter = AlertFilter {
        status,
        integration: given(&q.integration),
        incident,
        limit: Some(PAGE),
        before,
    };
    let found = state.store.alerts(&filter).await?;
    let zone = &session.zone;
    let older = match found.last() {
        Some(last) if found.len() == PAGE as usize => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("status", q.status.trim())
                .append_pair("integration", q.integration.trim())
                .append_pair("incident", q.incident.trim())
                .append_pair("before", &last.id.to_string())
                .finish();
            format!("/alerts?{query}")
        }
        _ => String::new(),
    };
    let alerts = found
        .into_iter()
        .map(|a| AlertRow {
            id: a.id,
            status: a.status.as_str().to_string(),
            service: a.service,
            severity: a.severity.to_string(),
            summary: a.summary,
            integration: a.integration,
            count: a.count,
            first_seen: Time::new(a.first_seen, zone),
            last_seen: Time::new(a.last_seen, zone),
            incident: a.incident.map(|n| n.to_string()).unwrap_or_default(),
        })
        .collect();
    let page = AlertsPage {
        layout: Layout::new("Alerts", "alerts", &session, "/alerts"),
        status: q.status.trim().to_string(),
        integration: q.integration.trim().to_string(),
        incident: q.incident.trim().to_string(),
        integrations: state.config().config.integrations.keys().cloned().collect(),
        alerts,
        older,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

fn alert_id(raw: &str) -> Result<i64, PageError> {
    raw.parse()
        .map_err(|_| PageError::not_found(format!("There is no alert {raw}.")))
}

async fn settle(
    state: &AppState,
    session: &Session,
    raw: &str,
    action: AlertAction,
) -> Result<Response, PageError> {
    session.require(Access::Responder)?;
    let id = alert_id(raw)?;
    session
        .require_owner(state, Owned::Alert(id.to_string()))
        .await?;
    let settled = settle_as(state, &session.name, id, action).await?;
    if settled.is_none() {
        return Err(PageError::not_found(format!("There is no alert {id}.")));
    }
    tracing::info!(alert = id, actor = %session.name, ?action, "alert settled from the web UI");
    Ok(Redirect::to("/alerts").into_response())
}

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    settle(&state, &p.session, &raw, AlertAction::Acknowledge).await
}

pub async fn resolve(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    settle(&state, &p.session, &raw, AlertAction::Resolve).await
}

pub struct SilenceRow {
    pub id: i64,
    pub service: String,
    pub from: Time,
    pub to: Time,
    pub reason: String,
    pub created_by: String,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    layout: Layout,
    silences: Vec<SilenceRow>,
    services: Vec<String>,
    max: String,
}

pub async fn silences(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let zone = &session.zone;
    let silences = state
        .store
        .silences(now)
        .await?
        .into_iter()
        .map(|s| SilenceRow {
            id: s.id,
            service: s.service,
            from: Time::new(s.from, zone),
            to: Time::new(s.to, zone),
            reason: s.reason,
            created_by: s.created_by,
        })
        .collect();
    let cfg = state.config();
    let page = SilencesPage {
        layout: Layout::new("Silences", "alerts", &session, "/silences"),
        silences,
        services: cfg.config.services.keys().cloned().collect(),
        max: muster_core::words::duration(cfg.config.limits.max_silence.to_signed()),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct SilenceForm {
    #[serde(default)]
    service: String,
    /// `2026-03-29T05:00` in the viewer's zone (a `datetime-local` field), or RFC 3339.
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

/// When a silence ends: an instant, or a wall-clock time in the viewer's zone.
fn end_of(raw: &str, zone: &Zone) -> Result<Timestamp, PageError> {
    let raw = raw.trim();
    if let Ok(at) = raw.parse::<Timestamp>() {
        return Ok(at);
    }
    raw.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| dt.to_zoned_datetime(zone.tz.clone()).ok())
        .map(|z| z.timestamp())
        .ok_or_else(|| {
            PageError::invalid(format!(
                "until: `{raw}` is not a time like 2026-03-29T05:00 ({})",
                zone.name
            ))
        })
}

pub async fn create_silence(
    State(state): State<AppState>,
    p: Posted<SilenceForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    let service = form.service.trim().to_string();
    session
        .require_owner(&state, Owned::Services(vec![service.clone()]))
        .await?;
    let req = SilenceRequest {
        service,
        from: None,
        to: end_of(&form.until, &session.zone)?,
        reason: form.reason,
    };
    let stored = create_as(&state, &session.name, &req)
        .await
        .map_err(api_error)?;
    tracing::info!(silence = stored.id, service = %stored.service, actor = %session.name, "silence created from the web UI");
    Ok(Redirect::to("/silences").into_response())
}

pub async fn end_silence(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    p.session.require(Access::Responder)?;
    p.session
        .require_owner(&state, Owned::Silence(raw.clone()))
        .await?;
    let missing = || PageError::not_found(format!("There is no silence {raw} in force."));
    let id: i64 = raw.parse().map_err(|_| missing())?;
    state
        .store
        .delete_silence(id, &p.session.name, state.clock.now())
        .await?
        .ok_or_else(missing)?;
    Ok(Redirect::to("/silences").into_response())
}
