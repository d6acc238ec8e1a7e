//! The append-only timeline: every change to an incident is one structured event.
//!
//! Events are data, not prose, so analytics, briefings and replay can read them later.
//! Nothing ever updates or deletes a timeline event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::engine::Action;
use crate::incident::severity::{Severity, Status};

/// What happened. Serialized as `{"kind": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Change {
    Declared {
        title: String,
        severity: Severity,
        status: Status,
        services: Vec<String>,
        /// What kind of incident (`security`, `data-exposure`, …), for policies and playbooks.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident_type: Option<String>,
        /// A drill's incident: it runs the real policies, but nothing it does leaves the drill.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        exercise: bool,
    },
    TitleChanged {
        from: String,
        to: String,
    },
    SeverityChanged {
        from: Severity,
        to: Severity,
    },
    StatusChanged {
        from: Status,
        to: Status,
    },
    /// A resolved incident was opened again; `to` is its new status.
    Reopened {
        to: Status,
    },
    ServicesChanged {
        added: Vec<String>,
        removed: Vec<String>,
    },
    MilestoneReached {
        milestone: String,
    },
    RoleAssigned {
        role: String,
        person: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        previous: Option<String>,
    },
    RoleReleased {
        role: String,
        person: String,
    },
    TaskAdded {
        task_id: u32,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
    },
    TaskCompleted {
        task_id: u32,
    },
    TaskReopened {
        task_id: u32,
    },
    NoteAdded {
        text: String,
    },
    /// Someone started working the incident.
    ResponderJoined {
        person: String,
    },
    ResponderLeft {
        person: String,
    },
    /// A nudge (by its idempotency key) was seen; a cadence stops escalating it.
    NudgeAcknowledged {
        key: String,
    },
    /// `by`, a recipient of notification `key` (its idempotency key, as in the outbox without
    /// the incident's prefix) addressed to `audience` (`alias:legal`, `schedule:legal-oncall`,
    /// `person:alice`), acknowledged it `delay_secs` after it was decided. Recorded once per
    /// notification.
    NotificationAcknowledged {
        key: String,
        by: String,
        audience: String,
        delay_secs: i64,
        /// Where the answer came from (`sms`, `voice`, `push`, `email`, `link`); absent for
        /// the API, CLI and Slack, and in events written before channels were recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
    /// A policy fired: why, in plain words, and what it asked for (each action is one outbox
    /// item). `late_by_ms`: how late the timer that caused it fired, when it was late.
    PolicyFired {
        policy: String,
        reason: String,
        actions: Vec<Action>,
        /// Who the actions reach, resolved at firing time (`page platform-secondary` → the
        /// person on call then), in action order; empty when nothing needed resolving.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        recipients: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        late_by_ms: Option<i64>,
    },
    /// A deadline's result: met (`margin_secs` ≥ 0, to spare) or missed (< 0, how late the
    /// expected milestone came; 0 when recorded at expiry).
    DeadlineOutcome {
        policy: String,
        instance: u32,
        met: bool,
        expect: String,
        at: Timestamp,
        due_at: Timestamp,
        margin_secs: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A pending deadline stopped applying; it has no outcome.
    PolicyCancelled {
        policy: String,
        reason: String,
    },
    /// A configuration reload moved one of the policy's pending timers (`key`, the engine's).
    PolicyReplanned {
        policy: String,
        key: String,
        from: Timestamp,
        to: Timestamp,
    },
    /// A policy could not run as written (bounded cascade, unknown target at run time…).
    PolicyError {
        policy: String,
        message: String,
    },
    /// One step of an escalation policy paged its targets (people resolved at that moment).
    EscalationStep {
        escalation_policy: String,
        /// 0 for the first pass.
        pass: u32,
        /// 0 for the first step.
        step: u32,
        /// Who was paged: people (schedules resolved), aliases, channels.
        paged: Vec<String>,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        late_by_ms: Option<i64>,
    },
    /// An escalation policy stopped before its last step (acknowledged).
    EscalationStopped {
        escalation_policy: String,
        reason: String,
    },
    /// An outbox item (`key`) was resolved into deliveries: who it reaches, by which channel.
    NotificationQueued {
        key: String,
        /// `person:alice via slack`, `#payments via slack`, `legal@example.com via email`.
        to: Vec<String>,
    },
    /// A delivery reached its provider. `latency_ms`: from the decision to the provider's answer.
    NotificationSent {
        key: String,
        channel: String,
        to: String,
        latency_ms: i64,
    },
    /// A delivery attempt failed. `retry_in_ms` when it will be tried again on the same
    /// channel; `fallback` the channel tried instead; neither: given up (a dead letter).
    NotificationFailed {
        key: String,
        channel: String,
        to: String,
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_in_ms: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fallback: Option<String>,
    },
    /// Something a drill did to its incident: an inject played or skipped, its clock paused,
    /// resumed or stepped, its end.
    DrillEvent {
        what: String,
    },
}

impl Change {
    /// The `kind` string as stored and served.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::Declared { .. } => "declared",
            Change::TitleChanged { .. } => "title_changed",
            Change::SeverityChanged { .. } => "severity_changed",
            Change::StatusChanged { .. } => "status_changed",
            Change::Reopened { .. } => "reopened",
            Change::ServicesChanged { .. } => "services_changed",
            Change::MilestoneReached { .. } => "milestone_reached",
            Change::RoleAssigned { .. } => "role_assigned",
            Change::RoleReleased { .. } => "role_released",
            Change::TaskAdded { .. } => "task_added",
            Change::TaskCompleted { .. } => "task_completed",
            Change::TaskReopened { .. } => "task_reopened",
            Change::NoteAdded { .. } => "note_added",
            Change::ResponderJoined { .. } => "responder_joined",
            Change::ResponderLeft { .. } => "responder_left",
            Change::NudgeAcknowledged { .. } => "nudge_acknowledged",
            Change::NotificationAcknowledged { .. } => "notification_acknowledged",
            Change::PolicyFired { .. } => "policy_fired",
            Change::DeadlineOutcome { .. } => "deadline_outcome",
            Change::PolicyCancelled { .. } => "policy_cancelled",
            Change::PolicyReplanned { .. } => "policy_replanned",
            Change::PolicyError { .. } => "policy_error",
            Change::EscalationStep { .. } => "escalation_step",
            Change::EscalationStopped { .. } => "escalation_stopped",
            Change::NotificationQueued { .. } => "notification_queued",
            Change::NotificationSent { .. } => "notification_sent",
            Change::NotificationFailed { .. } => "notification_failed",
            Change::DrillEvent { .. } => "drill_event",
        }
    }
}

/// One entry of an incident's timeline. `seq` is gap-free and starts at 1 per incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub seq: i64,
    pub at: Timestamp,
    pub actor: String,
    #[serde(flatten)]
    pub change: Change,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialize_with_kind_and_data() {
        let e = TimelineEvent {
            seq: 3,
            at: "2026-01-01T03:12:00Z".parse().unwrap(),
            actor: "alice".into(),
            change: Change::MilestoneReached {
                milestone: "acknowledged".into(),
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "milestone_reached");
        assert_eq!(v["data"]["milestone"], "acknowledged");
        assert_eq!(v["actor"], "alice");
        assert_eq!(e.change.kind(), "milestone_reached");
        let back: TimelineEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
