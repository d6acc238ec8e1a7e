//! The header of an incident's channel — severity, status, roles and the live clock (elapsed
//! time and every pending deadline with the time left) — its refresh timer, and the brief.
//!
//! The header is rendered when it is sent, from the same data as
//! `GET /api/v1/incidents/{id}/clock`, so it is never staler than its last refresh. A durable
//! timer (`INC-7/slack:header`) refreshes it: every minute while a deadline is less than ten
//! minutes away, otherwise every five minutes (and on every change, see `channel::on_change`).

use jiff::{SignedDuration, Timestamp};
use muster_core::{Incident, IncidentNumber};
use muster_store::{ClaimedTimer, Effects, FireOutcome, Store, StoreError, TimerChange, TimerSpec};
use serde_json::{Value, json};

use super::channel;
use crate::AppState;
use crate::api::clock::{ClockView, PolicyTimerView, timer_view};
use crate::policy::PolicyState;

/// While a deadline is this close, the header is refreshed every [`FAST`].
pub const CLOSE: SignedDuration = SignedDuration::from_mins(10);
pub const FAST: SignedDuration = SignedDuration::from_mins(1);
pub const SLOW: SignedDuration = SignedDuration::from_mins(5);

/// Roles the header offers to whoever presses, while nobody holds them.
const CLAIMABLE: [&str; 3] = ["incident_commander", "ops_lead", "comms_lead"];

/// The refresh timer's key.
pub fn timer_key(id: IncidentNumber) -> String {
    format!("{id}/slack:header")
}

/// Whether a timer is a header refresh.
pub fn is_refresh(payload: &Value) -> bool {
    payload.get("slack_header").and_then(Value::as_bool) == Some(true)
}

/// The refresh timer armed for `at`.
pub fn refresh_at(id: IncidentNumber, at: Timestamp) -> TimerChange {
    TimerChange::Set(TimerSpec {
        key: timer_key(id),
        incident: Some(id),
        due_at: at,
        payload: json!({"slack_header": true}),
    })
}

/// When to refresh next: in a minute while a deadline is under [`CLOSE`] away; otherwise
/// after [`SLOW`], or earlier, as soon as the nearest deadline comes under [`CLOSE`].
pub fn next_refresh(now: Timestamp, deadlines: &[Timestamp]) -> Timestamp {
    let nearest = deadlines.iter().min().copied();
    match nearest {
        Some(d) if d - CLOSE <= now => now + FAST,
        Some(d) => (d - CLOSE).min(now + SLOW).max(now + FAST),
        None => now + SLOW,
    }
}

/// Fires a refresh: queues a header update and arms the next refresh (none once resolved:
/// the last update shows it resolved).
pub async fn fire(
    state: &AppState,
    store: &Store,
    timer: &ClaimedTimer,
    now: Timestamp,
) -> Result<FireOutcome, StoreError> {
    let cfg = state.config();
    store
        .fire_timer_with_policy(
            timer,
            now,
            |incident, policy_state| {
                let mut effects = Effects::default();
                let Some(incident) = incident else {
                    return Ok((Vec::new(), effects));
                };
                if cfg.config.slack.is_none() {
                    return Ok((Vec::new(), effects));
                }
                let tick = format!("tick:{}", now.as_millisecond());
                effects
                    .outbox
                    .push(channel::header_item(incident.id, &tick));
                if incident.resolved_at.is_none() {
                    let st = PolicyState::decode(policy_state).unwrap_or_default();
                    let deadlines: Vec<Timestamp> = st
                        .engine
                        .pending_timers()
                        .map(|t| timer_view(&cfg.policies, t.key, t.due_at, now))
                        .filter(|v| v.kind == "deadline")
                        .map(|v| v.due_at)
                        .collect();
                    effects
                        .timers
                        .push(refresh_at(incident.id, next_refresh(now, &deadlines)));
                }
                Ok((Vec::new(), effects))
            },
            "slack",
        )
        .await
}

/// `4m 05s`, `1h 02m`, `12s`; `overdue` when negative.
pub fn span(secs: i64) -> String {
    if secs < 0 {
        return "overdue".into();
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m"),
    }
}

fn hm(t: Timestamp) -> String {
    t.strftime("%H:%M UTC").to_string()
}

fn roles_line(incident: &Incident) -> String {
    if incident.roles.is_empty() {
        return "Roles: nobody yet".into();
    }
    let roles: Vec<String> = incident
        .roles
        .iter()
        .map(|(r, h)| format!("{r}: {}", h.person))
        .collect();
    format!("Roles: {}", roles.join(" · "))
}

fn deadline_line(t: &PolicyTimerView) -> String {
    let what = t.expect.as_deref().unwrap_or(t.kind.as_str());
    format!(
        "• {what} ({}): {} left, due {}",
        t.policy,
        span(t.seconds_remaining),
        hm(t.due_at)
    )
}

/// The deadlines and cadences a responder is racing, earliest first.
fn racing(clock: &ClockView) -> Vec<&PolicyTimerView> {
    clock
        .timers
        .iter()
        .filter(|t| t.kind == "deadline" || t.kind == "cadence")
        .collect()
}

/// The header's text (also the notification fallback of its blocks).
pub fn header_text(incident: &Incident, clock: &ClockView) -> String {
    let elapsed = clock.now.duration_since(incident.declared_at).as_secs();
    let mut lines = vec![
        format!(
            "*{} · {} · {}*",
            incident.id, incident.severity, incident.title
        ),
        format!(
            "Status: {} · Elapsed: {} (declared {})",
            incident.status,
            span(elapsed),
            hm(incident.declared_at)
        ),
        roles_line(incident),
    ];
    let racing = racing(clock);
    if racing.is_empty() || incident.resolved_at.is_some() {
        lines.push("Deadlines: none pending".into());
    } else {
        lines.push("Deadlines:".into());
        lines.extend(racing.iter().map(|t| deadline_line(t)));
    }
    lines.push(format!("Updated {}", hm(clock.now)));
    lines.join("\n")
}

/// The header's blocks: the text, then buttons to act on it.
pub fn header_blocks(incident: &Incident, clock: &ClockView) -> Value {
    let text = header_text(incident, clock);
    let id = incident.id.to_string();
    let mut buttons = Vec::new();
    if incident.resolved_at.is_none() {
        if !incident
            .milestones
            .iter()
            .any(|m| m.milestone == "acknowledged")
        {
            buttons.push(button("Acknowledge", "muster_ack", json!({"incident": id})));
        }
        for role in CLAIMABLE {
            if !incident.roles.contains_key(role) {
                buttons.push(button(
                    &format!("I'm {}", milestone_label(role).to_lowercase()),
                    "muster_claim",
                    json!({"incident": id, "role": role}),
                ));
            }
        }
        for t in racing(clock) {
            if let Some(m) = &t.expect {
                buttons.push(button(
                    &milestone_label(m),
                    "muster_milestone",
                    json!({"incident": id, "milestone": m}),
                ));
            }
        }
        buttons.push(button(
            "Post an update",
            "muster_update",
            json!({"incident": id}),
        ));
    }
    let text = section_text(&text);
    let mut blocks = vec![json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})];
    if !buttons.is_empty() {
        buttons.truncate(25);
        blocks.push(json!({"type": "actions", "block_id": "muster_header", "elements": buttons}));
    }
    Value::Array(blocks)
}

/// `blast_radius_validated` → `Blast radius validated`.
pub fn milestone_label(m: &str) -> String {
    let words = m.replace('_', " ");
    let mut chars = words.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => words,
    }
}

/// A Block Kit button whose value is a small JSON document. Slack wants action ids unique
/// within a block, so the role or milestone a button is about is part of its id
/// (`muster_milestone:blast_radius_validated`); [`action_kind`] takes it off again.
pub fn button(text: &str, action: &str, value: Value) -> Value {
    let about = value["milestone"].as_str().or(value["role"].as_str());
    let action_id = match about {
        Some(x) => format!("{action}:{x}"),
        None => action.to_string(),
    };
    json!({
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value.to_string(),
    })
}

/// `muster_milestone:blast_radius_validated` → `muster_milestone`.
pub fn action_kind(action_id: &str) -> &str {
    action_id.split(':').next().unwrap_or(action_id)
}

/// Slack's limit on a section's text.
const MAX_SECTION_TEXT: usize = 3000;

/// `text` cut to fit a section block, on a character boundary.
pub fn section_text(text: &str) -> String {
    if text.len() <= MAX_SECTION_TEXT {
        return text.to_string();
    }
    let mut end = MAX_SECTION_TEXT - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(m: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(m)
    }

    #[test]
    fn refresh_every_minute_near_a_deadline() {
        assert_eq!(next_refresh(t(0), &[]), t(5));
        assert_eq!(next_refresh(t(0), &[t(20)]), t(5));
        // The deadline comes under ten minutes at minute 10: refresh then, not at 15.
        assert_eq!(next_refresh(t(8), &[t(20)]), t(10));
        assert_eq!(next_refresh(t(10), &[t(20)]), t(11));
        assert_eq!(next_refresh(t(19), &[t(20), t(60)]), t(20));
        // Overdue but not fired yet: still every minute.
        assert_eq!(next_refresh(t(21), &[t(20)]), t(22));
        // Never sooner than a minute.
        assert_eq!(
            next_refresh(t(0), &[t(10) + SignedDuration::from_secs(20)]),
            t(1)
        );
    }

    #[test]
    fn spans_and_labels() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(245), "4m 05s");
        assert_eq!(span(3720), "1h 02m");
        assert_eq!(span(-1), "overdue");
        assert_eq!(
            milestone_label("blast_radius_validated"),
            "Blast radius validated"
        );
    }
}
