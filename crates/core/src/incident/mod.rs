//! Incidents and the rules for changing them.
//!
//! The shell loads an [`Incident`], asks [`decide`] what a [`Command`] means for it, appends
//! the resulting [`Change`]s to the timeline in one transaction, and folds them back in with
//! [`Incident::apply`]. The incident is therefore always the fold of its own timeline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::timeline::{Change, TimelineEvent};

mod error;
pub mod severity;
pub use error::DomainError;
pub use severity::{Severity, Status};

/// Roles every configuration has; more come from config.
pub const BUILTIN_ROLES: [&str; 4] = ["incident_commander", "ops_lead", "comms_lead", "scribe"];
/// Milestones every configuration has; more come from config.
pub const BUILTIN_MILESTONES: [&str; 7] = [
    "declared",
    "acknowledged",
    "blast_radius_validated",
    "mitigated",
    "resolved",
    "status_update_posted",
    "customers_notified",
];
/// Milestones that are events rather than stages: each time counts (a cadence of status
/// updates resets on every one).
const RECURRING: [&str; 1] = ["status_update_posted"];
/// Milestones that may be reached again after a reopen.
const REPEATABLE_AFTER_REOPEN: [&str; 2] = ["mitigated", "resolved"];
pub const MAX_TITLE_CHARS: usize = 200;

/// The human-friendly incident id: `INC-42`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentNumber(pub i64);

impl fmt::Display for IncidentNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{}", self.0)
    }
}

impl FromStr for IncidentNumber {
    type Err = DomainError;
    /// Accepts `INC-42`, `inc-42` and `42`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s
            .strip_prefix("INC-")
            .or_else(|| s.strip_prefix("inc-"))
            .unwrap_or(s);
        digits
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(IncidentNumber)
            .ok_or_else(|| DomainError::unknown("id", s, "an incident id such as INC-42"))
    }
}

impl Serialize for IncidentNumber {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IncidentNumber {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneRecord {
    pub milestone: String,
    pub at: Timestamp,
    pub actor: String,
    /// Timeline sequence number of the event that reached it.
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleHolder {
    pub person: String,
    pub since: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    pub id: u32,
    pub title: String,
    pub assignee: Option<String>,
    pub done: bool,
    pub created_at: Timestamp,
    pub done_at: Option<Timestamp>,
}

/// The current state of an incident: the fold of its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentNumber,
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub services: Vec<String>,
    /// Set at declaration (`security`, `data-exposure`, …); `None` for a plain incident.
    #[serde(default)]
    pub incident_type: Option<String>,
    /// A drill's incident (see [`crate::drill`]): marked everywhere, isolated from the world.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exercise: bool,
    /// People working the incident now, in the order they joined.
    #[serde(default)]
    pub responders: Vec<String>,
    pub roles: BTreeMap<String, RoleHolder>,
    pub milestones: Vec<MilestoneRecord>,
    pub tasks: Vec<Task>,
    pub declared_at: Timestamp,
    pub declared_by: String,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Sequence number of the last timeline event folded in.
    pub last_seq: i64,
    /// Sequence number of the last reopen, 0 if never reopened.
    pub reopened_seq: i64,
}

/// What callers ask for. Each becomes zero or more [`Change`]s, or a [`DomainError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Partial update: only the fields that are `Some` are changed.
    Update {
        title: Option<String>,
        severity: Option<Severity>,
        status: Option<Status>,
        services: Option<Vec<String>>,
    },
    Acknowledge,
    ReachMilestone {
        milestone: String,
    },
    AssignRole {
        role: String,
        person: String,
    },
    ReleaseRole {
        role: String,
    },
    AddTask {
        title: String,
        assignee: Option<String>,
    },
    SetTaskDone {
        task_id: u32,
        done: bool,
    },
    AddNote {
        text: String,
    },
    /// `person` starts working the incident.
    Join {
        person: String,
    },
    /// `person` stops working the incident.
    Leave {
        person: String,
    },
    /// A nudge (by its idempotency key) was seen and is being handled.
    AcknowledgeNudge {
        key: String,
    },
    Resolve,
    Reopen {
        status: Status,
    },
}

/// The names a configuration knows: what commands are checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vocabulary {
    pub roles: BTreeSet<String>,
    pub milestones: BTreeSet<String>,
    pub services: BTreeSet<String>,
    pub people: BTreeSet<String>,
}

impl Vocabulary {
    /// The built-in roles and milestones, with the given services and people.
    pub fn builtin(
        services: impl IntoIterator<Item = String>,
        people: impl IntoIterator<Item = String>,
    ) -> Self {
        Vocabulary {
            roles: BUILTIN_ROLES.iter().map(|s| s.to_string()).collect(),
            milestones: BUILTIN_MILESTONES.iter().map(|s| s.to_string()).collect(),
            services: services.into_iter().collect(),
            people: people.into_iter().collect(),
        }
    }

    fn check(&self, field: &str, set: &BTreeSet<String>, value: &str) -> Result<(), DomainError> {
        if set.contains(value) {
            return Ok(());
        }
        let known: Vec<&str> = set.iter().map(String::as_str).take(12).collect();
        Err(DomainError::unknown(field, value, &known.join(", ")))
    }
}

/// The role that only the incident's commander hands out (an admin may too; who is an admin
/// is the caller's to decide).
pub const COMMANDER_ASSIGNS: &str = "comms_lead";

/// Whether `actor` may assign `role` on `incident`: `comms_lead` only by the person holding
/// `incident_commander` now; every other role by anyone who may change the incident.
pub fn check_assigner(incident: &Incident, role: &str, actor: &str) -> Result<(), DomainError> {
    if role != COMMANDER_ASSIGNS {
        return Ok(());
    }
    let commander = incident.roles.get("incident_commander");
    if commander.is_some_and(|h| h.person == actor) {
        return Ok(());
    }
    let who = commander.map_or_else(
        || "nobody holds it on the incident".to_string(),
        |h| format!("it is held by `{}`", h.person),
    );
    Err(DomainError::Forbidden(format!(
        "only the incident's incident_commander or an admin may assign {COMMANDER_ASSIGNS}; {who}"
    )))
}

/// The changes that declare a new incident, after validating the request.
pub fn declare(
    title: &str,
    severity: Severity,
    services: &[String],
    vocab: &Vocabulary,
) -> Result<Vec<Change>, DomainError> {
    declare_typed(title, severity, services, None, vocab)
}

/// [`declare`] with an incident type (`security`, `data-exposure`, …): lower-case words.
pub fn declare_typed(
    title: &str,
    severity: Severity,
    services: &[String],
    incident_type: Option<&str>,
    vocab: &Vocabulary,
) -> Result<Vec<Change>, DomainError> {
    let title = valid_title(title)?;
    let services = valid_services(services, vocab)?;
    let incident_type = incident_type.map(valid_type).transpose()?;
    Ok(vec![
        Change::Declared {
            title,
            severity,
            status: Status::Triage,
            services,
            incident_type,
            exercise: false,
        },
        Change::MilestoneReached {
            milestone: "declared".into(),
        },
    ])
}

fn valid_title(title: &str) -> Result<String, DomainError> {
    let title = title.trim();
    crate::control::check("title", title)?;
    if title.is_empty() {
        return Err(DomainError::invalid("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(DomainError::invalid(
            "title",
            format!("at most {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(title.to_string())
}

fn valid_type(t: &str) -> Result<String, DomainError> {
    let ok = !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        return Err(DomainError::invalid(
            "incident_type",
            "lower-case letters, digits, `-` and `_`, at most 64",
        ));
    }
    Ok(t.to_string())
}

fn valid_services(services: &[String], vocab: &Vocabulary) -> Result<Vec<String>, DomainError> {
    let mut out: Vec<String> = Vec::with_capacity(services.len());
    for s in services {
        vocab.check("service", &vocab.services, s)?;
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

impl Incident {
    /// Builds an incident from the first event of its timeline, which must be `Declared`.
    pub fn from_declared(id: IncidentNumber, event: &TimelineEvent) -> Option<Incident> {
        let Change::Declared {
            title,
            severity,
            status,
            services,
            incident_type,
            exercise,
        } = &event.change
        else {
            return None;
        };
        Some(Incident {
            id,
            title: title.clone(),
            severity: *severity,
            status: *status,
            services: services.clone(),
            incident_type: incident_type.clone(),
            exercise: *exercise,
            responders: Vec::new(),
            roles: BTreeMap::new(),
            milestones: Vec::new(),
            tasks: Vec::new(),
            declared_at: event.at,
            declared_by: event.actor.clone(),
            updated_at: event.at,
            resolved_at: None,
            last_seq: event.seq,
            reopened_seq: 0,
        })
    }

    /// Rebuilds an incident from its whole timeline.
    pub fn replay(id: IncidentNumber, events: &[TimelineEvent]) -> Option<Incident> {
        let (first, rest) = events.split_first()?;
        let mut incident = Incident::from_declared(id, first)?;
        for e in rest {
            incident.apply(e);
        }
        Some(incident)
    }

    /// Folds one timeline event into the state. Never fails: events are facts.
    pub fn apply(&mut self, event: &TimelineEvent) {
        let at = event.at;
        match &event.change {
            Change::Declared { .. } => {}
            Change::TitleChanged { to, .. } => self.title = to.clone(),
            Change::SeverityChanged { to, .. } => self.severity = *to,
            Change::StatusChanged { to, .. } => {
                self.status = *to;
                self.resolved_at = (*to == Status::Resolved).then_some(at);
            }
            Change::Reopened { to } => {
                self.status = *to;
                self.resolved_at = None;
                self.reopened_seq = event.seq;
            }
            Change::ServicesChanged { added, removed } => {
                self.services.retain(|s| !removed.contains(s));
                self.services.extend(added.iter().cloned());
            }
            Change::MilestoneReached { milestone } => self.milestones.push(MilestoneRecord {
                milestone: milestone.clone(),
                at,
                actor: event.actor.clone(),
                seq: event.seq,
            }),
            Change::RoleAssigned { role, person, .. } => {
                self.roles.insert(
                    role.clone(),
                    RoleHolder {
                        person: person.clone(),
                        since: at,
                    },
                );
            }
            Change::RoleReleased { role, .. } => {
                self.roles.remove(role);
            }
            Change::TaskAdded {
                task_id,
                title,
                assignee,
            } => self.tasks.push(Task {
                id: *task_id,
                title: title.clone(),
                assignee: assignee.clone(),
                done: false,
                created_at: at,
                done_at: None,
            }),
            Change::TaskCompleted { task_id } | Change::TaskReopened { task_id } => {
                let done = matches!(event.change, Change::TaskCompleted { .. });
                if let Some(t) = self.tasks.iter_mut().find(|t| t.id == *task_id) {
                    t.done = done;
                    t.done_at = done.then_some(at);
                }
            }
            Change::ResponderJoined { person } => {
                if !self.responders.contains(person) {
                    self.responders.push(person.clone());
                }
            }
            Change::ResponderLeft { person } => self.responders.retain(|p| p != person),
            // Policy records explain; they never change the incident itself.
            Change::NoteAdded { .. }
            | Change::NudgeAcknowledged { .. }
            | Change::NotificationAcknowledged { .. }
            | Change::PolicyFired { .. }
            | Change::DeadlineOutcome { .. }
            | Change::PolicyCancelled { .. }
            | Change::PolicyReplanned { .. }
            | Change::PolicyError { .. }
            | Change::EscalationStep { .. }
            | Change::EscalationStopped { .. }
            | Change::NotificationQueued { .. }
            | Change::NotificationSent { .. }
            | Change::NotificationFailed { .. }
            | Change::DrillEvent { .. } => {}
        }
        self.updated_at = at;
        self.last_seq = event.seq;
    }

    /// The record of a milestone if it counts as reached now (a reopen clears the
    /// repeatable ones).
    pub fn milestone(&self, milestone: &str) -> Option<&MilestoneRecord> {
        self.milestones.iter().rev().find(|m| {
            m.milestone == milestone
                && (!REPEATABLE_AFTER_REOPEN.contains(&milestone) || m.seq > self.reopened_seq)
        })
    }

    pub fn is_resolved(&self) -> bool {
        self.status == Status::Resolved
    }

    fn refuse_if_resolved(&self, what: &str) -> Result<(), DomainError> {
        if self.is_resolved() {
            return Err(DomainError::Conflict(format!(
                "{} is resolved; reopen it before {what}",
                self.id
            )));
        }
        Ok(())
    }
}

/// What `command` means for `incident`: the changes to append, or why it is refused.
/// An empty list means the command asked for what is already true.
pub fn decide(
    incident: &Incident,
    command: &Command,
    vocab: &Vocabulary,
) -> Result<Vec<Change>, DomainError> {
    match command {
        Command::Update {
            title,
            severity,
            status,
            services,
        } => decide_update(incident, title, severity, status, services, vocab),
        Command::Acknowledge => decide_milestone(incident, "acknowledged", vocab),
        Command::ReachMilestone { milestone } => decide_milestone(incident, milestone, vocab),
        Command::AssignRole { role, person } => {
            vocab.check("role", &vocab.roles, role)?;
            vocab.check("person", &vocab.people, person)?;
            incident.refuse_if_resolved("assigning roles")?;
            let previous = incident.roles.get(role).map(|h| h.person.clone());
            if previous.as_deref() == Some(person.as_str()) {
                return Ok(vec![]);
            }
            Ok(vec![Change::RoleAssigned {
                role: role.clone(),
                person: person.clone(),
                previous,
            }])
        }
        Command::ReleaseRole { role } => {
            vocab.check("role", &vocab.roles, role)?;
            incident.refuse_if_resolved("releasing roles")?;
            let holder = incident.roles.get(role).ok_or_else(|| {
                DomainError::Conflict(format!("nobody holds {role} on {}", incident.id))
            })?;
            Ok(vec![Change::RoleReleased {
                role: role.clone(),
                person: holder.person.clone(),
            }])
        }
        Command::AddTask { title, assignee } => {
            crate::control::check("title", title)?;
            let title = valid_title(title).map_err(|_| {
                DomainError::invalid("title", "task title must be 1 to 200 characters")
            })?;
            if let Some(p) = assignee {
                vocab.check("assignee", &vocab.people, p)?;
            }
            let task_id = incident.tasks.iter().map(|t| t.id).max().unwrap_or(0) + 1;
            Ok(vec![Change::TaskAdded {
                task_id,
                title,
                assignee: assignee.clone(),
            }])
        }
        Command::SetTaskDone { task_id, done } => {
            let task = incident
                .tasks
                .iter()
                .find(|t| t.id == *task_id)
                .ok_or_else(|| {
                    DomainError::unknown("task_id", &task_id.to_string(), "a task of this incident")
                })?;
            Ok(match (task.done, done) {
                (false, true) => vec![Change::TaskCompleted { task_id: *task_id }],
                (true, false) => vec![Change::TaskReopened { task_id: *task_id }],
                _ => vec![],
            })
        }
        Command::AddNote { text } => {
            let text = text.trim();
            crate::control::check("text", text)?;
            if text.is_empty() || text.len() > 10_000 {
                return Err(DomainError::invalid("text", "must be 1 to 10000 bytes"));
            }
            Ok(vec![Change::NoteAdded { text: text.into() }])
        }
        Command::Join { person } => {
            vocab.check("person", &vocab.people, person)?;
            incident.refuse_if_resolved("joining it")?;
            if incident.responders.contains(person) {
                return Ok(vec![]);
            }
            Ok(vec![Change::ResponderJoined {
                person: person.clone(),
            }])
        }
        Command::Leave { person } => {
            if !incident.responders.contains(person) {
                return Err(DomainError::Conflict(format!(
                    "{person} is not a responder on {}",
                    incident.id
                )));
            }
            Ok(vec![Change::ResponderLeft {
                person: person.clone(),
            }])
        }
        Command::AcknowledgeNudge { key } => {
            let key = key.trim();
            crate::control::check("key", key)?;
            if key.is_empty() || key.len() > 300 {
                return Err(DomainError::invalid(
                    "key",
                    "the nudge's key, 1 to 300 bytes",
                ));
            }
            Ok(vec![Change::NudgeAcknowledged { key: key.into() }])
        }
        Command::Resolve => {
            incident.refuse_if_resolved("resolving it again")?;
            Ok(resolve_changes(incident))
        }
        Command::Reopen { status } => decide_reopen(incident, *status),
    }
}

fn decide_update(
    incident: &Incident,
    title: &Option<String>,
    severity: &Option<Severity>,
    status: &Option<Status>,
    services: &Option<Vec<String>>,
    vocab: &Vocabulary,
) -> Result<Vec<Change>, DomainError> {
    let mut changes = Vec::new();
    if let Some(title) = title {
        let to = valid_title(title)?;
        if to != incident.title {
            changes.push(Change::TitleChanged {
                from: incident.title.clone(),
                to,
            });
        }
    }
    if let Some(to) = *severity
        && to != incident.severity
    {
        changes.push(Change::SeverityChanged {
            from: incident.severity,
            to,
        });
    }
    if let Some(services) = services {
        let wanted = valid_services(services, vocab)?;
        let added: Vec<String> = wanted
            .iter()
            .filter(|s| !incident.services.contains(s))
            .cloned()
            .collect();
        let removed: Vec<String> = incident
            .services
            .iter()
            .filter(|s| !wanted.contains(s))
            .cloned()
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            changes.push(Change::ServicesChanged { added, removed });
        }
    }
    if let Some(to) = *status
        && to != incident.status
    {
        changes.extend(match (incident.status, to) {
            (Status::Resolved, to) => decide_reopen(incident, to)?,
            (_, Status::Resolved) => resolve_changes(incident),
            (from, to) => status_changes(incident, from, to),
        });
    }
    Ok(changes)
}

/// Moving to `mitigated` also reaches the milestone, so status and milestones never disagree.
fn status_changes(incident: &Incident, from: Status, to: Status) -> Vec<Change> {
    let mut changes = vec![Change::StatusChanged { from, to }];
    if to == Status::Mitigated && incident.milestone("mitigated").is_none() {
        changes.push(Change::MilestoneReached {
            milestone: "mitigated".into(),
        });
    }
    changes
}

fn resolve_changes(incident: &Incident) -> Vec<Change> {
    vec![
        Change::StatusChanged {
            from: incident.status,
            to: Status::Resolved,
        },
        Change::MilestoneReached {
            milestone: "resolved".into(),
        },
    ]
}

fn decide_reopen(incident: &Incident, to: Status) -> Result<Vec<Change>, DomainError> {
    if !incident.is_resolved() {
        return Err(DomainError::Conflict(format!(
            "{} is not resolved; only a resolved incident can be reopened",
            incident.id
        )));
    }
    if to == Status::Resolved {
        return Err(DomainError::invalid(
            "status",
            "a reopened incident needs an open status",
        ));
    }
    Ok(vec![Change::Reopened { to }])
}

fn decide_milestone(
    incident: &Incident,
    milestone: &str,
    vocab: &Vocabulary,
) -> Result<Vec<Change>, DomainError> {
    vocab.check("milestone", &vocab.milestones, milestone)?;
    if milestone == "resolved" {
        incident.refuse_if_resolved("resolving it again")?;
        return Ok(resolve_changes(incident));
    }
    incident.refuse_if_resolved("reaching milestones")?;
    if let Some(done) = incident
        .milestone(milestone)
        .filter(|_| !RECURRING.contains(&milestone))
    {
        return Err(DomainError::Conflict(format!(
            "{} already reached {milestone} at {} ({})",
            incident.id, done.at, done.actor
        )));
    }
    let mut changes = vec![Change::MilestoneReached {
        milestone: milestone.into(),
    }];
    // Status follows the milestones responders mark, never the other way round.
    let next = match milestone {
        "acknowledged" if incident.status == Status::Triage => Some(Status::Investigating),
        "mitigated" if incident.status < Status::Mitigated => Some(Status::Mitigated),
        _ => None,
    };
    if let Some(to) = next {
        changes.insert(
            0,
            Change::StatusChanged {
                from: incident.status,
                to,
            },
        );
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
