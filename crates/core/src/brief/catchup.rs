//! "Brief me": what happened since a given time, in at most [`MAX_BRIEF_LINES`] lines.
//!
//! Every line has a fixed place and caps its own list ("+3 more"), so the brief stays short
//! whether the timeline holds five events or ten thousand. Made from the [`Digest`] of the
//! events after `since`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::digest::Digest;
use super::events::PageRecord;
use super::text::{self, QUOTE_CHARS, capped, clock_time, md, plain, words};
use super::{
    DeadlineResult, Facts, Header, PendingView, RoleLine, SimilarIncident, TaskLine,
    last_status_update, next_update, pending_views, roles,
};
use crate::incident::{Severity, Status};

/// Open tasks and pages a brief carries in full; beyond this it counts them.
pub const LISTED: usize = 10;

/// A brief never runs longer than this, however much happened.
pub const MAX_BRIEF_LINES: usize = 12;

/// A change of severity or status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition<T> {
    pub at: Timestamp,
    pub from: T,
    pub to: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneLine {
    pub milestone: String,
    pub at: Timestamp,
    /// Seconds from the declaration.
    pub after_declared_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteLine {
    pub at: Timestamp,
    pub actor: String,
    /// Plain text, cut to a quotable length.
    pub text: String,
}

/// The catch-up for someone joining late or coming back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Brief {
    pub incident: Header,
    pub since: Timestamp,
    pub now: Timestamp,
    /// Timeline events at or after `since`.
    pub events_since: usize,
    pub severity_changes: Vec<Transition<Severity>>,
    pub status_changes: Vec<Transition<Status>>,
    /// Milestones reached since `since`.
    pub milestones: Vec<MilestoneLine>,
    /// Policy deadlines decided since `since`, met or missed (one per deadline).
    pub deadlines: Vec<DeadlineResult>,
    /// Who holds which role now.
    pub roles: Vec<RoleLine>,
    /// Still pending, earliest first, with time left.
    pub pending: Vec<PendingView>,
    pub last_status_update: Option<Timestamp>,
    pub next_status_update: Option<Timestamp>,
    /// The first [`LISTED`] open tasks; `open_tasks_total` counts them all.
    pub open_tasks: Vec<TaskLine>,
    pub open_tasks_total: usize,
    /// Pages and notifications sent since `since`.
    /// The latest [`LISTED`] of them, oldest first; `paged_total` counts them all.
    pub paged: Vec<PageRecord>,
    pub paged_total: usize,
    pub responders: Vec<String>,
    pub joined: Vec<String>,
    pub left: Vec<String>,
    pub notes_since: usize,
    pub latest_note: Option<NoteLine>,
    pub similar: Vec<SimilarIncident>,
    /// The Markdown rendering, one entry per line, at most [`MAX_BRIEF_LINES`].
    pub lines: Vec<String>,
}

impl Brief {
    pub fn markdown(&self) -> String {
        let mut s = self.lines.join("\n");
        s.push('\n');
        s
    }
}

/// What happened on the incident at or after `since` (clamped to the declaration: an earlier
/// time means "everything").
pub fn brief(facts: &Facts, since: Timestamp) -> Brief {
    let since = since.max(facts.incident.declared_at);
    let start = facts.events.partition_point(|e| e.at < since);
    brief_of(facts, since, &Digest::of(&facts.events[start..]))
}

/// [`brief`] from the digest of the events at or after `since`, not the events themselves
/// (`facts.events` is not read): what a long incident's brief is made from.
pub fn brief_of(facts: &Facts, since: Timestamp, recent: &Digest) -> Brief {
    let incident = facts.incident;
    let since = since.max(incident.declared_at);
    let open = incident.tasks.iter().filter(|t| !t.done);
    let mut b = Brief {
        incident: Header::of(incident, facts.now),
        since,
        now: facts.now,
        events_since: recent.events,
        severity_changes: recent.severity_changes.clone(),
        status_changes: recent.status_changes.clone(),
        milestones: recent
            .milestones
            .iter()
            .map(|m| MilestoneLine {
                milestone: m.key.clone(),
                at: m.at,
                after_declared_secs: text::secs_between(incident.declared_at, m.at),
            })
            .collect(),
        deadlines: recent.deadlines(),
        roles: roles(incident),
        pending: pending_views(facts),
        last_status_update: last_status_update(incident),
        next_status_update: next_update(facts),
        open_tasks_total: open.clone().count(),
        open_tasks: open
            .take(LISTED)
            .map(|t| TaskLine {
                id: t.id,
                title: plain(&t.title, QUOTE_CHARS),
                assignee: t.assignee.clone(),
                done: false,
            })
            .collect(),
        paged: recent.paged.clone(),
        paged_total: recent.paged_total,
        responders: incident.responders.clone(),
        joined: recent.joined.clone(),
        left: recent.left.clone(),
        notes_since: recent.notes,
        latest_note: recent.latest_note.clone(),
        similar: facts.similar.to_vec(),
        lines: Vec::new(),
    };
    b.lines = render(&b);
    b
}

fn render(b: &Brief) -> Vec<String> {
    let now = b.now;
    let t = |at: Timestamp| clock_time(at, now);
    let mut lines = vec![header_line(b), changes_line(b, &t)];
    if !b.milestones.is_empty() {
        let items: Vec<String> = b
            .milestones
            .iter()
            .map(|m| {
                format!(
                    "{} {} (+{})",
                    words(&m.milestone),
                    t(m.at),
                    text::duration(m.after_declared_secs)
                )
            })
            .collect();
        lines.push(format!("**Milestones:** {}", capped(&items, 4, "; ")));
    }
    if !b.deadlines.is_empty() {
        let items: Vec<String> = b
            .deadlines
            .iter()
            .map(|d| {
                format!(
                    "{} ({}) {}",
                    md(&d.policy),
                    text::expectation(&d.expect),
                    text::margin(d.met, d.margin_secs)
                )
            })
            .collect();
        lines.push(format!("**Deadlines:** {}", capped(&items, 4, "; ")));
    }
    lines.push(roles_line(b, &t));
    if !b.pending.is_empty() {
        let items: Vec<String> = b.pending.iter().map(|p| md(&p.sentence(now))).collect();
        lines.push(format!("**Pending:** {}", capped(&items, 3, "; ")));
    }
    lines.push(update_line(b, &t));
    let open: Vec<String> = b
        .open_tasks
        .iter()
        .take(3)
        .map(|x| md(&x.sentence()))
        .collect();
    lines.push(if open.is_empty() {
        "**Open tasks:** none".to_string()
    } else {
        format!(
            "**Open tasks ({}):** {}",
            b.open_tasks_total,
            text::capped_of(&open, b.open_tasks_total, "; ", "more")
        )
    });
    if !b.paged.is_empty() {
        let shown = &b.paged[b.paged.len().saturating_sub(3)..];
        let items: Vec<String> = shown
            .iter()
            .map(|p| {
                md(&format!(
                    "{} {} ({})",
                    text::and_list(&p.who),
                    t(p.at),
                    p.why
                ))
            })
            .collect();
        let earlier = b.paged_total - items.len();
        let list = items.join("; ");
        lines.push(if earlier > 0 {
            format!("**Paged:** +{earlier} earlier; {list}")
        } else {
            format!("**Paged:** {list}")
        });
    }
    if let Some(l) = responders_line(b) {
        lines.push(l);
    }
    if let Some(n) = &b.latest_note {
        lines.push(format!(
            "**Notes:** {} since {}; latest {} {}: “{}”",
            b.notes_since,
            t(b.since),
            t(n.at),
            md(&n.actor),
            md(&n.text)
        ));
    }
    if !b.similar.is_empty() {
        let items: Vec<String> = b
            .similar
            .iter()
            .map(|s| {
                let experts = if s.experts.is_empty() {
                    String::new()
                } else {
                    format!(" (experts: {})", s.experts.join(", "))
                };
                md(&format!("{} {}{experts}", s.id, plain(&s.title, 80)))
            })
            .collect();
        lines.push(format!("**Similar:** {}", capped(&items, 2, "; ")));
    }
    lines.truncate(super::MAX_BRIEF_LINES);
    lines
}

fn header_line(b: &Brief) -> String {
    let age = match b.incident.resolved_at {
        Some(_) => format!(
            "resolved after {}",
            text::duration(b.incident.duration_secs)
        ),
        None => format!("open {}", text::duration(b.incident.duration_secs)),
    };
    format!(
        "**{}** — {} ({age})",
        b.incident.tag(),
        md(&b.incident.title)
    )
}

fn changes_line(b: &Brief, t: &impl Fn(Timestamp) -> String) -> String {
    let mut parts = Vec::new();
    if !b.severity_changes.is_empty() {
        let steps: Vec<String> = b
            .severity_changes
            .iter()
            .take(3)
            .map(|c| format!("{} → {} ({})", c.from, c.to, t(c.at)))
            .collect();
        let n = b.severity_changes.len();
        parts.push(format!(
            "severity {}",
            text::capped_of(&steps, n, ", ", "more")
        ));
    }
    if !b.status_changes.is_empty() {
        let steps: Vec<String> = b
            .status_changes
            .iter()
            .take(3)
            .map(|c| format!("{} → {} ({})", c.from, c.to, t(c.at)))
            .collect();
        let n = b.status_changes.len();
        parts.push(format!(
            "status {}",
            text::capped_of(&steps, n, ", ", "more")
        ));
    }
    let what = if parts.is_empty() {
        "no change of severity or status".to_string()
    } else {
        parts.join("; ")
    };
    let n = b.events_since;
    format!(
        "**Since {}** ({n} event{}): {what}",
        t(b.since),
        if n == 1 { "" } else { "s" }
    )
}

fn roles_line(b: &Brief, t: &impl Fn(Timestamp) -> String) -> String {
    if b.roles.is_empty() {
        return "**Roles:** nobody assigned yet".to_string();
    }
    let items: Vec<String> = b
        .roles
        .iter()
        .map(|r| {
            let new = if r.since > b.since {
                format!(" (since {})", t(r.since))
            } else {
                String::new()
            };
            md(&format!("{} {}{new}", words(&r.role), r.person))
        })
        .collect();
    format!("**Roles:** {}", capped(&items, 5, "; "))
}

fn update_line(b: &Brief, t: &impl Fn(Timestamp) -> String) -> String {
    let last = match b.last_status_update {
        Some(at) => format!(
            "{} ({} ago)",
            t(at),
            text::duration(text::secs_between(at, b.now))
        ),
        None => "none posted yet".to_string(),
    };
    match b.next_status_update {
        Some(next) => format!("**Last status update:** {last}; next due {}", t(next)),
        None => format!("**Last status update:** {last}"),
    }
}

fn responders_line(b: &Brief) -> Option<String> {
    if b.responders.is_empty() && b.joined.is_empty() && b.left.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if b.responders.is_empty() {
        parts.push("nobody working it now".to_string());
    } else {
        parts.push(capped(&b.responders, 6, ", "));
    }
    if !b.joined.is_empty() {
        parts.push(format!("joined since: {}", capped(&b.joined, 4, ", ")));
    }
    if !b.left.is_empty() {
        parts.push(format!("left: {}", capped(&b.left, 4, ", ")));
    }
    Some(format!("**Responders:** {}", md(&parts.join("; "))))
}
