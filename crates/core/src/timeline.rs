//! The append-only timeline: every change to an incident is one structured event.
//!
//! Events are data, not prose, so analytics, briefings and replay can read them later.
//! Nothing ever updates or deletes a timeline event.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::incident::{Severity, Status};

/// What happened. Serialized as `{"kind": "...", "data": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Change {
    Declared {
        title: String,
        severity: Severity,
        status: Status,
        services: Vec<String>,
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
