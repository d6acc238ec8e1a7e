//! `GET /api/v1/incidents/{id}/clock`: what the policies are waiting for, and how long is left.

use axum::Json;
use axum::extract::{Path, State};
use jiff::Timestamp;
use muster_core::escalation::EscalationTarget;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::incident_id;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::policy::{PolicyState, steps};

/// The live clock of one incident. Times come from the server's clock (`now`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ClockView {
    #[schema(example = "INC-42")]
    pub incident: String,
    #[schema(value_type = String, format = DateTime)]
    pub now: Timestamp,
    /// Pending policy timers (deadlines, warnings, cadences), earliest first.
    pub timers: Vec<PolicyTimerView>,
    /// Escalation steps still to page unless somebody acknowledges, earliest first.
    pub escalations: Vec<EscalationStepView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PolicyTimerView {
    #[schema(example = "blast-radius-20m")]
    pub policy: String,
    /// `deadline`, `deadline_warning`, `cadence`, `cadence_escalation` or `solo_responder`.
    #[schema(example = "deadline")]
    pub kind: String,
    /// What the policy waits for (the expected milestone of a deadline), when known.
    pub expect: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    /// Negative when overdue (the scheduler is about to fire it).
    pub seconds_remaining: i64,
    /// The engine's timer key, e.g. `deadline:blast-radius-20m:1:due`.
    pub key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EscalationStepView {
    #[schema(example = "platform-escalation")]
    pub escalation_policy: String,
    /// 0 for the first pass.
    pub pass: u32,
    /// 0 for the first step.
    pub step: u32,
    #[schema(value_type = String, format = DateTime)]
    pub due_at: Timestamp,
    pub seconds_remaining: i64,
    /// `schedule:platform-secondary`, `person:ivan`, `alias:…`, `slack_channel:…`.
    pub targets: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/clock", tag = "incidents",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42")),
    responses((status = 200, description = "OK", body = ClockView), (status = 404, description = "No such incident", body = ErrorBody)))]
pub async fn clock(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ClockView>, ApiError> {
    let id = incident_id(&id)?;
    if state.store.incident(id).await?.is_none() {
        return Err(ApiError::not_found(format!("incident {id} not found")));
    }
    Ok(Json(clock_view(&state, id).await?))
}

/// The live clock of an incident known to exist (also what briefings count down to).
pub(crate) async fn clock_view(
    state: &AppState,
    id: muster_core::IncidentNumber,
) -> Result<ClockView, ApiError> {
    let stored = state.store.policy_state(id).await?;
    // An unreadable state shows an empty clock; the timeline carries the error.
    let policy_state = PolicyState::decode(&stored).unwrap_or_default();
    let now = state.clock.now();
    let cfg = state.config();
    let mut timers: Vec<PolicyTimerView> = policy_state
        .engine
        .pending_timers()
        .map(|t| timer_view(&cfg.policies, t.key, t.due_at, now))
        .collect();
    timers.sort_by(|a, b| (a.due_at, &a.key).cmp(&(b.due_at, &b.key)));
    let mut escalations = Vec::new();
    for run in policy_state.escalations.values() {
        let Some((next, _)) = run.next else { continue };
        let Some(policy) = cfg.config.core_escalation_policy(&run.escalation_policy) else {
            continue;
        };
        let plan = steps(&policy, run.started_at);
        escalations.extend(
            plan.into_iter()
                .skip(next as usize)
                .map(|s| EscalationStepView {
                    escalation_policy: run.escalation_policy.clone(),
                    pass: s.pass,
                    step: s.step,
                    due_at: s.at,
                    seconds_remaining: s.at.duration_since(now).as_secs(),
                    targets: s.targets.iter().map(target_name).collect(),
                }),
        );
    }
    escalations.sort_by_key(|e| e.due_at);
    Ok(ClockView {
        incident: id.to_string(),
        now,
        timers,
        escalations,
    })
}

/// Engine keys are `<kind>:<policy>:<n>[:<suffix>]`.
pub(crate) fn timer_view(
    policies: &[muster_core::engine::Policy],
    key: String,
    due_at: Timestamp,
    now: Timestamp,
) -> PolicyTimerView {
    let mut parts = key.split(':');
    let (kind, policy, _, suffix) = (parts.next(), parts.next(), parts.next(), parts.next());
    let kind = match (kind, suffix) {
        (Some("deadline"), Some("warn")) => "deadline_warning",
        (Some("deadline"), _) => "deadline",
        (Some("cadence"), Some("escalate")) => "cadence_escalation",
        (Some("cadence"), _) => "cadence",
        (Some("solo"), _) => "solo_responder",
        (other, _) => other.unwrap_or("unknown"),
    };
    let policy = policy.unwrap_or_default().to_string();
    let expect = policies
        .iter()
        .find(|p| p.id == policy)
        .and_then(|p| match &p.trigger {
            muster_core::engine::Trigger::Deadline { expect, .. } => Some(expect.clone()),
            _ => None,
        });
    PolicyTimerView {
        kind: kind.to_string(),
        policy,
        expect,
        due_at,
        seconds_remaining: due_at.duration_since(now).as_secs(),
        key,
    }
}

fn target_name(t: &EscalationTarget) -> String {
    match t {
        EscalationTarget::Schedule(s) => format!("schedule:{s}"),
        EscalationTarget::Person(p) => format!("person:{p}"),
        EscalationTarget::Alias(a) => format!("alias:{a}"),
        EscalationTarget::SlackChannel(c) => format!("slack_channel:{c}"),
    }
}
