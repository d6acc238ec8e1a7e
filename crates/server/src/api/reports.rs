//! `GET /api/v1/reports/policies`: which policies are hard to follow in time, across real
//! incidents and drills (counted apart and together), from their timelines.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use muster_core::adherence::{IncidentFacts, PoliciesReport, policies_report};
use muster_store::MAX_TIMELINE_LIMIT;
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
pub struct PoliciesParams {
    /// Only incidents declared at or after this instant (RFC 3339); default: all.
    pub since: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/reports/policies", tag = "drills", operation_id = "policies_report", params(PoliciesParams),
    responses((status = 200, description = "Per policy: applied, met, late, missed, median margin, by severity, local hour and month; per role: median time until held. Real incidents and drills apart and together."),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 422, description = "Invalid `since`", body = ErrorBody),
        (status = 503, description = "Database unavailable or server overloaded; retry after Retry-After", body = ErrorBody)))]
pub async fn policies(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<PoliciesParams>,
) -> Result<Json<PoliciesReport>, ApiError> {
    let since = match p.since.as_deref() {
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
        let mut timeline = Vec::new();
        loop {
            let after = timeline
                .last()
                .map_or(0, |e: &muster_core::TimelineEvent| e.seq);
            let page = state.store.timeline(id, after, MAX_TIMELINE_LIMIT).await?;
            let done = page.len() < MAX_TIMELINE_LIMIT as usize;
            timeline.extend(page);
            if done {
                break;
            }
        }
        loaded.push((incident, exercise, timeline));
    }
    let facts: Vec<IncidentFacts<'_>> = loaded
        .iter()
        .map(|(incident, exercise, timeline)| IncidentFacts {
            severity: incident.severity,
            exercise: *exercise,
            declared_at: incident.declared_at,
            timeline,
        })
        .collect();
    let cfg = state.config();
    let report = policies_report(&facts, |person| {
        cfg.config.people.get(person).and_then(|p| p.tz().ok())
    });
    Ok(Json(report))
}
