//! `POST /api/v1/schedules/{id}/take-pager`: "take the pager now" — the caller on call for a
//! schedule at once, in place of whoever is, until that shift ends or for a while, with the
//! incident that needs them noted on its timeline. The override is an ordinary run-time
//! override (audited, in force everywhere at once); the rules are the core's
//! (`schedule::take_pager`, `access::may_take_pager`), and the web UI's button calls
//! [`take_as`].

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jiff::SignedDuration;
use muster_core::schedule::{self, TakeRefused, TakeUntil};
use muster_core::{Access, Command, IncidentNumber, access, words};
use muster_store::{NewOverride, ScheduleOverride};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiJson, ApiPath};
use super::schedules::{OverrideView, runtime_view};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::scope::{self, Owned};
use crate::{AppState, oncall, reactions};

/// What taking the pager asks for.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TakePager {
    /// For how many minutes (1 to 20160); absent: until the current shift ends. Never past
    /// the current shift: the next one starts as planned.
    #[serde(default)]
    pub minutes: Option<u32>,
    /// The incident that needs the caller (`INC-7`): the override's reason names it, and its
    /// timeline notes who took the pager.
    #[serde(default)]
    pub incident: Option<String>,
}

/// Who takes the pager, with what right.
pub struct Taker<'a> {
    pub name: &'a str,
    pub access: Access,
}

/// Takes the pager of `schedule` for `taker` (checks, the override, the incident's note).
/// The caller has checked the taker's teams against the schedule's and the incident's.
pub async fn take_as(
    state: &AppState,
    taker: Taker<'_>,
    schedule: &str,
    req: &TakePager,
) -> Result<ScheduleOverride, ApiError> {
    let cfg = state.config();
    let config = &cfg.config;
    let Some(configured) = config.schedules.get(schedule) else {
        return Err(ApiError::not_found(format!(
            "schedule `{schedule}` not found"
        )));
    };
    if !config.people.contains_key(taker.name) {
        return Err(ApiError::unprocessable(format!(
            "`{}` is not a person of the configuration: only a person can carry the pager",
            taker.name
        )));
    }
    let until = match req.minutes {
        None => TakeUntil::EndOfShift,
        Some(m) => TakeUntil::For(SignedDuration::from_mins(i64::from(m))),
    };
    let incident = match &req.incident {
        Some(raw) => Some(known_incident(state, raw).await?),
        None => None,
    };
    let overrides = oncall::runtime_overrides(&state.store).await?;
    let Some(effective) = oncall::effective_schedule(config, &overrides, schedule) else {
        return Err(ApiError::not_found(format!(
            "schedule `{schedule}` not found"
        )));
    };
    if !access::may_take_pager(taker.access, schedule::rotates_in(&effective, taker.name)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} does not rotate in {}: taking another rotation's pager is an override, which needs admin",
                taker.name, configured.name
            ),
        ));
    }
    let now = state.clock.now();
    let takeover =
        schedule::take_pager(&effective, taker.name, now, until).map_err(|e| match e {
            TakeRefused::AlreadyOnCall => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{} is on call for {} already", taker.name, configured.name),
            ),
            TakeRefused::BadDuration => {
                ApiError::unprocessable("minutes: from 1 to 20160 (14 days)")
            }
        })?;
    let reason = match incident {
        Some(id) => format!("took the pager now for {id}"),
        None => "took the pager now".to_string(),
    };
    let new = NewOverride {
        schedule: schedule.to_string(),
        person: taker.name.to_string(),
        replaces: takeover.replaces.clone(),
        from: takeover.from,
        to: takeover.to,
        reason,
    };
    let stored = state.store.create_override(&new, taker.name, now).await?;
    tracing::info!(schedule, id = %stored.id, actor = taker.name, "pager taken");
    if let Some(id) = incident {
        note_on_incident(state, taker.name, id, &configured.name, &stored).await;
    }
    Ok(stored)
}

async fn known_incident(state: &AppState, raw: &str) -> Result<IncidentNumber, ApiError> {
    let id: IncidentNumber = raw
        .parse()
        .map_err(|_| ApiError::unprocessable(format!("incident: `{raw}` is not an incident id")))?;
    match state.store.incident(id).await? {
        Some(_) => Ok(id),
        None => Err(ApiError::not_found(format!("incident {id} not found"))),
    }
}

/// The incident's timeline says who took the pager. The override is in force already, so a
/// note that cannot be written is logged, not answered as a failure.
async fn note_on_incident(
    state: &AppState,
    actor: &str,
    id: IncidentNumber,
    schedule_name: &str,
    stored: &ScheduleOverride,
) {
    let from = match &stored.replaces {
        Some(p) => format!(" from {p}"),
        None => String::new(),
    };
    let text = format!(
        "Took the pager of {schedule_name}{from} for {} (override {}).",
        words::duration(stored.to - stored.from),
        stored.id
    );
    if let Err(e) = reactions::apply(state, actor, id, Command::AddNote { text }).await {
        tracing::warn!(incident = %id, error = %e, "pager taken; the incident's note failed");
    }
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/take-pager", tag = "schedules", request_body = TakePager,
    params(("id" = String, Path, description = "Schedule id")),
    responses((status = 201, description = "The caller is on call now: the override stored, audited and in force", body = OverrideView),
        (status = 403, description = "A viewer, or a responder who does not rotate in the schedule (admins may take any)", body = ErrorBody),
        (status = 404, description = "No such schedule or incident", body = ErrorBody),
        (status = 409, description = "The caller is on call already", body = ErrorBody),
        (status = 422, description = "The caller is not a person of the configuration, or minutes out of range", body = ErrorBody)))]
pub async fn take_pager(
    State(state): State<AppState>,
    // The extractor refused viewers and other teams' schedules already.
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<TakePager>,
) -> Result<Response, ApiError> {
    if let Some(raw) = &req.incident {
        let (owners, what) = scope::owners(&state, &Owned::Incident(raw.clone())).await?;
        caller.require_scope(&owners, &what)?;
    }
    let taker = Taker {
        name: &caller.name,
        access: caller.access,
    };
    let stored = take_as(&state, taker, &id, &req).await?;
    Ok((StatusCode::CREATED, Json(runtime_view(stored))).into_response())
}
