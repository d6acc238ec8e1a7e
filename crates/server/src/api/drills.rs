//! `/api/v1/drills`: start a drill scenario's exercise, list and show drills, the
//! facilitator's commands, and the after-action report (JSON, Markdown or the SVG chart).
//! A drill's id is its incident's (`INC-7`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use muster_core::drill as core_drill;
use muster_core::{Access, IncidentNumber};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::drills::{self, Facilitate, Pace};
use crate::error::{ApiError, ErrorBody};
use crate::policy_state::DrillState;
use crate::views::incident::IncidentView;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartDrill {
    /// A scenario id from the configuration's `drills/`.
    #[schema(example = "sev1-3am-blast-radius")]
    pub scenario: String,
    /// Drill seconds per real second (default 1: real time), 0.01 to 10000.
    #[schema(minimum = 0.01, maximum = 10000)]
    pub speed: Option<f64>,
    /// Move only when the facilitator steps it.
    #[serde(default)]
    pub step: bool,
    /// Role or persona → person id, over the scenario's own players.
    #[serde(default)]
    pub participants: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InjectView {
    pub index: usize,
    /// Offset from the drill's start, in seconds.
    pub at_s: i64,
    pub what: String,
    /// `pending`, `played`, or why it was skipped.
    pub status: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DrillView {
    /// The drill's incident id.
    #[schema(example = "INC-7")]
    pub id: String,
    pub scenario: String,
    /// `running`, `paused`, `stepped` (waiting for a step) or `ended`.
    pub state: String,
    /// Drill seconds per real second; `null` for a stepped drill.
    pub speed: Option<f64>,
    /// The drill's time now.
    #[schema(value_type = String, format = DateTime)]
    pub drill_time: Timestamp,
    /// Drill seconds since its start.
    pub elapsed_s: i64,
    pub facilitator: String,
    pub participants: BTreeMap<String, String>,
    pub injects: Vec<InjectView>,
    pub incident: IncidentView,
}

/// A drill as the API and the web UI show it: its state, clock and injects now.
pub fn view(state: &AppState, incident: muster_core::Incident, d: DrillState) -> DrillView {
    let real = state.clock.now();
    let now = d.ended.unwrap_or_else(|| d.clock.now(real));
    let scenario = state.config().config.drills.get(&d.scenario).cloned();
    let injects = scenario
        .map(|s| {
            s.injects
                .iter()
                .enumerate()
                .map(|(n, i)| InjectView {
                    index: n,
                    at_s: i.at.as_secs(),
                    what: i.what.describe(),
                    status: d
                        .injects
                        .get(&n)
                        .cloned()
                        .unwrap_or_else(|| "pending".into()),
                })
                .collect()
        })
        .unwrap_or_default();
    let run_state = if d.ended.is_some() {
        "ended"
    } else if d.clock.paused {
        "paused"
    } else if d.speed.is_none() && d.clock.stopped(real) {
        "stepped"
    } else {
        "running"
    };
    DrillView {
        id: incident.id.to_string(),
        scenario: d.scenario,
        state: run_state.into(),
        speed: d.speed,
        drill_time: now,
        elapsed_s: now.duration_since(d.start).as_secs(),
        facilitator: d.facilitator,
        participants: d.players,
        injects,
        incident: incident.into(),
    }
}

#[utoipa::path(post, path = "/api/v1/drills", tag = "drills", operation_id = "start_drill", request_body = StartDrill,
    responses((status = 201, description = "Started: its incident is declared as an exercise", body = DrillView),
        (status = 422, description = "Unknown scenario, or participants that do not exist", body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<StartDrill>,
) -> Result<Response, ApiError> {
    caller.require(Access::Responder)?;
    let view = start_as(&state, &caller.name, &req).await?;
    let location = format!("/api/v1/drills/{}", view.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Starts a drill for `actor` with the API's checks (a pace, a known scenario, its players):
/// the API's `POST /api/v1/drills` and the web UI's start form.
pub async fn start_as(
    state: &AppState,
    actor: &str,
    req: &StartDrill,
) -> Result<DrillView, ApiError> {
    let pace = match (req.step, req.speed) {
        (true, Some(_)) => {
            return Err(ApiError::unprocessable("give `speed` or `step`, not both"));
        }
        (true, None) => Pace::Stepped,
        (false, speed) => Pace::Speed(
            core_drill::check_speed(speed.unwrap_or(1.0)).map_err(ApiError::unprocessable)?,
        ),
    };
    let incident = drills::start(state, &req.scenario, pace, &req.participants, actor).await?;
    let (incident, d) = drills::load(state, incident.id).await?;
    Ok(view(state, incident, d))
}

#[utoipa::path(get, path = "/api/v1/drills", tag = "drills", operation_id = "list_drills",
    responses((status = 200, description = "The newest drills, newest first", body = Vec<DrillView>)))]
pub async fn list(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<Vec<DrillView>>, ApiError> {
    let drills = drills::list(&state, 100).await?;
    Ok(Json(
        drills
            .into_iter()
            .map(|(i, d)| view(&state, i, d))
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/drills/{id}", tag = "drills", operation_id = "show_drill",
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "OK", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DrillView>, ApiError> {
    let (incident, d) = drills::load(&state, incident_id(&id)?).await?;
    Ok(Json(view(&state, incident, d)))
}

/// `{"index": n}` or `{}`: an inject (the next pending one when not given).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectRequest {
    pub index: Option<usize>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    pub index: usize,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {
    /// Drill seconds per real second (default: the drill's own; 1 for a stepped drill), 0.01
    /// to 10000.
    #[schema(minimum = 0.01, maximum = 10000)]
    pub speed: Option<f64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepRequest {
    /// How much drill time to play: `10m`, `1h30m`.
    #[schema(example = "10m")]
    pub by: String,
}

/// Runs a facilitator's command on drill `id` and answers with the drill as it now is.
async fn facilitate(
    state: &AppState,
    caller: &Caller,
    id: &str,
    command: Facilitate,
) -> Result<Json<DrillView>, ApiError> {
    caller.require(Access::Responder)?;
    Ok(Json(
        facilitate_as(state, &caller.name, incident_id(id)?, command).await?,
    ))
}

/// A facilitator's command on drill `id` by `actor` (404 for no drill, 409 once ended): the
/// API's commands and the web UI's buttons.
pub async fn facilitate_as(
    state: &AppState,
    actor: &str,
    id: IncidentNumber,
    command: Facilitate,
) -> Result<DrillView, ApiError> {
    drills::load(state, id).await?;
    drills::facilitate(state, id, actor, command).await?;
    let (incident, d) = drills::load(state, id).await?;
    Ok(view(state, incident, d))
}

/// A step of drill time as written (`10m`, `1h30m`): longer than 0.
pub fn step_by(by: &str) -> Result<Facilitate, ApiError> {
    let d: muster_config::Duration = by
        .parse()
        .map_err(|e| ApiError::unprocessable(format!("invalid by `{by}`: {e}")))?;
    if d.is_zero() {
        return Err(ApiError::unprocessable(
            "invalid by: a step must be longer than 0",
        ));
    }
    Ok(Facilitate::Step(d.to_signed()))
}

/// Resuming, at `speed` if given (checked) or the drill's own.
pub fn resume_at(speed: Option<f64>) -> Result<Facilitate, ApiError> {
    let speed = speed
        .map(core_drill::check_speed)
        .transpose()
        .map_err(ApiError::unprocessable)?;
    Ok(Facilitate::Resume(speed))
}

/// Plays an inject now, whatever the drill's clock is doing.
#[utoipa::path(post, path = "/api/v1/drills/{id}/inject", tag = "drills", operation_id = "inject_drill", request_body = InjectRequest,
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn inject(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<InjectRequest>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, Facilitate::Inject(req.index)).await
}

/// Leaves a pending inject out.
#[utoipa::path(post, path = "/api/v1/drills/{id}/skip", tag = "drills", operation_id = "skip_drill_inject", request_body = SkipRequest,
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn skip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SkipRequest>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, Facilitate::Skip(req.index)).await
}

/// Stops the drill's clock (its timers wait).
#[utoipa::path(post, path = "/api/v1/drills/{id}/pause", tag = "drills", operation_id = "pause_drill",
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn pause(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, Facilitate::Pause).await
}

/// Runs the drill's clock again.
#[utoipa::path(post, path = "/api/v1/drills/{id}/resume", tag = "drills", operation_id = "resume_drill", request_body = ResumeRequest,
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn resume(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ResumeRequest>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, resume_at(req.speed)?).await
}

/// Plays a stepped (or paused) drill on by a span of drill time.
#[utoipa::path(post, path = "/api/v1/drills/{id}/step", tag = "drills", operation_id = "step_drill", request_body = StepRequest,
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn step(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<StepRequest>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, step_by(&req.by)?).await
}

/// Ends the drill: its timers are cancelled and its incident resolved.
#[utoipa::path(post, path = "/api/v1/drills/{id}/end", tag = "drills", operation_id = "end_drill",
    params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7")),
    responses((status = 200, description = "Done", body = DrillView),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 409, description = "The drill has ended, or the command does not fit its state", body = ErrorBody)))]
pub async fn end(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DrillView>, ApiError> {
    facilitate(&state, &caller, &id, Facilitate::End).await
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// `json` (default), `markdown` or `svg` (the timeline chart).
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/drills/{id}/report", tag = "drills", operation_id = "drill_report", params(("id" = String, Path, description = "The drill's incident id, e.g. INC-7"), ReportParams),
    responses((status = 200, description = "The after-action report: JSON, Markdown (`Accept: text/markdown` or `?format=markdown`) or the SVG chart"),
        (status = 404, description = "No such drill", body = ErrorBody),
        (status = 422, description = "Unknown format", body = ErrorBody)))]
pub async fn report(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    Query(p): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let report = drills::report(&state, incident_id(&id)?).await?;
    if p.format.as_deref() == Some("svg") {
        let chart = core_drill::svg(&report);
        return Ok(([(header::CONTENT_TYPE, "image/svg+xml")], chart).into_response());
    }
    Ok(
        if super::briefs::wants_markdown(&headers, p.format.as_deref())? {
            let text = core_drill::markdown(&report);
            (
                [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
                text,
            )
                .into_response()
        } else {
            Json(report).into_response()
        },
    )
}
