//! Reading the timeline: each event in plain words, deadline outcomes, and who was paged.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::DeadlineResult;
use super::digest::Outcome;
use super::text::{self, QUOTE_CHARS, plain, words};
use crate::engine::{Action, PageTarget};
use crate::timeline::{Change, TimelineEvent};

/// The outcome of a policy deadline, when `event` records one.
pub(super) fn outcome(event: &TimelineEvent) -> Option<DeadlineResult> {
    let Change::DeadlineOutcome {
        policy,
        instance,
        met,
        expect,
        at,
        due_at,
        margin_secs,
        ..
    } = &event.change
    else {
        return None;
    };
    Some(DeadlineResult {
        policy: policy.clone(),
        instance: *instance,
        expect: expect.clone(),
        met: *met,
        due_at: *due_at,
        at: *at,
        margin_secs: *margin_secs,
    })
}

/// The deadline outcomes among `events`, one per deadline instance. A deadline missed at
/// expiry reads as late once its expected milestone comes: `at` and the (negative) margin are
/// taken from the milestone's first arrival after the due time. Timelines written before one
/// outcome per instance hold a second, later record for the late milestone: it replaces the
/// first in place. With each, whether its milestone never came (missed, not late).
pub fn outcomes_with_arrival<'a>(
    events: impl IntoIterator<Item = &'a TimelineEvent>,
) -> Vec<(DeadlineResult, bool)> {
    let mut out: Vec<Outcome> = Vec::new();
    for e in events {
        if let Some(reached) = reached_key(&e.change) {
            arrive(&mut out, &reached, e.at);
        }
        if let Some((d, awaiting)) = outcome_awaiting(e) {
            record(&mut out, d, awaiting);
        }
    }
    out.into_iter().map(|o| (o.result, o.awaiting)).collect()
}

/// The outcome `event` records, and whether it was recorded at expiry (no one reached the
/// milestone yet).
pub(super) fn outcome_awaiting(event: &TimelineEvent) -> Option<(DeadlineResult, bool)> {
    let d = outcome(event)?;
    let awaiting = matches!(
        &event.change,
        Change::DeadlineOutcome {
            met: false,
            by: None,
            ..
        }
    );
    Some((d, awaiting))
}

/// `reached` arrived at `at`: every outcome still awaiting it becomes late by then.
pub(super) fn arrive(out: &mut [Outcome], reached: &str, at: Timestamp) {
    for o in out
        .iter_mut()
        .filter(|o| o.awaiting && o.result.expect == reached)
    {
        o.result.at = at;
        o.result.margin_secs = text::secs_between(at, o.result.due_at);
        o.awaiting = false;
    }
}

/// A deadline instance's outcome: a later record of the same instance replaces it in place.
pub(super) fn record(out: &mut Vec<Outcome>, result: DeadlineResult, awaiting: bool) {
    let same =
        |o: &&mut Outcome| o.result.policy == result.policy && o.result.instance == result.instance;
    match out.iter_mut().find(same) {
        Some(o) => *o = Outcome { result, awaiting },
        None => out.push(Outcome { result, awaiting }),
    }
}

/// What a change reaches that a deadline may expect, as the outcome's `expect` reads it.
pub(super) fn reached_key(change: &Change) -> Option<String> {
    match change {
        Change::MilestoneReached { milestone } => Some(milestone.clone()),
        Change::RoleAssigned { role, .. } => Some(format!("role:{role}")),
        Change::NotificationAcknowledged { audience, .. } => {
            Some(format!("acknowledged_by:{audience}"))
        }
        _ => None,
    }
}

pub(super) fn outcomes<'a>(
    events: impl IntoIterator<Item = &'a TimelineEvent>,
) -> Vec<DeadlineResult> {
    outcomes_with_arrival(events)
        .into_iter()
        .map(|(o, _)| o)
        .collect()
}

/// An engine timer key (`deadline:<policy>:1:warn`) as a reader would say it.
fn timer_words(key: &str) -> &'static str {
    let mut parts = key.split(':');
    match (parts.next(), parts.nth(2)) {
        (Some("deadline"), Some("warn")) => "its deadline warning",
        (Some("deadline"), _) => "its deadline",
        (Some("cadence"), Some("escalate")) => "its reminder escalation",
        (Some("cadence"), _) => "its next reminder",
        (Some("solo"), _) => "its solo-responder check",
        _ => "a timer",
    }
}

/// One page or notification sent on the incident's behalf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRecord {
    pub at: Timestamp,
    /// People, aliases or channels reached.
    pub who: Vec<String>,
    /// `page`, `notify`, `nudge` or `escalation`.
    pub how: String,
    /// The policy or escalation policy that asked for it, and why.
    pub why: String,
}

/// The pages and notifications an event asked for (policy firings and escalation steps).
pub(super) fn pages(event: &TimelineEvent) -> Vec<PageRecord> {
    match &event.change {
        Change::EscalationStep {
            escalation_policy,
            pass,
            step,
            paged,
            ..
        } => vec![PageRecord {
            at: event.at,
            who: paged.clone(),
            how: "escalation".into(),
            why: format!(
                "{escalation_policy} step {}{}",
                step + 1,
                if *pass > 0 {
                    format!(" (repeat {pass})")
                } else {
                    String::new()
                }
            ),
        }],
        Change::PolicyFired {
            policy,
            actions,
            recipients,
            ..
        } => fired(event.at, policy, actions, recipients)
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// One record per firing: the firing records its recipients for all its actions together
/// (resolved at firing time); without them, the targets as configured.
fn fired(
    at: Timestamp,
    policy: &str,
    actions: &[Action],
    recipients: &[String],
) -> Option<PageRecord> {
    let mut how: Vec<&str> = Vec::new();
    let mut configured: Vec<String> = Vec::new();
    for action in actions {
        let Some(target) = target(action) else {
            continue;
        };
        if !how.contains(&action.kind()) {
            how.push(action.kind());
        }
        if !configured.contains(&target) {
            configured.push(target);
        }
    }
    if how.is_empty() {
        return None;
    }
    let mut who: Vec<String> = Vec::with_capacity(recipients.len());
    for r in recipients {
        if !who.contains(r) {
            who.push(r.clone());
        }
    }
    Some(PageRecord {
        at,
        who: if who.is_empty() { configured } else { who },
        how: how.join("+"),
        why: policy.to_string(),
    })
}

/// The configured target of an action that reaches people.
fn target(action: &Action) -> Option<String> {
    Some(match action {
        Action::Page { target } => match target {
            PageTarget::Schedule(s) => format!("schedule {s}"),
            PageTarget::EscalationPolicy(s) => format!("escalation policy {s}"),
            PageTarget::Person(p) => p.clone(),
            PageTarget::Alias(a) => format!("alias {a}"),
        },
        Action::Notify { alias, .. } => format!("alias {alias}"),
        Action::Nudge { role, .. } => words(role),
        _ => return None,
    })
}

/// The event in plain words for a timeline, or `None` for delivery bookkeeping that a reader
/// does not need line by line (queued and sent notifications are counted instead).
pub fn describe(change: &Change) -> Option<String> {
    Some(match change {
        Change::Declared {
            title,
            severity,
            services,
            ..
        } => {
            let on = if services.is_empty() {
                String::new()
            } else {
                format!(" on {}", services.join(", "))
            };
            format!("Declared {severity}{on}: {}", plain(title, QUOTE_CHARS))
        }
        Change::TitleChanged { to, .. } => format!("Title changed to: {}", plain(to, QUOTE_CHARS)),
        Change::SeverityChanged { from, to } => format!("Severity {from} → {to}"),
        Change::StatusChanged { from, to } => format!("Status {from} → {to}"),
        Change::Reopened { to } => format!("Reopened ({to})"),
        Change::ServicesChanged { added, removed } => {
            let mut parts = Vec::new();
            if !added.is_empty() {
                parts.push(format!("added {}", added.join(", ")));
            }
            if !removed.is_empty() {
                parts.push(format!("removed {}", removed.join(", ")));
            }
            format!("Services {}", parts.join("; "))
        }
        Change::MilestoneReached { milestone } => format!("Milestone: {}", words(milestone)),
        Change::RoleAssigned {
            role,
            person,
            previous,
        } => match previous {
            Some(p) => format!("{} handed from {p} to {person}", words(role)),
            None => format!("{person} is {}", words(role)),
        },
        Change::RoleReleased { role, person } => format!("{person} released {}", words(role)),
        Change::TaskAdded { task_id, title, .. } => {
            format!("Task #{task_id} added: {}", plain(title, QUOTE_CHARS))
        }
        Change::TaskCompleted { task_id } => format!("Task #{task_id} done"),
        Change::TaskReopened { task_id } => format!("Task #{task_id} reopened"),
        Change::NoteAdded { text } => format!("Note: {}", plain(text, QUOTE_CHARS)),
        Change::ResponderJoined { person } => format!("{person} joined"),
        Change::ResponderLeft { person } => format!("{person} left"),
        Change::NudgeAcknowledged { .. } => "Nudge acknowledged".to_string(),
        Change::NotificationAcknowledged {
            by,
            audience,
            delay_secs,
            channel,
            ..
        } => format!(
            "{by} acknowledged the notification to {} after {}{}",
            text::expectation(&format!("acknowledged_by:{audience}"))
                .trim_start_matches("acknowledged by "),
            text::duration(*delay_secs),
            channel.as_deref().map(by_channel).unwrap_or_default()
        ),
        Change::PolicyFired { policy, reason, .. } => {
            format!("Policy {policy}: {}", plain(reason, QUOTE_CHARS))
        }
        Change::DeadlineOutcome {
            policy,
            met,
            expect,
            margin_secs,
            ..
        } => format!(
            "Deadline {policy} ({}) {}",
            text::expectation(expect),
            text::margin(*met, *margin_secs)
        ),
        Change::PolicyCancelled { policy, reason } => {
            format!(
                "Policy {policy} no longer applies: {}",
                plain(reason, QUOTE_CHARS)
            )
        }
        Change::PolicyReplanned {
            policy,
            key,
            from,
            to,
        } => format!(
            "Policy {policy}: {} moved from {} to {} by a configuration reload",
            timer_words(key),
            text::full_time(*from),
            text::full_time(*to)
        ),
        Change::PolicyError { policy, message } => {
            format!(
                "Policy {policy} could not run: {}",
                plain(message, QUOTE_CHARS)
            )
        }
        Change::EscalationStep {
            escalation_policy,
            step,
            paged,
            ..
        } => format!(
            "Escalation {escalation_policy} step {} paged {}",
            step + 1,
            text::and_list(paged)
        ),
        Change::EscalationStopped {
            escalation_policy,
            reason,
        } => format!(
            "Escalation {escalation_policy} stopped: {}",
            plain(reason, QUOTE_CHARS)
        ),
        Change::NotificationFailed {
            channel,
            to,
            retry_in_ms: None,
            fallback,
            ..
        } => match fallback {
            Some(f) => format!("Notification to {to} via {channel} failed; trying {f}"),
            None => format!("Notification to {to} via {channel} failed; gave up"),
        },
        Change::DrillEvent { what } => format!("Drill: {}", plain(what, QUOTE_CHARS)),
        Change::NotificationQueued { .. }
        | Change::NotificationSent { .. }
        | Change::NotificationFailed { .. } => return None,
    })
}

/// ` by SMS reply`: how an acknowledgement arrived, in words.
fn by_channel(channel: &str) -> String {
    let how = match channel {
        "sms" => "SMS reply",
        "voice" => "phone call",
        "push" => "push notification",
        "email" => "link in an email",
        other => other,
    };
    format!(" by {how}")
}
