//! Status-update drafts (CAN for responders, plain words for customers), hand-off summaries
//! and executive summaries.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::events;
use super::text::{self, and_list, capped, clock_time, md, words};
use super::{
    DeadlineResult, Facts, Header, PendingView, RoleLine, TaskLine, last_status_update,
    next_update, pending_views, roles, tasks,
};
use crate::incident::{Incident, Severity, Status};
use crate::timeline::{Change, TimelineEvent};

/// Who a status update is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Responders and stakeholders inside the company: CAN form, names and policies included.
    Internal,
    /// Customers: plain words, no people, roles, policies or severity codes.
    Customer,
}

impl std::str::FromStr for Audience {
    type Err = crate::DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "internal" => Ok(Audience::Internal),
            "customer" => Ok(Audience::Customer),
            other => Err(crate::DomainError::unknown(
                "audience",
                other,
                "internal or customer",
            )),
        }
    }
}

/// A status update ready to edit and post. Internal drafts fill `conditions`, `actions` and
/// `needs`; customer drafts fill `body`. All items are plain text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusUpdateDraft {
    pub audience: Audience,
    pub incident: Header,
    /// The update's headline.
    pub headline: String,
    pub conditions: Vec<String>,
    pub actions: Vec<String>,
    pub needs: Vec<String>,
    pub body: Vec<String>,
    pub next_update_at: Option<Timestamp>,
    pub now: Timestamp,
}

/// How many recent actions a CAN update lists.
const RECENT_ACTIONS: usize = 6;

pub fn status_update_draft(facts: &Facts, audience: Audience) -> StatusUpdateDraft {
    match audience {
        Audience::Internal => internal_update(facts),
        Audience::Customer => customer_update(facts),
    }
}

fn internal_update(facts: &Facts) -> StatusUpdateDraft {
    let header = Header::of(facts.incident, facts.now);
    let headline = format!("{} {}: {}", header.id, header.severity, header.title);
    StatusUpdateDraft {
        audience: Audience::Internal,
        conditions: conditions(facts, &header),
        actions: recent_actions(facts),
        needs: needs(facts),
        body: Vec::new(),
        next_update_at: next_update(facts),
        now: facts.now,
        incident: header,
        headline,
    }
}

fn conditions(facts: &Facts, h: &Header) -> Vec<String> {
    let i = facts.incident;
    let t = |at| clock_time(at, facts.now);
    let services = if h.services.is_empty() {
        "no service named yet".to_string()
    } else {
        and_list(&h.services)
    };
    let mut out = vec![
        format!("{} affecting {services}.", h.severity),
        format!(
            "Status {} since {}; declared {} ({} ago).",
            h.status,
            t(status_since(facts)),
            t(h.declared_at),
            text::duration(h.duration_secs)
        ),
    ];
    let reached: Vec<String> = ["blast_radius_validated", "mitigated", "resolved"]
        .iter()
        .filter_map(|m| {
            i.milestone(m)
                .map(|r| format!("{} at {}", words(m), t(r.at)))
        })
        .collect();
    let missing: Vec<String> = ["blast_radius_validated", "mitigated"]
        .iter()
        .filter(|m| i.milestone(m).is_none() && !i.is_resolved())
        .map(|m| words(m))
        .collect();
    if !reached.is_empty() {
        out.push(format!("Reached: {}.", reached.join("; ")));
    }
    if !missing.is_empty() {
        out.push(format!("Not yet: {}.", and_list(&missing)));
    }
    if let Some(ic) = i.roles.get("incident_commander") {
        out.push(format!("Incident commander: {}.", ic.person));
    }
    out
}

/// When the incident entered its current status.
fn status_since(facts: &Facts) -> Timestamp {
    facts
        .events
        .iter()
        .rev()
        .find(|e| {
            matches!(
                e.change,
                Change::StatusChanged { .. } | Change::Reopened { .. }
            )
        })
        .map_or(facts.incident.declared_at, |e| e.at)
}

/// The latest things people and policies did, newest last.
fn recent_actions(facts: &Facts) -> Vec<String> {
    let t = |at| clock_time(at, facts.now);
    let mut out: Vec<String> = facts
        .events
        .iter()
        .rev()
        .filter_map(|e| action_sentence(e).map(|s| format!("{} {s}", t(e.at))))
        .take(RECENT_ACTIONS)
        .collect();
    out.reverse();
    if out.is_empty() {
        out.push("Responders are assessing the incident.".to_string());
    }
    out
}

/// Events that are something somebody did (not bookkeeping), in words.
fn action_sentence(e: &TimelineEvent) -> Option<String> {
    match &e.change {
        Change::MilestoneReached { milestone } if milestone != "declared" => {
            Some(format!("{} marked {}.", e.actor, words(milestone)))
        }
        Change::TaskCompleted { .. }
        | Change::NoteAdded { .. }
        | Change::SeverityChanged { .. }
        | Change::EscalationStep { .. }
        | Change::RoleAssigned { .. } => {
            events::describe(&e.change).map(|d| format!("{}: {d}.", e.actor))
        }
        Change::PolicyFired { .. } => {
            let pages = events::pages(e);
            let paged: Vec<String> = pages
                .iter()
                .filter(|p| p.how.contains("page"))
                .flat_map(|p| p.who.iter().cloned())
                .collect();
            (!paged.is_empty()).then(|| format!("Paged {} ({}).", and_list(&paged), pages[0].why))
        }
        _ => None,
    }
}

fn needs(facts: &Facts) -> Vec<String> {
    let i = facts.incident;
    let mut out = Vec::new();
    for role in ["incident_commander", "ops_lead", "comms_lead"] {
        if !i.roles.contains_key(role) && !i.is_resolved() {
            out.push(format!("Someone to take {}.", words(role)));
        }
    }
    let open = tasks(i, true);
    if !open.is_empty() {
        let items: Vec<String> = open.iter().map(TaskLine::sentence).collect();
        out.push(format!("Open tasks: {}.", capped(&items, 4, "; ")));
    }
    for p in pending_views(facts).iter().take(3) {
        out.push(format!("{}.", upper_first(&p.sentence(facts.now))));
    }
    let missed = events::outcomes(facts.events)
        .iter()
        .filter(|d| !d.met)
        .count();
    if missed > 0 {
        out.push(format!(
            "{missed} policy deadline{} missed so far.",
            if missed == 1 { "" } else { "s" }
        ));
    }
    if out.is_empty() {
        out.push("Nothing outstanding.".to_string());
    }
    out
}

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Services as customers would read them: `payments-api` → `payments api`.
fn public_services(i: &Incident) -> String {
    if i.services.is_empty() {
        return "some of our services".to_string();
    }
    let names: Vec<String> = i.services.iter().map(|s| words(s)).collect();
    and_list(&names)
}

/// The impact in customer words, by severity.
fn impact(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "a major outage",
        Severity::Sev2 => "a partial outage",
        Severity::Sev3 => "degraded performance",
        Severity::Sev4 => "a minor issue",
    }
}

fn customer_update(facts: &Facts) -> StatusUpdateDraft {
    let i = facts.incident;
    let header = Header::of(i, facts.now);
    let services = public_services(i);
    let (headline, state) = match i.status {
        Status::Triage | Status::Investigating => (
            format!("Investigating problems with {services}"),
            format!(
                "We are investigating {} affecting {services}.",
                impact(i.severity)
            ),
        ),
        Status::Identified => (
            format!("Problems with {services}: cause identified"),
            format!(
                "We have identified the cause of the problems with {services} and are working on a fix."
            ),
        ),
        Status::Mitigated => (
            format!("Problems with {services}: fix applied, monitoring"),
            format!(
                "A fix has been applied for the problems with {services}, and we are monitoring the results."
            ),
        ),
        Status::Resolved => (
            format!("Resolved: problems with {services}"),
            format!(
                "This incident has been resolved and {services} {} operating normally.",
                if i.services.len() > 1 { "are" } else { "is" }
            ),
        ),
    };
    let mut body = vec![
        state,
        format!("The problems began at {}.", text::full_time(i.declared_at)),
    ];
    if let Some(end) = i.resolved_at {
        body.push(format!("They ended at {}.", text::full_time(end)));
    }
    let next = next_update(facts);
    body.push(match next {
        Some(at) => format!("We will post another update by {}.", text::full_time(at)),
        None => "We apologise for the disruption.".to_string(),
    });
    StatusUpdateDraft {
        audience: Audience::Customer,
        incident: header,
        headline,
        conditions: Vec::new(),
        actions: Vec::new(),
        needs: Vec::new(),
        body,
        next_update_at: next,
        now: facts.now,
    }
}

impl StatusUpdateDraft {
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        match self.audience {
            Audience::Internal => {
                s.push_str(&format!("### Status update — {}\n\n", md(&self.headline)));
                for (label, items) in [
                    ("Conditions", &self.conditions),
                    ("Actions", &self.actions),
                    ("Needs", &self.needs),
                ] {
                    s.push_str(&format!("**{label}**\n"));
                    for item in items {
                        s.push_str(&format!("- {}\n", md(item)));
                    }
                    s.push('\n');
                }
                if let Some(next) = self.next_update_at {
                    s.push_str(&format!("Next update by {}.\n", clock_time(next, self.now)));
                }
            }
            Audience::Customer => {
                s.push_str(&format!("### {}\n\n", md(&self.headline)));
                s.push_str(
                    &self
                        .body
                        .iter()
                        .map(|p| md(p))
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                s.push('\n');
            }
        }
        s
    }
}

/// What the person taking over a role needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    pub incident: Header,
    pub role: String,
    /// Who held it before (None when it was vacant or never changed hands).
    pub from: Option<String>,
    /// Who holds it now (None when released).
    pub to: Option<String>,
    /// When it changed hands last.
    pub at: Option<Timestamp>,
    pub roles: Vec<RoleLine>,
    pub open_tasks: Vec<TaskLine>,
    pub pending: Vec<PendingView>,
    pub missed: Vec<DeadlineResult>,
    pub last_status_update: Option<Timestamp>,
    pub next_status_update: Option<Timestamp>,
    /// The latest events in plain words, oldest first.
    pub recent: Vec<String>,
    pub now: Timestamp,
}

/// The latest lines a hand-off quotes.
const HANDOFF_RECENT: usize = 5;

/// A hand-off summary for `role`; with no role given, for the role that changed hands last.
pub fn handoff(facts: &Facts, role: Option<&str>) -> Handoff {
    let i = facts.incident;
    let change = facts.events.iter().rev().find_map(|e| match &e.change {
        Change::RoleAssigned {
            role: r,
            person,
            previous,
        } if role.is_none_or(|x| x == r) => {
            Some((r.clone(), previous.clone(), Some(person.clone()), e.at))
        }
        Change::RoleReleased { role: r, person } if role.is_none_or(|x| x == r) => {
            Some((r.clone(), Some(person.clone()), None, e.at))
        }
        _ => None,
    });
    let (role, from, to, at) = match change {
        Some((r, f, t, at)) => (r, f, t, Some(at)),
        None => (
            role.unwrap_or("incident_commander").to_string(),
            None,
            None,
            None,
        ),
    };
    let t = |at| clock_time(at, facts.now);
    let mut recent: Vec<String> = facts
        .events
        .iter()
        .rev()
        .filter(|e| !matches!(e.change, Change::NudgeAcknowledged { .. }))
        .filter_map(|e| events::describe(&e.change).map(|d| format!("{} {d}", t(e.at))))
        .take(HANDOFF_RECENT)
        .collect();
    recent.reverse();
    Handoff {
        incident: Header::of(i, facts.now),
        roles: roles(i),
        open_tasks: tasks(i, true),
        pending: pending_views(facts),
        missed: events::outcomes(facts.events)
            .into_iter()
            .filter(|d| !d.met)
            .collect(),
        last_status_update: last_status_update(i),
        next_status_update: next_update(facts),
        recent,
        now: facts.now,
        role,
        from,
        to,
        at,
    }
}

impl Handoff {
    pub fn markdown(&self) -> String {
        let t = |at| clock_time(at, self.now);
        let role = words(&self.role);
        let mut s = format!(
            "### Hand-off: {role} — {}: {}\n\n",
            self.incident.id,
            md(&self.incident.title)
        );
        let who = match (&self.from, &self.to, self.at) {
            (Some(f), Some(to), Some(at)) => {
                format!("{} hands {role} to {} at {}.", md(f), md(to), t(at))
            }
            (None, Some(to), Some(at)) => format!("{} takes {role} at {}.", md(to), t(at)),
            (Some(f), None, Some(at)) => format!(
                "{} released {role} at {}; nobody holds it now.",
                md(f),
                t(at)
            ),
            _ => format!("Nobody has held {role} yet."),
        };
        s.push_str(&format!("{who}\n\n"));
        s.push_str(&format!(
            "- **State:** {} {}, open {}\n",
            self.incident.severity,
            self.incident.status,
            text::duration(self.incident.duration_secs)
        ));
        let roles: Vec<String> = self
            .roles
            .iter()
            .map(|r| md(&format!("{} {}", words(&r.role), r.person)))
            .collect();
        s.push_str(&format!(
            "- **Roles:** {}\n",
            if roles.is_empty() {
                "none held".to_string()
            } else {
                roles.join("; ")
            }
        ));
        let open: Vec<String> = self.open_tasks.iter().map(|x| md(&x.sentence())).collect();
        s.push_str(&format!(
            "- **Open tasks:** {}\n",
            if open.is_empty() {
                "none".to_string()
            } else {
                capped(&open, 6, "; ")
            }
        ));
        let pending: Vec<String> = self
            .pending
            .iter()
            .map(|p| md(&p.sentence(self.now)))
            .collect();
        if !pending.is_empty() {
            s.push_str(&format!("- **Pending:** {}\n", capped(&pending, 4, "; ")));
        }
        if !self.missed.is_empty() {
            let missed: Vec<String> = self
                .missed
                .iter()
                .map(|d| md(&format!("{} ({})", d.policy, text::expectation(&d.expect))))
                .collect();
            s.push_str(&format!(
                "- **Missed deadlines:** {}\n",
                capped(&missed, 4, "; ")
            ));
        }
        let last = self
            .last_status_update
            .map_or("none posted yet".to_string(), t);
        s.push_str(&format!("- **Last status update:** {last}"));
        if let Some(next) = self.next_status_update {
            s.push_str(&format!("; next due {}", t(next)));
        }
        s.push('\n');
        if !self.recent.is_empty() {
            s.push_str("\n**Latest:**\n");
            for r in &self.recent {
                s.push_str(&format!("- {}\n", md(r)));
            }
        }
        s
    }
}

/// Five facts for an executive: impact, severity, duration, status, next update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSummary {
    pub incident: Header,
    /// In plain words, e.g. "A major outage of checkout and payments api."
    pub impact: String,
    /// The highest severity the incident has had.
    pub peak_severity: Severity,
    pub status_detail: String,
    pub incident_commander: Option<String>,
    pub missed_deadlines: usize,
    pub next_update_at: Option<Timestamp>,
    pub now: Timestamp,
}

pub fn exec_summary(facts: &Facts) -> ExecSummary {
    let i = facts.incident;
    let peak = facts
        .events
        .iter()
        .filter_map(|e| match &e.change {
            Change::Declared { severity, .. } => Some(*severity),
            Change::SeverityChanged { to, .. } => Some(*to),
            _ => None,
        })
        .min()
        .unwrap_or(i.severity)
        .min(i.severity);
    let mut impact = format!("{} of {}", impact(i.severity), public_services(i));
    impact = format!("{}.", upper_first(&impact));
    let status_detail = match i.status {
        Status::Resolved => "resolved".to_string(),
        Status::Mitigated => "mitigated; monitoring before resolving".to_string(),
        Status::Identified => "cause identified; fix in progress".to_string(),
        Status::Triage => "triage; not yet acknowledged".to_string(),
        Status::Investigating => {
            if i.milestone("blast_radius_validated").is_some() {
                "investigating; blast radius validated".to_string()
            } else {
                "investigating; blast radius not yet validated".to_string()
            }
        }
    };
    ExecSummary {
        incident: Header::of(i, facts.now),
        impact,
        peak_severity: peak,
        status_detail,
        incident_commander: i.roles.get("incident_commander").map(|h| h.person.clone()),
        missed_deadlines: events::outcomes(facts.events)
            .iter()
            .filter(|d| !d.met)
            .count(),
        next_update_at: next_update(facts),
        now: facts.now,
    }
}

impl ExecSummary {
    pub fn markdown(&self) -> String {
        let h = &self.incident;
        let t = |at| clock_time(at, self.now);
        let mut s = format!("### Executive summary — {}: {}\n\n", h.id, md(&h.title));
        s.push_str(&format!("- **Impact:** {}\n", md(&self.impact)));
        let peak = if self.peak_severity < h.severity {
            format!(" (was {} at its worst)", self.peak_severity)
        } else {
            String::new()
        };
        s.push_str(&format!("- **Severity:** {}{peak}\n", h.severity));
        let duration = match h.resolved_at {
            Some(end) => format!(
                "{} ({} to {})",
                text::duration(h.duration_secs),
                t(h.declared_at),
                t(end)
            ),
            None => format!(
                "{} so far (since {})",
                text::duration(h.duration_secs),
                t(h.declared_at)
            ),
        };
        s.push_str(&format!("- **Duration:** {duration}\n"));
        s.push_str(&format!("- **Status:** {}\n", md(&self.status_detail)));
        if let Some(ic) = &self.incident_commander {
            s.push_str(&format!("- **Incident commander:** {}\n", md(ic)));
        }
        if self.missed_deadlines > 0 {
            s.push_str(&format!(
                "- **Policy deadlines missed:** {}\n",
                self.missed_deadlines
            ));
        }
        s.push_str(&format!(
            "- **Next update:** {}\n",
            self.next_update_at
                .map_or("none planned (resolved)".to_string(), t)
        ));
        s
    }
}
