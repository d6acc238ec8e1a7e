//! What the engine remembers about one incident between events.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::Audience;
use crate::incident::{Severity, Status};

/// The engine's view of one incident: the facts conditions look at, and each policy's progress.
/// Serializable so the shell may persist it; it is also the fold of the incident's events
/// through [`super::handle`], so it can always be rebuilt by replaying them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentPolicyState {
    pub(super) declared: bool,
    pub(super) severity: Option<Severity>,
    pub(super) status: Option<Status>,
    pub(super) services: Vec<String>,
    pub(super) incident_type: Option<String>,
    pub(super) labels: BTreeMap<String, String>,
    /// First time each milestone was reached, and by whom.
    pub(super) milestones: BTreeMap<String, (Timestamp, String)>,
    pub(super) roles: BTreeMap<String, String>,
    /// Facts deadlines may expect or count from besides milestones, first time each, and by
    /// whom: `role:R`, `notified:alias:legal`, `acknowledged_by:alias:legal`.
    #[serde(default)]
    pub(super) reached: BTreeMap<String, (Timestamp, String)>,
    /// Each notification decided, by its idempotency key.
    #[serde(default)]
    pub(super) notifications: BTreeMap<String, Notification>,
    /// Active responders (joined, not left).
    pub(super) responders: BTreeSet<String>,
    /// Per policy id.
    pub(super) runs: BTreeMap<String, PolicyRun>,
    /// Pending timers: key → due.
    pub(super) timers: BTreeMap<String, Timestamp>,
}

/// A notification addressed to an audience: when it was decided, and its first
/// acknowledgement (who, when).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub audience: Audience,
    pub at: Timestamp,
    #[serde(default)]
    pub acknowledged: Option<(String, Timestamp)>,
}

/// A timer the engine is waiting for (for the live clock: `GET …/clock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingTimer {
    pub key: String,
    pub due_at: Timestamp,
}

impl IncidentPolicyState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Pending timers in key order.
    pub fn pending_timers(&self) -> impl Iterator<Item = PendingTimer> + '_ {
        self.timers.iter().map(|(k, d)| PendingTimer {
            key: k.clone(),
            due_at: *d,
        })
    }

    /// The earliest pending timer (ties: smallest key).
    pub fn next_timer(&self) -> Option<(&str, Timestamp)> {
        self.timers
            .iter()
            .min_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)))
            .map(|(k, d)| (k.as_str(), *d))
    }

    pub fn severity(&self) -> Option<Severity> {
        self.severity
    }

    pub fn status(&self) -> Option<Status> {
        self.status
    }

    /// When and by whom a milestone was first reached.
    pub fn milestone(&self, name: &str) -> Option<(Timestamp, &str)> {
        self.milestones.get(name).map(|(t, a)| (*t, a.as_str()))
    }

    /// When and by whom a fact was first reached: a milestone id, or `role:R`,
    /// `notified:<audience>`, `acknowledged_by:<audience>`.
    pub fn reached(&self, key: &str) -> Option<(Timestamp, &str)> {
        self.milestones
            .get(key)
            .or_else(|| self.reached.get(key))
            .map(|(t, a)| (*t, a.as_str()))
    }

    /// The notification with idempotency key `key`.
    pub fn notification(&self, key: &str) -> Option<&Notification> {
        self.notifications.get(key)
    }

    pub fn role_holder(&self, role: &str) -> Option<&str> {
        self.roles.get(role).map(String::as_str)
    }
}

/// One policy's progress in one incident.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PolicyRun {
    /// Instances started so far (deadline armings, cadence rounds, solo spells, event firings):
    /// the `<n>` of timer and idempotency keys.
    pub seq: u32,
    pub phase: Phase,
    /// When the current instance's clock started.
    pub since: Option<Timestamp>,
    /// Deadline: due time of the pending (or missed) instance.
    pub due: Option<Timestamp>,
    /// Solo responder: fired during the current solo spell.
    pub fired: bool,
    /// Cadence: what started the current round's clock, for the explanation.
    pub since_what: SinceWhat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Phase {
    /// Not armed (never, or cancelled).
    #[default]
    Idle,
    /// Armed: timers pending.
    Active,
    /// Deadline met: never re-arms.
    Met,
    /// Deadline missed: never re-arms; a late `expect` still records how late.
    Missed,
    /// Deadline missed and the late milestone recorded.
    Closed,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum SinceWhat {
    #[default]
    Start,
    Reset,
    Fired,
}
