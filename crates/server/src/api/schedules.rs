//! Schedules: who is on call, the final shifts, run-time overrides (audited) and iCalendar feeds.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::{SignedDuration, Timestamp};
use muster_core::Access;
use muster_core::ical::{self, CalendarShift};
use muster_core::schedule::{self, Schedule, Shift, ShiftSource};
use muster_store::{NewOverride, ScheduleOverride};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiJson, ApiPath, ApiQuery};
use crate::auth::{AdminCaller, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::{AppState, oncall};

/// Longest window `/shifts` resolves in one call.
const MAX_WINDOW: SignedDuration = SignedDuration::from_hours(24 * 366);
/// What iCalendar feeds cover, around now.
const FEED_PAST: SignedDuration = SignedDuration::from_hours(24 * 30);
const FEED_AHEAD: SignedDuration = SignedDuration::from_hours(24 * 180);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OnCallView {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// Who is on call (empty during a gap).
    pub on_call: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftView {
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    /// `layer` or `override`.
    pub source: String,
    /// The layer's name or the override's id.
    pub source_id: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GapView {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShiftsView {
    pub schedule: String,
    pub time_zone: String,
    pub shifts: Vec<ShiftView>,
    /// Uncovered time in the window: never silently dropped.
    pub gaps: Vec<GapView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OverrideView {
    /// `None` for overrides written in the configuration.
    pub id: Option<String>,
    pub person: String,
    pub replaces: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    pub reason: Option<String>,
    /// `config` or `runtime`.
    pub origin: String,
    pub created_by: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Who takes over.
    pub person: String,
    /// Only while this person would be on call; omit to replace whoever is.
    pub replaces: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub from: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub to: Timestamp,
    /// Why: kept in the audit trail.
    pub reason: String,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtParams {
    /// RFC 3339 instant; default now.
    pub at: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// RFC 3339 start; default now.
    pub from: Option<String>,
    /// RFC 3339 end; default `from` + 7 days. At most 366 days after `from`.
    pub to: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct FeedParams {
    pub token: Option<String>,
}

fn instant(name: &str, raw: Option<&str>, default: Timestamp) -> Result<Timestamp, ApiError> {
    match raw {
        None => Ok(default),
        Some(s) => s.parse().map_err(|e| {
            ApiError::bad_request(format!(
                "`{name}` must be an RFC 3339 instant such as 2026-03-29T09:00:00Z: {e}"
            ))
        }),
    }
}

/// The configured schedule with its run-time overrides (`oncall`'s rule), and its name.
pub async fn effective_schedule(
    state: &AppState,
    id: &str,
) -> Result<(Schedule, String), ApiError> {
    let cfg = state.config();
    let not_found = || ApiError::not_found(format!("schedule `{id}` not found"));
    let name = cfg
        .config
        .schedules
        .get(id)
        .map(|s| s.name.clone())
        .ok_or_else(not_found)?;
    let overrides = oncall::overrides_by_schedule(state.store.overrides(id).await?);
    let schedule = oncall::effective_schedule(&cfg.config, &overrides, id).ok_or_else(not_found)?;
    Ok((schedule, name))
}

fn shift_view(s: Shift) -> ShiftView {
    let (source, source_id) = match s.source {
        ShiftSource::Layer { name, .. } => ("layer", Some(name)),
        ShiftSource::Override { id } => ("override", id),
    };
    ShiftView {
        person: s.person,
        start: s.start,
        end: s.end,
        source: source.into(),
        source_id,
    }
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/oncall", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), AtParams),
    responses((status = 200, description = "Who is on call at the instant", body = OnCallView),
        (status = 400, description = "Malformed instant", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody)))]
pub async fn oncall(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<AtParams>,
) -> Result<Json<OnCallView>, ApiError> {
    let at = instant("at", p.at.as_deref(), state.clock.now())?;
    let (schedule, _) = effective_schedule(&state, &id).await?;
    Ok(Json(OnCallView {
        on_call: schedule::on_call(&schedule, at),
        schedule: id,
        at,
    }))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/shifts", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), WindowParams),
    responses((status = 200, description = "The final schedule over the window, with its gaps", body = ShiftsView),
        (status = 400, description = "Malformed instant", body = ErrorBody), (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 422, description = "Empty or too long a window", body = ErrorBody)))]
pub async fn shifts(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> Result<Json<ShiftsView>, ApiError> {
    let from = instant("from", p.from.as_deref(), state.clock.now())?;
    let to = instant(
        "to",
        p.to.as_deref(),
        from + SignedDuration::from_hours(24 * 7),
    )?;
    if to <= from {
        return Err(ApiError::unprocessable("`to` must be after `from`"));
    }
    if to.duration_since(from) > MAX_WINDOW {
        return Err(ApiError::unprocessable(
            "the window may be at most 366 days",
        ));
    }
    let (schedule, _) = effective_schedule(&state, &id).await?;
    let resolution = schedule::shifts(&schedule, from, to);
    Ok(Json(ShiftsView {
        schedule: id,
        time_zone: schedule.time_zone.iana_name().unwrap_or("UTC").to_string(),
        shifts: resolution.shifts.into_iter().map(shift_view).collect(),
        gaps: resolution
            .gaps
            .into_iter()
            .map(|g| GapView {
                start: g.start,
                end: g.end,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}/overrides", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id")),
    responses((status = 200, description = "Configured and run-time overrides", body = Vec<OverrideView>),
        (status = 404, description = "No such schedule", body = ErrorBody)))]
pub async fn list_overrides(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Vec<OverrideView>>, ApiError> {
    let cfg = state.config();
    let configured = cfg
        .config
        .schedules
        .get(&id)
        .ok_or_else(|| ApiError::not_found(format!("schedule `{id}` not found")))?;
    let mut out: Vec<OverrideView> = configured
        .overrides
        .iter()
        .map(|o| OverrideView {
            id: None,
            person: o.person.clone(),
            replaces: o.replaces.clone(),
            from: o.from,
            to: o.to,
            reason: o.reason.clone(),
            origin: "config".into(),
            created_by: None,
            created_at: None,
        })
        .collect();
    out.extend(
        state
            .store
            .overrides(&id)
            .await?
            .into_iter()
            .map(runtime_view),
    );
    Ok(Json(out))
}

pub(super) fn runtime_view(o: ScheduleOverride) -> OverrideView {
    OverrideView {
        id: Some(o.id),
        person: o.person,
        replaces: o.replaces,
        from: o.from,
        to: o.to,
        reason: Some(o.reason),
        origin: "runtime".into(),
        created_by: Some(o.created_by),
        created_at: Some(o.created_at),
    }
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "schedules", request_body = OverrideRequest,
    params(("id" = String, Path, description = "Schedule id")),
    responses((status = 201, description = "Override stored and in force", body = OverrideView),
        (status = 403, description = "Not an admin token (overrides are admin-only)", body = ErrorBody),
        (status = 404, description = "No such schedule", body = ErrorBody),
        (status = 422, description = "Unknown person, or an override ending before it starts", body = ErrorBody)))]
pub async fn create_override(
    State(state): State<AppState>,
    // Who is paged is every team's business: admins only (`muster_core::access`).
    AdminCaller(caller): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<OverrideRequest>,
) -> Result<Response, ApiError> {
    let new = NewOverride {
        schedule: id,
        person: req.person,
        replaces: req.replaces,
        from: req.from,
        to: req.to,
        reason: req.reason.trim().to_string(),
    };
    match crate::oncall::check_override(&state.config().config, &new) {
        Ok(()) => {}
        Err(crate::oncall::OverrideRefused::UnknownSchedule(m)) => {
            return Err(ApiError::not_found(m));
        }
        Err(crate::oncall::OverrideRefused::Invalid(m)) => {
            return Err(ApiError::unprocessable(m));
        }
    }
    muster_core::control::check("reason", &new.reason)?;
    let stored = state
        .store
        .create_override(&new, &caller.name, state.clock.now())
        .await?;
    tracing::info!(schedule = %stored.schedule, id = %stored.id, actor = %caller.name, "override created");
    Ok((StatusCode::CREATED, Json(runtime_view(stored))).into_response())
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}/overrides/{override_id}", tag = "schedules",
    params(("id" = String, Path, description = "Schedule id"), ("override_id" = String, Path, description = "Run-time override id")),
    responses((status = 200, description = "Override removed (kept in the audit trail)", body = OverrideView),
        (status = 403, description = "Not an admin token (overrides are admin-only)", body = ErrorBody),
        (status = 404, description = "No such run-time override", body = ErrorBody)))]
pub async fn delete_override(
    State(state): State<AppState>,
    AdminCaller(caller): AdminCaller,
    ApiPath((id, override_id)): ApiPath<(String, String)>,
) -> Result<Json<OverrideView>, ApiError> {
    let removed = state
        .store
        .delete_override(&id, &override_id, &caller.name, state.clock.now())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no run-time override `{override_id}` on schedule `{id}`"
            ))
        })?;
    Ok(Json(runtime_view(removed)))
}

async fn feed_caller(state: &AppState, token: Option<&str>) -> Result<(), ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "calendar feeds need ?token=",
        )
    })?;
    let owner = state
        .store
        .authenticate(token, state.clock.now())
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                crate::auth::UNKNOWN_TOKEN,
            )
        })?;
    // A calendar URL is stored by calendar apps and shared with the calendar: only a feed
    // token, which opens nothing else, may sit in it.
    if owner.access != Access::Feed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token `{}` is a {} token, which may not be put in a calendar URL; revoke it and create a feed token (muster token create --role feed)",
                owner.name, owner.access
            ),
        ));
    }
    Ok(())
}

fn calendar_response(body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The `SEQUENCE` of a schedule's events: one more for each change of its configured
/// definition (seen by fingerprint, recorded in the store so every node and restart agrees)
/// and for each change of its run-time overrides (their audit entries). Both only grow, so
/// calendar clients re-read the events after either changes.
async fn feed_sequence(state: &AppState, id: &str) -> Result<u32, ApiError> {
    let configured = state
        .config()
        .config
        .core_schedule(id)
        .ok_or_else(|| ApiError::not_found(format!("schedule `{id}` not found")))?;
    let definition = state
        .store
        .schedule_sequence(id, &configured.fingerprint(), state.clock.now())
        .await?;
    let overrides = state.store.schedule_revision(id).await?;
    Ok(definition.saturating_add(overrides))
}

/// `GET /ical/schedules/{id}.ics?token=…`: the schedule's shifts from 30 days ago to 180 ahead.
pub async fn schedule_feed(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
    ApiQuery(p): ApiQuery<FeedParams>,
) -> Result<Response, ApiError> {
    feed_caller(&state, p.token.as_deref()).await?;
    let id = file.strip_suffix(".ics").unwrap_or(&file);
    let (schedule, name) = effective_schedule(&state, id).await?;
    let now = state.clock.now();
    let resolution = schedule::shifts(&schedule, now - FEED_PAST, now + FEED_AHEAD);
    let sequence = feed_sequence(&state, id).await?;
    Ok(calendar_response(ical::schedule_calendar(
        id,
        &name,
        &resolution.shifts,
        sequence,
    )))
}

/// `GET /ical/people/{id}.ics?token=…`: every shift the person covers, on any schedule.
pub async fn person_feed(
    State(state): State<AppState>,
    ApiPath(file): ApiPath<String>,
    ApiQuery(p): ApiQuery<FeedParams>,
) -> Result<Response, ApiError> {
    feed_caller(&state, p.token.as_deref()).await?;
    let person = file.strip_suffix(".ics").unwrap_or(&file).to_string();
    let cfg = state.config();
    let display = cfg
        .config
        .people
        .get(&person)
        .map(|p| p.name.clone())
        .ok_or_else(|| ApiError::not_found(format!("person `{person}` not found")))?;
    let now = state.clock.now();
    let mut owned: Vec<(String, String, Shift, u32)> = Vec::new();
    for id in cfg.config.schedules.keys() {
        let (schedule, name) = effective_schedule(&state, id).await?;
        let resolution = schedule::shifts(&schedule, now - FEED_PAST, now + FEED_AHEAD);
        let mine: Vec<Shift> = resolution
            .shifts
            .into_iter()
            .filter(|s| s.person == person)
            .collect();
        if mine.is_empty() {
            continue;
        }
        // Each event keeps the sequence it has in its schedule's own feed.
        let sequence = feed_sequence(&state, id).await?;
        owned.extend(
            mine.into_iter()
                .map(|s| (id.clone(), name.clone(), s, sequence)),
        );
    }
    owned.sort_by_key(|(_, _, s, _)| s.start);
    let entries: Vec<CalendarShift<'_>> = owned
        .iter()
        .map(|(id, name, shift, sequence)| CalendarShift {
            schedule_id: id,
            schedule_name: name,
            shift,
            sequence: *sequence,
        })
        .collect();
    Ok(calendar_response(ical::calendar(
        &format!("On call: {display}"),
        &entries,
    )))
}
