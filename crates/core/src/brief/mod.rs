//! Briefings without a language model: status-update drafts (CAN form for responders, plain
//! words for customers), "brief me" catch-ups, hand-off and executive summaries, and the
//! post-incident review draft.
//!
//! Everything is computed from structured facts only: the [`Incident`] (the fold of its
//! timeline), the timeline events themselves, the pending policy deadlines, the alerts linked
//! to the incident and (later) similar past incidents. `now` is an argument, so the same
//! inputs always give the same text, and snapshot tests can pin it. Each summary is a
//! serialisable value plus its Markdown rendering; free text typed by people is reduced to
//! plain text ([`text::plain`]) and escaped for Markdown and HTML ([`text::md`]) on the way.
//!
//! The shell may hand a draft to a language model for prose; whatever comes back is treated as
//! untrusted text ([`text::untrusted_markdown`]), and the deterministic text is the fallback.

mod catchup;
mod digest;
mod drafts;
mod events;
mod review;
#[cfg(test)]
mod tests;
pub mod text;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::incident::{Incident, Severity, Status};
use crate::timeline::TimelineEvent;

pub use catchup::{Brief, MAX_BRIEF_LINES, MilestoneLine, NoteLine, Transition, brief, brief_of};
pub use digest::{DIGEST_BLOCK, DIGEST_VERSION, Digest, Outcome, Plan, Reached};
pub use drafts::{
    Audience, ExecSummary, Handoff, StatusUpdateDraft, exec_summary, handoff, status_update_draft,
};
pub use events::{describe, outcomes_with_arrival};
pub use review::{ReviewDraft, review_draft};

/// Everything a summary is made from. The shell loads it; the summariser only reads it.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub incident: &'a Incident,
    /// The incident's timeline, oldest first (may be empty: the incident alone is enough).
    pub events: &'a [TimelineEvent],
    /// What the policies are waiting for (the incident's live clock).
    pub pending: &'a [PendingDeadline],
    /// Alerts linked to the incident.
    pub alerts: &'a [LinkedAlert],
    /// Similar past incidents and the people who held roles in them. The shell passes an empty
    /// slice until similar-incident search is wired in; "brief me" shows them when present.
    pub similar: &'a [SimilarIncident],
    pub now: Timestamp,
}

/// One timer a policy or an escalation is waiting on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDeadline {
    /// Policy id, or the escalation policy for an escalation step.
    pub policy: String,
    /// `deadline`, `deadline_warning`, `cadence`, `cadence_escalation`, `solo_responder` or
    /// `escalation`.
    pub kind: String,
    /// The milestone a deadline expects, when known.
    pub expect: Option<String>,
    pub due_at: Timestamp,
}

/// An alert that opened or joined the incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkedAlert {
    pub id: i64,
    pub service: String,
    pub severity: Severity,
    pub summary: String,
    /// `firing`, `acknowledged`, `resolved`, …
    pub status: String,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// How many times the source sent it while open.
    pub count: i64,
}

/// A past incident like this one (from similar-incident search).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimilarIncident {
    pub id: String,
    pub title: String,
    /// People who held roles in it: the experts to pull in.
    #[serde(default)]
    pub experts: Vec<String>,
}

/// The incident as every summary names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub id: String,
    /// Plain text (Slack markup removed); escape before writing it into HTML or Markdown.
    pub title: String,
    pub severity: Severity,
    pub status: Status,
    pub services: Vec<String>,
    pub declared_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    /// Declared to resolved, or to now while open.
    pub duration_secs: i64,
}

impl Header {
    fn of(incident: &Incident, now: Timestamp) -> Header {
        let end = incident.resolved_at.unwrap_or(now);
        Header {
            id: incident.id.to_string(),
            title: text::plain(&incident.title, 200),
            severity: incident.severity,
            status: incident.status,
            services: incident.services.clone(),
            declared_at: incident.declared_at,
            resolved_at: incident.resolved_at,
            duration_secs: text::secs_between(incident.declared_at, end).max(0),
        }
    }

    /// `INC-7 · SEV1 · investigating`.
    fn tag(&self) -> String {
        format!("{} · {} · {}", self.id, self.severity, self.status)
    }
}

/// A policy deadline's result, from its `deadline_outcome` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineResult {
    pub policy: String,
    /// Which firing of the policy on this incident (1 for the first).
    pub instance: u32,
    pub expect: String,
    pub met: bool,
    pub due_at: Timestamp,
    /// When the outcome was decided (the milestone, or the expiry).
    pub at: Timestamp,
    /// Met: time to spare (≥ 0). Missed: how late (< 0), 0 when recorded at expiry.
    pub margin_secs: i64,
}

/// A pending deadline with its time left, as summaries show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingView {
    pub policy: String,
    pub kind: String,
    pub expect: Option<String>,
    pub due_at: Timestamp,
    /// Negative when overdue.
    pub seconds_remaining: i64,
}

impl PendingView {
    /// `blast radius validated due in 8 min (03:32 UTC, blast-radius-20m)`.
    fn sentence(&self, now: Timestamp) -> String {
        let what = match (&self.expect, self.kind.as_str()) {
            (Some(m), _) => text::expectation(m),
            (None, "cadence") => "status update".to_string(),
            (None, "cadence_escalation") => "overdue status update escalation".to_string(),
            (None, "solo_responder") => "second responder".to_string(),
            (None, "escalation") => "next escalation step".to_string(),
            (None, other) => text::words(other),
        };
        format!(
            "{what} {} ({}, {})",
            text::due_in(self.seconds_remaining),
            text::clock_time(self.due_at, now),
            self.policy
        )
    }
}

/// The pending timers people care about (warnings are part of their deadline), earliest first.
fn pending_views(facts: &Facts) -> Vec<PendingView> {
    let mut out: Vec<PendingView> = facts
        .pending
        .iter()
        .filter(|p| p.kind != "deadline_warning")
        .map(|p| PendingView {
            policy: p.policy.clone(),
            kind: p.kind.clone(),
            expect: p.expect.clone(),
            due_at: p.due_at,
            seconds_remaining: text::secs_between(facts.now, p.due_at),
        })
        .collect();
    out.sort_by(|a, b| (a.due_at, &a.policy).cmp(&(b.due_at, &b.policy)));
    out
}

/// A task as summaries list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLine {
    pub id: u32,
    pub title: String,
    pub assignee: Option<String>,
    pub done: bool,
}

impl TaskLine {
    fn sentence(&self) -> String {
        match &self.assignee {
            Some(a) => format!("#{} {} ({a})", self.id, self.title),
            None => format!("#{} {}", self.id, self.title),
        }
    }
}

fn tasks(incident: &Incident, open_only: bool) -> Vec<TaskLine> {
    incident
        .tasks
        .iter()
        .filter(|t| !open_only || !t.done)
        .map(|t| TaskLine {
            id: t.id,
            title: text::plain(&t.title, text::QUOTE_CHARS),
            assignee: t.assignee.clone(),
            done: t.done,
        })
        .collect()
}

/// Who holds which role now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleLine {
    pub role: String,
    pub person: String,
    pub since: Timestamp,
}

fn roles(incident: &Incident) -> Vec<RoleLine> {
    incident
        .roles
        .iter()
        .map(|(role, h)| RoleLine {
            role: role.clone(),
            person: h.person.clone(),
            since: h.since,
        })
        .collect()
}

/// When a status update was last posted (the `status_update_posted` milestone).
fn last_status_update(incident: &Incident) -> Option<Timestamp> {
    incident
        .milestones
        .iter()
        .rev()
        .find(|m| m.milestone == "status_update_posted")
        .map(|m| m.at)
}

/// When the next status update is owed: the earliest pending status-update timer (a cadence,
/// or a deadline expecting `status_update_posted`), else a default by severity from the last
/// update (or the declaration): SEV1 30 min, SEV2 60 min, SEV3 and SEV4 4 h. None once
/// resolved.
fn next_update(facts: &Facts) -> Option<Timestamp> {
    if facts.incident.is_resolved() {
        return None;
    }
    let owed = facts
        .pending
        .iter()
        .filter(|p| p.kind == "cadence" || p.expect.as_deref() == Some("status_update_posted"))
        .map(|p| p.due_at)
        .min();
    owed.or_else(|| {
        let every = match facts.incident.severity {
            Severity::Sev1 => 30 * 60,
            Severity::Sev2 => 60 * 60,
            Severity::Sev3 | Severity::Sev4 => 4 * 60 * 60,
        };
        let from = last_status_update(facts.incident).unwrap_or(facts.incident.declared_at);
        let mut due = from + text::secs(every);
        while due < facts.now {
            due += text::secs(every);
        }
        Some(due)
    })
}
