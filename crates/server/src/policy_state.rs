//! What is persisted per incident for its policies (as JSON, opaque to the store): the
//! engine's state and the running escalations. Read by the reactions that change it and by
//! the views that show what it waits for (the clock, the Slack header).

use std::collections::BTreeMap;

use jiff::Timestamp;
use muster_core::engine::IncidentPolicyState;
use muster_core::escalation::{self, EscalationTarget};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    pub engine: IncidentPolicyState,
    /// Running or finished escalations, by the idempotency key of the page that started them.
    #[serde(default)]
    pub escalations: BTreeMap<String, EscalationRun>,
    /// Set on a drill's incident: its clock, who plays what, its injects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drill: Option<DrillState>,
}

/// A live drill, kept with its incident's policy state so every reaction reads it under the
/// incident's lock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillState {
    pub scenario: String,
    pub clock: muster_core::drill::DrillClock,
    /// The speed a pause resumes at (`None`: a stepped drill).
    pub speed: Option<f64>,
    /// Role or persona → person.
    pub players: BTreeMap<String, String>,
    pub facilitator: String,
    /// Drill time at T+0.
    pub start: Timestamp,
    /// Index of each inject already played or skipped, with what became of it.
    #[serde(default)]
    pub injects: BTreeMap<usize, String>,
    /// Drill time the drill ended at.
    #[serde(default)]
    pub ended: Option<Timestamp>,
}

/// One escalation policy being run for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRun {
    pub escalation_policy: String,
    pub started_at: Timestamp,
    /// The next step to page (index into [`steps`]) and when; `None` once finished or stopped.
    pub next: Option<(u32, Timestamp)>,
}

/// One step of an escalation plan: all targets notified at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub pass: u32,
    pub step: u32,
    pub at: Timestamp,
    pub targets: Vec<EscalationTarget>,
}

impl PolicyState {
    /// Reads the stored JSON (`Null`: a fresh state).
    pub fn decode(value: &Value) -> Result<PolicyState, String> {
        if value.is_null() {
            return Ok(PolicyState::default());
        }
        serde_json::from_value(value.clone()).map_err(|e| format!("unreadable policy state: {e}"))
    }

    pub fn encode(&self) -> Value {
        // Serializing plain data into a Value cannot fail; Null would only reset the state.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The steps of an escalation policy started at `start`, in firing order.
pub fn steps(policy: &escalation::EscalationPolicy, start: Timestamp) -> Vec<PlannedStep> {
    let mut out: Vec<PlannedStep> = Vec::new();
    for n in escalation::plan(policy, start, None) {
        let step = u32::try_from(n.step).unwrap_or(u32::MAX);
        match out.last_mut() {
            Some(last) if last.pass == n.pass && last.step == step => last.targets.push(n.target),
            _ => out.push(PlannedStep {
                pass: n.pass,
                step,
                at: n.at,
                targets: vec![n.target],
            }),
        }
    }
    out
}
