//! The post-incident review draft: the facts a review meeting starts from, derived from the
//! timeline alone (time to each milestone, policy adherence, who was paged when), plus the
//! contributing alerts and the follow-ups from tasks.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::events::{self, PageRecord};
use super::text::{self, clock_time, md, words};
use super::{DeadlineResult, Facts, Header, LinkedAlert, TaskLine, tasks};
use crate::incident::Severity;
use crate::timeline::Change;

/// Timeline rows the draft lists before it says how many more there were.
pub const REVIEW_TIMELINE_ROWS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneTime {
    pub milestone: String,
    pub at: Timestamp,
    pub actor: String,
    /// Seconds from the declaration.
    pub after_secs: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineRow {
    pub at: Timestamp,
    pub actor: String,
    /// Plain text.
    pub what: String,
}

/// Delivery bookkeeping, counted rather than listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryCounts {
    pub sent: usize,
    /// Attempts that failed (retried or not).
    pub failed: usize,
    /// Deliveries given up on every channel (dead letters).
    pub given_up: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewDraft {
    pub incident: Header,
    pub declared_by: String,
    pub incident_type: Option<String>,
    pub peak_severity: Severity,
    pub milestones: Vec<MilestoneTime>,
    /// Every policy deadline decided, in order: met or missed, with margin.
    pub adherence: Vec<DeadlineResult>,
    pub paged: Vec<PageRecord>,
    pub deliveries: DeliveryCounts,
    pub alerts: Vec<LinkedAlert>,
    /// Open tasks first (the follow-ups), then the done ones.
    pub follow_ups: Vec<TaskLine>,
    pub timeline: Vec<TimelineRow>,
    /// Timeline rows beyond [`REVIEW_TIMELINE_ROWS`], not listed.
    pub timeline_omitted: usize,
    pub now: Timestamp,
}

pub fn review_draft(facts: &Facts) -> ReviewDraft {
    let i = facts.incident;
    let mut peak = i.severity;
    let adherence = events::outcomes(facts.events);
    let mut paged = Vec::new();
    let mut deliveries = DeliveryCounts::default();
    let mut timeline = Vec::new();
    let mut omitted = 0;
    for e in facts.events {
        match &e.change {
            Change::Declared { severity, .. } | Change::SeverityChanged { to: severity, .. } => {
                peak = peak.min(*severity)
            }
            Change::EscalationStep { .. } | Change::PolicyFired { .. } => {
                paged.extend(events::pages(e))
            }
            Change::NotificationSent { .. } => deliveries.sent += 1,
            Change::NotificationFailed {
                retry_in_ms,
                fallback,
                ..
            } => {
                deliveries.failed += 1;
                if retry_in_ms.is_none() && fallback.is_none() {
                    deliveries.given_up += 1;
                }
            }
            _ => {}
        }
        if let Some(what) = events::describe(&e.change) {
            if timeline.len() < REVIEW_TIMELINE_ROWS {
                timeline.push(TimelineRow {
                    at: e.at,
                    actor: e.actor.clone(),
                    what,
                });
            } else {
                omitted += 1;
            }
        }
    }
    let mut follow_ups = tasks(i, true);
    follow_ups.extend(tasks(i, false).into_iter().filter(|t| t.done));
    ReviewDraft {
        incident: Header::of(i, facts.now),
        declared_by: i.declared_by.clone(),
        incident_type: i.incident_type.clone(),
        peak_severity: peak,
        milestones: i
            .milestones
            .iter()
            .map(|m| MilestoneTime {
                milestone: m.milestone.clone(),
                at: m.at,
                actor: m.actor.clone(),
                after_secs: text::secs_between(i.declared_at, m.at),
            })
            .collect(),
        adherence,
        paged,
        deliveries,
        alerts: facts.alerts.to_vec(),
        follow_ups,
        timeline,
        timeline_omitted: omitted,
        now: facts.now,
    }
}

impl ReviewDraft {
    pub fn markdown(&self) -> String {
        let h = &self.incident;
        // Times are written relative to the day the incident was declared.
        let t = |at| clock_time(at, h.declared_at);
        let mut s = format!(
            "# Post-incident review (draft): {} — {}\n\n",
            h.id,
            md(&h.title)
        );
        s.push_str(&self.summary_table(&t));
        s.push_str("\n## Time to each milestone\n\n");
        if self.milestones.is_empty() {
            s.push_str("No milestones recorded.\n");
        } else {
            s.push_str("| Milestone | Reached | After declaration | By |\n|---|---|---|---|\n");
            for m in &self.milestones {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    words(&m.milestone),
                    t(m.at),
                    text::duration(m.after_secs),
                    md(&m.actor)
                ));
            }
        }
        s.push_str("\n## Policy adherence\n\n");
        s.push_str(&self.adherence_table(&t));
        s.push_str("\n## Who was paged when\n\n");
        s.push_str(&self.paged_table(&t));
        s.push_str("\n## Contributing alerts\n\n");
        s.push_str(&self.alerts_table(&t));
        s.push_str("\n## Follow-ups\n\n");
        if self.follow_ups.is_empty() {
            s.push_str("No tasks recorded.\n");
        }
        for f in &self.follow_ups {
            let mark = if f.done { "x" } else { " " };
            s.push_str(&format!("- [{mark}] {}\n", md(&f.sentence())));
        }
        s.push_str("\n## Timeline\n\n");
        if self.timeline.is_empty() {
            s.push_str("No events recorded yet.\n");
        } else {
            s.push_str("| Time | Who | What |\n|---|---|---|\n");
        }
        for r in &self.timeline {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                t(r.at),
                md(&r.actor),
                md(&r.what)
            ));
        }
        if self.timeline_omitted > 0 {
            s.push_str(&format!(
                "\n… {} more events not listed (see the full timeline).\n",
                self.timeline_omitted
            ));
        }
        s
    }

    fn summary_table(&self, t: &impl Fn(Timestamp) -> String) -> String {
        let h = &self.incident;
        let mut s = String::from("| | |\n|---|---|\n");
        let peak = if self.peak_severity < h.severity {
            format!(" (peak {})", self.peak_severity)
        } else {
            String::new()
        };
        s.push_str(&format!("| Severity | {}{peak} |\n", h.severity));
        s.push_str(&format!("| Status | {} |\n", h.status));
        let services = if h.services.is_empty() {
            "none named".to_string()
        } else {
            md(&h.services.join(", "))
        };
        s.push_str(&format!("| Services | {services} |\n"));
        if let Some(kind) = &self.incident_type {
            s.push_str(&format!("| Type | {} |\n", md(kind)));
        }
        s.push_str(&format!(
            "| Declared | {} by {} |\n",
            text::full_time(h.declared_at),
            md(&self.declared_by)
        ));
        match h.resolved_at {
            Some(end) => s.push_str(&format!(
                "| Resolved | {} (after {}) |\n",
                t(end),
                text::duration(h.duration_secs)
            )),
            None => s.push_str(&format!(
                "| Resolved | not yet (open {}) |\n",
                text::duration(h.duration_secs)
            )),
        }
        s
    }

    fn adherence_table(&self, t: &impl Fn(Timestamp) -> String) -> String {
        if self.adherence.is_empty() {
            return "No policy deadlines were decided.\n".to_string();
        }
        let met = self.adherence.iter().filter(|d| d.met).count();
        let mut s = format!(
            "{met} of {} deadlines met.\n\n| Policy | Expected | Due | Decided | Result | Margin |\n|---|---|---|---|---|---|\n",
            self.adherence.len()
        );
        for d in &self.adherence {
            let margin = if !d.met && d.margin_secs == 0 {
                "at expiry".to_string()
            } else if d.margin_secs < 0 {
                format!("-{}", text::duration(d.margin_secs))
            } else {
                format!("+{}", text::duration(d.margin_secs))
            };
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {margin} |\n",
                md(&d.policy),
                text::expectation(&d.expect),
                t(d.due_at),
                t(d.at),
                if d.met { "met" } else { "missed" },
            ));
        }
        s
    }

    fn paged_table(&self, t: &impl Fn(Timestamp) -> String) -> String {
        let mut s = if self.paged.is_empty() {
            "Nobody was paged or notified by policy.\n".to_string()
        } else {
            let mut s = String::from("| Time | Who | How | Why |\n|---|---|---|---|\n");
            for p in &self.paged {
                s.push_str(&format!(
                    "| {} | {} | {} | {} |\n",
                    t(p.at),
                    md(&p.who.join(", ")),
                    p.how,
                    md(&p.why)
                ));
            }
            s
        };
        let d = &self.deliveries;
        if d.sent + d.failed > 0 {
            s.push_str(&format!(
                "\nDeliveries: {} sent, {} failed attempts, {} given up.\n",
                d.sent, d.failed, d.given_up
            ));
        }
        s
    }

    fn alerts_table(&self, t: &impl Fn(Timestamp) -> String) -> String {
        if self.alerts.is_empty() {
            return "No alerts were linked to this incident.\n".to_string();
        }
        let mut s = String::from(
            "| Alert | Service | Severity | Summary | First seen | Repeats | Status |\n|---|---|---|---|---|---|---|\n",
        );
        for a in &self.alerts {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                a.id,
                md(&a.service),
                a.severity,
                md(&text::plain(&a.summary, text::QUOTE_CHARS)),
                t(a.first_seen),
                a.count,
                md(&a.status)
            ));
        }
        s
    }
}
