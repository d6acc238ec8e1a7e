//! An incident as the API, message templates and Slack show it: the JSON shapes of an
//! incident and of its timeline events.

use std::collections::BTreeMap;

use muster_core::{Incident, Severity, Status, TimelineEvent, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An incident as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IncidentView {
    #[schema(example = "INC-42")]
    pub id: String,
    pub title: String,
    #[schema(value_type = String, example = "SEV1")]
    pub severity: Severity,
    #[schema(value_type = String, example = "investigating")]
    pub status: Status,
    pub services: Vec<String>,
    /// `security`, `data-exposure`, … when declared with a type.
    pub incident_type: Option<String>,
    /// A drill's incident: it runs the real policies, and nothing it does leaves the drill.
    pub exercise: bool,
    /// People working the incident now.
    pub responders: Vec<String>,
    /// Role id → holder.
    pub roles: BTreeMap<String, RoleView>,
    pub milestones: Vec<MilestoneView>,
    pub tasks: Vec<TaskView>,
    #[schema(value_type = String, format = DateTime)]
    pub declared_at: Timestamp,
    pub declared_by: String,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    /// Sequence number of the latest timeline event.
    pub last_seq: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoleView {
    pub person: String,
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MilestoneView {
    pub milestone: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TaskView {
    pub id: u32,
    pub title: String,
    pub assignee: Option<String>,
    pub done: bool,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub done_at: Option<Timestamp>,
}

/// One timeline entry: who did what, when. `data` depends on `kind`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEventView {
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub actor: String,
    #[schema(example = "milestone_reached")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

impl From<Incident> for IncidentView {
    fn from(i: Incident) -> Self {
        IncidentView {
            id: i.id.to_string(),
            title: i.title,
            severity: i.severity,
            status: i.status,
            services: i.services,
            incident_type: i.incident_type,
            exercise: i.exercise,
            responders: i.responders,
            roles: i
                .roles
                .into_iter()
                .map(|(role, h)| {
                    (
                        role,
                        RoleView {
                            person: h.person,
                            since: h.since,
                        },
                    )
                })
                .collect(),
            milestones: i
                .milestones
                .into_iter()
                .map(|m| MilestoneView {
                    milestone: m.milestone,
                    at: m.at,
                    actor: m.actor,
                })
                .collect(),
            tasks: i.tasks.into_iter().map(TaskView::from).collect(),
            declared_at: i.declared_at,
            declared_by: i.declared_by,
            updated_at: i.updated_at,
            resolved_at: i.resolved_at,
            last_seq: i.last_seq,
        }
    }
}

impl From<muster_core::Task> for TaskView {
    fn from(t: muster_core::Task) -> Self {
        TaskView {
            id: t.id,
            title: t.title,
            assignee: t.assignee,
            done: t.done,
            created_at: t.created_at,
            done_at: t.done_at,
        }
    }
}

impl From<TimelineEvent> for TimelineEventView {
    fn from(e: TimelineEvent) -> Self {
        let kind = e.change.kind().to_string();
        let data = match serde_json::to_value(&e.change) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.remove("data").unwrap_or(serde_json::Value::Null)
            }
            _ => serde_json::Value::Null,
        };
        TimelineEventView {
            seq: e.seq,
            at: e.at,
            actor: e.actor,
            kind,
            data,
        }
    }
}
