//! The header of an incident's channel — severity, status, roles and the live clock (elapsed
//! time and every pending deadline with the time left) — and the brief, as Slack shows them.
//!
//! The header is rendered when it is sent, from the same data as
//! `GET /api/v1/incidents/{id}/clock`, so it is never staler than its last refresh; when it
//! is refreshed is decided in `reactions::slack`.

use jiff::Timestamp;
use muster_core::{Incident, IncidentNumber};
use serde_json::{Value, json};

use crate::views::clock::{ClockView, PolicyTimerView};

/// Roles the header offers to whoever presses, while nobody holds them.
const CLAIMABLE: [&str; 3] = ["incident_commander", "ops_lead", "comms_lead"];

/// A span on the header: [`muster_core::words`], `overdue` when negative.
pub fn span(secs: i64) -> String {
    muster_core::words::remaining_secs(secs)
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
    // The title may be an alert's summary: never markup (`<!channel>`) in Slack.
    super::text::escape(&lines.join("\n"))
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

/// "Brief me" since the declaration, in Slack's mrkdwn, for the `/muster brief` command.
pub(crate) async fn slack_brief(
    state: &crate::AppState,
    id: IncidentNumber,
) -> Result<String, String> {
    let (loaded, all) = crate::views::brief::Loaded::load_brief(state, id, None)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("incident {id} not found"))?;
    let b = muster_core::brief::brief_of(&loaded.facts(), loaded.incident.declared_at, &all);
    Ok(to_mrkdwn(&b.markdown()))
}

/// CommonMark as Slack's mrkdwn: `**bold**` is `*bold*` there, and backslash escapes show.
fn to_mrkdwn(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                out.push('*');
            }
            '\\' if chars.peek().is_some_and(char::is_ascii_punctuation) => {}
            other => out.push(other),
        }
    }
    super::text::escape(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_slack_mrkdwn_with_slacks_escapes() {
        assert_eq!(
            to_mrkdwn("**INC-1** p99 > 2s & \\<b>x\\</b> \\*y\\*"),
            "*INC-1* p99 &gt; 2s &amp; &lt;b&gt;x&lt;/b&gt; *y*"
        );
    }

    #[test]
    fn spans_and_labels() {
        assert_eq!(span(0), "0 s");
        assert_eq!(span(245), "4 min");
        assert_eq!(span(3720), "1 h 02 min");
        assert_eq!(span(-1), "overdue");
        assert_eq!(
            milestone_label("blast_radius_validated"),
            "Blast radius validated"
        );
    }
}
