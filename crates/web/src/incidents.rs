//! The incidents list with its filters (status, severity, service, since, text), and the
//! declare form, which declares through the same reactions as the API.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::Timestamp;
use muster_core::{Access, Incident, Severity, Status};
use muster_server::AppState;
use muster_server::reactions::{self, commit::Declaration};
use muster_server::scope::Owned;
use muster_store::{IncidentFilter, MAX_LIST_LIMIT};
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::{Posted, Session};

/// A table of incidents (home and the list), rendered into its page.
#[derive(Template)]
#[template(path = "incident_rows.html")]
pub struct IncidentTable {
    pub rows: Vec<IncidentRow>,
}

/// An incident as a list row shows it.
pub struct IncidentRow {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub services: String,
    pub exercise: bool,
    pub declared: Time,
    pub commander: String,
}

impl IncidentRow {
    pub fn of(i: &Incident, zone: &Zone) -> IncidentRow {
        IncidentRow {
            id: i.id.to_string(),
            title: i.title.clone(),
            severity: i.severity.to_string(),
            status: i.status.to_string(),
            services: i.services.join(", "),
            exercise: i.exercise,
            declared: Time::new(i.declared_at, zone),
            commander: i
                .roles
                .get("incident_commander")
                .map(|h| h.person.clone())
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    status: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    service: String,
    /// A day (`YYYY-MM-DD`, in the viewer's zone): incidents declared on or after it.
    #[serde(default)]
    since: String,
    /// Words in the title (any case).
    #[serde(default)]
    q: String,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct ListPage {
    layout: Layout,
    table: IncidentTable,
    f: Filters,
    statuses: Vec<String>,
    severities: Vec<String>,
    services: Vec<String>,
    /// Filters that could not be read, said next to the list.
    problems: Vec<String>,
    capped: bool,
    /// This list with its filters (what a live refresh fetches).
    self_url: String,
}

fn since_of(raw: &str, zone: &Zone) -> Result<Option<Timestamp>, String> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    let date: jiff::civil::Date = raw
        .trim()
        .parse()
        .map_err(|_| format!("since `{raw}` is not a date like 2026-03-01"))?;
    date.to_zoned_datetime(zone.tz.clone())
        .map(|z| Some(z.timestamp()))
        .map_err(|e| format!("since `{raw}`: {e}"))
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    uri: axum::http::Uri,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    let self_url = uri
        .path_and_query()
        .map_or_else(|| "/incidents".to_string(), |p| p.to_string());
    let mut problems = Vec::new();
    let mut filter = IncidentFilter {
        limit: Some(MAX_LIST_LIMIT),
        ..IncidentFilter::default()
    };
    match f.status.as_str() {
        "" => {}
        "open" => filter.open_only = true,
        s => match s.parse::<Status>() {
            Ok(st) => filter.status = Some(vec![st]),
            Err(e) => problems.push(e.to_string()),
        },
    }
    if !f.severity.is_empty() {
        match f.severity.parse::<Severity>() {
            Ok(sev) => filter.severity = Some(vec![sev]),
            Err(e) => problems.push(e.to_string()),
        }
    }
    if !f.service.is_empty() {
        filter.service = Some(f.service.clone());
    }
    let since = since_of(&f.since, &session.zone).unwrap_or_else(|e| {
        problems.push(e);
        None
    });
    let found = state.store.list_incidents(&filter).await?;
    let capped = found.len() >= MAX_LIST_LIMIT as usize;
    let words: Vec<String> = f.q.split_whitespace().map(str::to_lowercase).collect();
    let rows = found
        .iter()
        .filter(|i| since.is_none_or(|s| i.declared_at >= s))
        .filter(|i| {
            let title = i.title.to_lowercase();
            words.iter().all(|w| title.contains(w.as_str()))
        })
        .map(|i| IncidentRow::of(i, &session.zone))
        .collect();
    let cfg = state.config();
    let page = ListPage {
        layout: Layout::new("Incidents", "incidents", &session, "/incidents"),
        table: IncidentTable { rows },
        f,
        statuses: Status::ALL.iter().map(ToString::to_string).collect(),
        severities: Severity::ALL.iter().map(ToString::to_string).collect(),
        services: cfg.config.services.keys().cloned().collect(),
        problems,
        capped,
        self_url,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "declare.html")]
struct DeclarePage {
    layout: Layout,
    severities: Vec<String>,
    services: Vec<(String, String)>,
}

pub async fn declare_form(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    session.require(Access::Responder)?;
    let cfg = state.config();
    let page = DeclarePage {
        layout: Layout::new("Declare an incident", "declare", &session, "/incidents/new"),
        severities: Severity::ALL.iter().map(ToString::to_string).collect(),
        services: cfg
            .config
            .services
            .values()
            .map(|s| (s.id.clone(), s.name.clone()))
            .collect(),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct DeclareForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    severity: String,
    /// One service (the form's select); more can be added on the incident.
    #[serde(default)]
    service: String,
    #[serde(default)]
    incident_type: String,
}

pub async fn declare(
    State(state): State<AppState>,
    posted: Posted<DeclareForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = posted;
    session.require(Access::Responder)?;
    let severity: Severity = form.severity.parse()?;
    let services: Vec<String> = if form.service.is_empty() {
        Vec::new()
    } else {
        vec![form.service.clone()]
    };
    session
        .require_owner(&state, Owned::Services(services.clone()))
        .await?;
    let incident_type = Some(form.incident_type.trim()).filter(|t| !t.is_empty());
    let declaration = Declaration {
        title: &form.title,
        severity,
        services: &services,
        incident_type,
    };
    let incident = reactions::declare(&state, &session.name, declaration).await?;
    Ok(Redirect::to(&format!("/incidents/{}", incident.id)).into_response())
}
