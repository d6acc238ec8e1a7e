//! Reports from what happened, read from the incidents declared since an instant and their
//! whole timelines: `GET /api/v1/reports/policies` (which policies are hard to follow in
//! time, real incidents and drills apart and together) and `GET /api/v1/reports/load` (the
//! load people carry, with its two charts as SVG; drills left out).

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use muster_core::adherence::{self, PoliciesReport, policies_report};
use muster_core::load::{self, LoadReport, load_report};
use muster_core::{Incident, TimelineEvent};
use serde::Deserialize;
use utoipa::IntoParams;

use super::extract::ApiQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

/// Incidents a report reads at most (the newest).
const MAX_INCIDENTS: i64 = 5_000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SinceParams {
    /// Only incidents declared at or after this instant (RFC 3339); default: all.
    pub since: Option<String>,
}

/// An incident as the reports read it: its snapshot, whether it is a drill, its timeline.
struct Loaded {
    incident: Incident,
    exercise: bool,
    timeline: Vec<TimelineEvent>,
}

/// The incidents declared at or after `since` (the newest `MAX_INCIDENTS`), each with its
/// whole timeline. A bad `since` is a 422 naming it.
async fn history(state: &AppState, since: Option<&str>) -> Result<Vec<Loaded>, ApiError> {
    let since = match since {
        Some(s) => s.parse::<Timestamp>().map_err(|e| {
            ApiError::unprocessable(format!("invalid since `{s}`: {e} (expected RFC 3339)"))
        })?,
        None => Timestamp::UNIX_EPOCH,
    };
    let mut loaded = Vec::new();
    for (id, exercise) in state.store.declared_since(since, MAX_INCIDENTS).await? {
        let Some(incident) = state.store.incident(id).await? else {
            continue;
        };
        let timeline = state.store.timeline_since(id, None).await?;
        loaded.push(Loaded {
            incident,
            exercise,
            timeline,
        });
    }
    Ok(loaded)
}

#[utoipa::path(get, path = "/api/v1/reports/policies", tag = "drills", operation_id = "policies_report", params(SinceParams),
    responses((status = 200, description = "Per policy: applied, met, late, missed, median margin, by severity, local hour and month; per role: median time until held. Real incidents and drills apart and together."),
        (status = 422, description = "Invalid `since`", body = ErrorBody)))]
pub async fn policies(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<SinceParams>,
) -> Result<Json<PoliciesReport>, ApiError> {
    Ok(Json(policies_since(&state, p.since.as_deref()).await?))
}

/// The policies report over the incidents declared since `since` (all when `None`): the
/// report `GET /api/v1/reports/policies` answers and the web UI's policy pages show.
pub async fn policies_since(
    state: &AppState,
    since: Option<&str>,
) -> Result<PoliciesReport, ApiError> {
    let loaded = history(state, since).await?;
    let facts: Vec<adherence::IncidentFacts<'_>> = loaded
        .iter()
        .map(|l| adherence::IncidentFacts {
            severity: l.incident.severity,
            exercise: l.exercise,
            declared_at: l.incident.declared_at,
            timeline: &l.timeline,
        })
        .collect();
    let cfg = state.config();
    Ok(policies_report(&facts, |person| {
        cfg.config.people.get(person).and_then(|p| p.tz().ok())
    }))
}

/// The load report over the incidents since `since` (all when `None`), at the injected
/// clock's now: what `GET /api/v1/reports/load` and its charts answer and the web UI's
/// staffing page shows.
pub async fn load_since(state: &AppState, since: Option<&str>) -> Result<LoadReport, ApiError> {
    let loaded = history(state, since).await?;
    let facts: Vec<load::IncidentFacts<'_>> = loaded
        .iter()
        .map(|l| load::IncidentFacts {
            severity: l.incident.severity,
            services: &l.incident.services,
            exercise: l.exercise,
            declared_at: l.incident.declared_at,
            timeline: &l.timeline,
        })
        .collect();
    let cfg = state.config();
    Ok(load_report(
        &facts,
        |person| cfg.config.people.get(person).and_then(|p| p.tz().ok()),
        |service| {
            cfg.config
                .services
                .get(service)
                .and_then(|s| s.owner_team.clone())
        },
        state.clock.now(),
    ))
}

#[utoipa::path(get, path = "/api/v1/reports/load", tag = "reports", operation_id = "load_report", params(SinceParams),
    responses((status = 200, description = "Per person: pages, nudges and interruptions by business / off-hours / sleep in their own zone, the trailing 21 days, 12-hour shifts and those over 2 incidents; pages by hour of week; time from declaration to acknowledged, mitigated and resolved (count, median, p90, mean in seconds) overall and by severity, service and team. Drills are counted and left out."),
        (status = 422, description = "Invalid `since`", body = ErrorBody)))]
pub async fn load_json(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<SinceParams>,
) -> Result<Json<LoadReport>, ApiError> {
    Ok(Json(load_since(&state, p.since.as_deref()).await?))
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response()
}

#[utoipa::path(get, path = "/api/v1/reports/load/heatmap.svg", tag = "reports", operation_id = "load_heatmap", params(SinceParams),
    responses((status = 200, description = "Pages by hour of week, a 7×24 heatmap in each paged person's own zone", content_type = "image/svg+xml", body = String),
        (status = 422, description = "Invalid `since`", body = ErrorBody)))]
pub async fn load_heatmap(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<SinceParams>,
) -> Result<Response, ApiError> {
    let report = load_since(&state, p.since.as_deref()).await?;
    Ok(svg(load::chart::heatmap_svg(&report)))
}

#[utoipa::path(get, path = "/api/v1/reports/load/people.svg", tag = "reports", operation_id = "load_people", params(SinceParams),
    responses((status = 200, description = "Interruptions per person, one bar each stacked business / off-hours / sleep", content_type = "image/svg+xml", body = String),
        (status = 422, description = "Invalid `since`", body = ErrorBody)))]
pub async fn load_people(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<SinceParams>,
) -> Result<Response, ApiError> {
    let report = load_since(&state, p.since.as_deref()).await?;
    Ok(svg(load::chart::people_svg(&report)))
}
