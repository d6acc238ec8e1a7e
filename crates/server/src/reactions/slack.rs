//! Slack's part of a reaction, when a `slack:` section is configured: a new incident gets its
//! channel (`inc-<n>-<slug>`, created, joined and headed by the deliverer) and the header's
//! refresh timer; every change refreshes the header and invites new role holders and
//! responders. The same for every origin: a person's declaration, an alert, a timer.
//!
//! The header is refreshed by a durable timer (`INC-7/slack:header`): every minute while a
//! deadline is less than [`CLOSE`] away, otherwise every five minutes, and at every change.

use jiff::{SignedDuration, Timestamp};
use muster_core::{Change, Incident, IncidentNumber};
use muster_store::{OutboxItem, TimerChange, TimerSpec};
use serde_json::{Value, json};

use super::{Followup, Reactions};
use crate::LoadedConfig;
use crate::effect::{Effect, Empty, SlackChannel, SlackInvite};
use crate::policy_state::PolicyState;
use crate::views::clock::ClockView;

/// While a deadline is this close, the header is refreshed every [`FAST`].
pub const CLOSE: SignedDuration = SignedDuration::from_mins(10);
pub const FAST: SignedDuration = SignedDuration::from_mins(1);
pub const SLOW: SignedDuration = SignedDuration::from_mins(5);

/// Slack's longest channel name.
pub const MAX_NAME: usize = 80;

/// `inc-42-checkout-errors`: lower case, letters, digits, `-` and `_`, at most 80 characters.
pub fn channel_name(id: IncidentNumber, title: &str) -> String {
    let mut name = format!("inc-{}", id.0);
    let mut dash = true;
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            slug.push(c);
            dash = false;
        } else {
            dash = true;
        }
    }
    if !slug.is_empty() {
        name.push('-');
        name.push_str(&slug);
    }
    name.truncate(MAX_NAME);
    name.trim_end_matches('-').to_string()
}

fn item(id: IncidentNumber, key: &str, effect: Effect) -> OutboxItem {
    effect.item(format!("{id}/slack:{key}"), Some(id))
}

/// A header refresh; `suffix` makes its key unique (`seq:12`, `tick:<ms>`).
pub fn header_item(id: IncidentNumber, suffix: &str) -> OutboxItem {
    item(
        id,
        &format!("header:{suffix}"),
        Effect::SlackHeader(Empty {}),
    )
}

/// A new incident: its channel, and the header's first refresh.
pub fn on_declare(cfg: &LoadedConfig, incident: &Incident, now: Timestamp) -> Followup {
    let mut out = Followup::default();
    if cfg.config.slack.is_none() {
        return out;
    }
    let name = channel_name(incident.id, &incident.title);
    let channel = Effect::SlackChannel(SlackChannel { name: Some(name) });
    out.outbox(item(incident.id, "channel", channel));
    out.timer(refresh_at(incident.id, now + FAST));
    out
}

/// A change (`changes`, applied after `before`): a header refresh, and invitations for new
/// role holders and responders.
pub fn on_change<'c>(
    cfg: &LoadedConfig,
    before: &Incident,
    changes: impl IntoIterator<Item = &'c Change>,
) -> Followup {
    let mut out = Followup::default();
    let mut changes = changes.into_iter().peekable();
    if cfg.config.slack.is_none() || changes.peek().is_none() {
        return out;
    }
    let id = before.id;
    let seq = before.last_seq + 1;
    out.outbox(header_item(id, &format!("seq:{seq}")));
    for c in changes {
        let person = match c {
            Change::RoleAssigned { person, .. } | Change::ResponderJoined { person } => person,
            _ => continue,
        };
        let invite = Effect::SlackInvite(SlackInvite {
            people: vec![person.clone()],
        });
        out.outbox(item(id, &format!("invite:{person}:{seq}"), invite));
    }
    out
}

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

/// The refresh timer came due: a header update, and the next refresh armed (none once
/// resolved: the last update shows it resolved).
pub fn refresh(ctx: &Reactions<'_>, incident: &Incident, state: &Value) -> Followup {
    let mut out = Followup::default();
    if ctx.cfg.config.slack.is_none() {
        return out;
    }
    let tick = format!("tick:{}", ctx.now.as_millisecond());
    out.outbox(header_item(incident.id, &tick));
    if incident.resolved_at.is_none() {
        let st = PolicyState::decode(state).unwrap_or_default();
        let clock = ClockView::of(ctx.cfg, &st, incident.id, ctx.now);
        let deadlines: Vec<Timestamp> = clock.deadlines().map(|d| d.due_at).collect();
        out.timer(refresh_at(incident.id, next_refresh(ctx.now, &deadlines)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> Timestamp {
        Timestamp::UNIX_EPOCH + SignedDuration::from_mins(min)
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
    fn channel_names_follow_slacks_rules() {
        let n = IncidentNumber(42);
        assert_eq!(channel_name(n, "Checkout errors"), "inc-42-checkout-errors");
        assert_eq!(
            channel_name(n, "  EU: payments — 502s (card_auth)!! "),
            "inc-42-eu-payments-502s-card_auth"
        );
        assert_eq!(channel_name(n, "日本語"), "inc-42");
        let long = channel_name(n, &"word ".repeat(40));
        assert!(long.len() <= 80 && !long.ends_with('-'), "{long}");
        assert!(
            long.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        );
    }
}
