//! The live clock of an incident: pending policy timers and escalation steps with the time
//! left. `GET /api/v1/incidents/{id}/clock`, the Slack header and message templates show it.

use jiff::Timestamp;
use muster_core::IncidentNumber;
use muster_core::escalation::EscalationTarget;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::LoadedConfig;
use crate::policy_state::{PolicyState, steps};

/// The live clock of one incident. Times come from the server's clock (`now`); a drill's
/// incident's from its drill's clock.
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

/// The live clock of `id` now (also what the Slack header shows).
pub async fn clock_view(
    state: &crate::AppState,
    id: IncidentNumber,
) -> Result<ClockView, muster_store::StoreError> {
    let stored = state.store.policy_state(id).await?;
    // An unreadable state shows an empty clock; the timeline carries the error.
    let policy_state = PolicyState::decode(&stored).unwrap_or_default();
    // A drill's incident lives in drill time (its deadlines too): the time left is counted
    // on the drill's clock, which may run faster, be paused or be stepped.
    let real = state.clock.now();
    let now = policy_state
        .drill
        .as_ref()
        .map_or(real, |d| d.clock.now(real));
    Ok(ClockView::of(&state.config(), &policy_state, id, now))
}

impl ClockView {
    /// What `policy_state` waits for at `now`, under the configuration `cfg`.
    pub fn of(
        cfg: &LoadedConfig,
        policy_state: &PolicyState,
        id: IncidentNumber,
        now: Timestamp,
    ) -> ClockView {
        let mut timers: Vec<PolicyTimerView> = policy_state
            .engine
            .pending_timers()
            .map(|t| timer_view(cfg, t.key, t.due_at, now))
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
        ClockView {
            incident: id.to_string(),
            now,
            timers,
            escalations,
        }
    }

    /// The pending deadlines (not warnings or cadences), earliest first.
    pub fn deadlines(&self) -> impl Iterator<Item = &PolicyTimerView> {
        self.timers.iter().filter(|t| t.kind == "deadline")
    }
}

/// Engine keys are `<kind>:<policy>:<n>[:<suffix>]`.
pub fn timer_view(
    cfg: &LoadedConfig,
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
    let expect = cfg.expectation_key(&policy);
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
