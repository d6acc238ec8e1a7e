//! An incident's Slack channel through the outbox: creating it (`inc-<n>-<slug>`), inviting
//! responders and role holders, posting and refreshing its header, nudges with buttons,
//! answers to `response_url`, modals and pinned messages. Each call is one outbox item, so a
//! failing Slack is retried with backoff (429: at least `Retry-After`) and never blocks a
//! request; a permanent failure becomes a dead letter.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use muster_core::engine::Trigger;
use muster_core::{Change, Command, Incident, IncidentNumber};
use muster_notify::{Outcome, Slack};
use muster_store::{ClaimedOutbox, Effects, OutboxItem, StoreError};
use serde_json::{Value, json};

use super::clock_header::{self, button, milestone_label};
use crate::deliver::Retry;
use crate::{AppState, LoadedConfig};

/// Creates the channel, invites, posts the header.
pub const CHANNEL: &str = "slack_channel";
/// Refreshes the header (`chat.update`), rendered when sent.
pub const HEADER: &str = "slack_header";
/// Posts a message (text and blocks) in the incident's channel.
pub const POST: &str = "slack_post";
/// Answers through a `response_url`.
pub const RESPONSE: &str = "slack_response";
/// Invites people into the incident's channel.
pub const INVITE: &str = "slack_invite";
/// Opens a modal (`views.open`).
pub const VIEW: &str = "slack_view";
/// Puts a pinned message on the timeline (`conversations.history`).
pub const CAPTURE: &str = "slack_capture";
/// The effects this module delivers.
pub const EFFECTS: &[&str] = &[CHANNEL, HEADER, POST, RESPONSE, INVITE, VIEW, CAPTURE];

/// Slack's longest channel name.
const MAX_NAME: usize = 80;

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

fn item(id: IncidentNumber, key: &str, effect: &str, payload: Value) -> OutboxItem {
    OutboxItem {
        idempotency_key: format!("{id}/slack:{key}"),
        incident: Some(id),
        effect: effect.into(),
        payload,
    }
}

/// A header refresh; `suffix` makes its key unique (`seq:12`, `tick:<ms>`).
pub fn header_item(id: IncidentNumber, suffix: &str) -> OutboxItem {
    item(id, &format!("header:{suffix}"), HEADER, json!({}))
}

/// What a declaration queues when Slack is configured: the channel and the first refresh.
pub fn on_declare(cfg: &LoadedConfig, incident: &Incident, now: Timestamp, effects: &mut Effects) {
    if cfg.config.slack.is_none() {
        return;
    }
    let name = channel_name(incident.id, &incident.title);
    effects
        .outbox
        .push(item(incident.id, "channel", CHANNEL, json!({"name": name})));
    effects.timers.push(clock_header::refresh_at(
        incident.id,
        now + clock_header::FAST,
    ));
}

/// What a change queues: a header refresh, and invitations for new role holders and
/// responders.
pub fn on_change(cfg: &LoadedConfig, before: &Incident, changes: &[Change]) -> Vec<OutboxItem> {
    if cfg.config.slack.is_none() || changes.is_empty() {
        return Vec::new();
    }
    let id = before.id;
    let seq = before.last_seq + 1;
    let mut out = vec![header_item(id, &format!("seq:{seq}"))];
    for c in changes {
        let person = match c {
            Change::RoleAssigned { person, .. } | Change::ResponderJoined { person } => person,
            _ => continue,
        };
        out.push(item(
            id,
            &format!("invite:{person}:{seq}"),
            INVITE,
            json!({"people": [person]}),
        ));
    }
    out
}

/// The buttons under a nudge: do what the policy waits for, or snooze it.
pub fn nudge_blocks(cfg: &LoadedConfig, item: &ClaimedOutbox, text: &str) -> Option<Value> {
    let id = item.incident?;
    let policy = item.payload.get("policy").and_then(Value::as_str)?;
    let key = item
        .idempotency_key
        .strip_prefix(&format!("{id}/"))
        .unwrap_or(&item.idempotency_key);
    let mut buttons = Vec::new();
    if let Some(Trigger::Deadline { expect, .. }) = cfg
        .policies
        .iter()
        .find(|p| p.id == policy)
        .map(|p| &p.trigger)
    {
        buttons.push(button(
            &milestone_label(expect),
            "muster_milestone",
            json!({"incident": id.to_string(), "milestone": expect, "nudge": key}),
        ));
    }
    buttons.push(button(
        "Snooze",
        "muster_snooze",
        json!({"incident": id.to_string(), "key": key}),
    ));
    Some(json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": clock_header::section_text(text)}},
        {"type": "actions", "block_id": "muster_nudge", "elements": buttons},
    ]))
}

/// A nudge in the incident's channel, with its buttons.
pub fn nudge_item(cfg: &LoadedConfig, parent: &ClaimedOutbox, text: &str) -> Option<OutboxItem> {
    cfg.config.slack.as_ref()?;
    let id = parent.incident?;
    let blocks = nudge_blocks(cfg, parent, text)?;
    Some(OutboxItem {
        idempotency_key: format!("{}/slack:channel", parent.idempotency_key),
        incident: Some(id),
        effect: POST.into(),
        payload: json!({"text": text, "blocks": blocks}),
    })
}

// ---------------------------------------------------------------- delivery

/// Delivers one of this module's items with `slack`.
pub struct Delivery<'a> {
    pub state: &'a AppState,
    pub slack: Option<&'a Slack>,
    pub owner: &'a str,
    pub retry: Retry,
}

impl Delivery<'_> {
    pub async fn deliver(&self, item: &ClaimedOutbox) -> Result<(), StoreError> {
        let Some(slack) = self.slack else {
            return self
                .settle(item, Outcome::Permanent("slack is not configured".into()))
                .await;
        };
        let outcome = match (item.effect.as_str(), item.incident) {
            (RESPONSE, _) => {
                let url = item.payload["url"].as_str().unwrap_or_default();
                slack.respond(url, &item.payload["body"]).await
            }
            (VIEW, _) => match slack.call("views.open", &item.payload).await {
                Ok(_) => Outcome::Sent { id: None },
                Err(o) => o,
            },
            (CHANNEL, Some(id)) => self.channel(slack, id, item).await?,
            (HEADER, Some(id)) => self.header(slack, id).await?,
            (POST, Some(id)) => self.post(slack, id, item).await?,
            (INVITE, Some(id)) => self.invite_later(slack, id, item).await?,
            (CAPTURE, Some(id)) => self.capture(slack, id, item).await?,
            _ => Outcome::Permanent(format!("`{}` without an incident", item.effect)),
        };
        self.settle(item, outcome).await
    }

    async fn channel(
        &self,
        slack: &Slack,
        id: IncidentNumber,
        item: &ClaimedOutbox,
    ) -> Result<Outcome, StoreError> {
        let store = &self.state.store;
        let Some(incident) = store.incident(id).await? else {
            return Ok(Outcome::Permanent(format!("{id} not found")));
        };
        let channel = match store.slack_channel(id).await? {
            Some(c) => c,
            None => {
                let name = item.payload["name"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| channel_name(id, &incident.title));
                let (channel_id, name) = match create(slack, &name).await {
                    Ok(created) => created,
                    Err(o) => return Ok(o),
                };
                store
                    .set_slack_channel(id, &channel_id, &name, self.state.clock.now())
                    .await?;
                store
                    .slack_channel(id)
                    .await?
                    .ok_or_else(|| StoreError::Internal("channel just stored is gone".into()))?
            }
        };
        let invite = self
            .invite(slack, &channel.channel_id, &people(&incident))
            .await;
        if !matches!(invite, Outcome::Sent { .. } | Outcome::Permanent(_)) {
            return Ok(invite);
        }
        if channel.header_ts.is_none() {
            let clock = crate::api::clock::clock_view(self.state, id).await?;
            let text = clock_header::header_text(&incident, &clock);
            let blocks = clock_header::header_blocks(&incident, &clock);
            match slack.post_blocks(&channel.channel_id, &text, &blocks).await {
                Ok(ts) => {
                    store.set_slack_header(id, &ts).await?;
                }
                Err(o) => return Ok(o),
            }
        }
        Ok(Outcome::Sent {
            id: Some(channel.channel_id),
        })
    }

    async fn header(&self, slack: &Slack, id: IncidentNumber) -> Result<Outcome, StoreError> {
        let store = &self.state.store;
        let (Some(channel), Some(incident)) =
            (store.slack_channel(id).await?, store.incident(id).await?)
        else {
            // No channel (yet): its creation posts a fresh header anyway.
            return Ok(Outcome::Sent { id: None });
        };
        let Some(ts) = channel.header_ts else {
            return Ok(Outcome::Sent { id: None });
        };
        let clock = crate::api::clock::clock_view(self.state, id).await?;
        let text = clock_header::header_text(&incident, &clock);
        let blocks = clock_header::header_blocks(&incident, &clock);
        Ok(slack
            .update_blocks(&channel.channel_id, &ts, &text, &blocks)
            .await)
    }

    async fn post(
        &self,
        slack: &Slack,
        id: IncidentNumber,
        item: &ClaimedOutbox,
    ) -> Result<Outcome, StoreError> {
        let Some(channel) = self.state.store.slack_channel(id).await? else {
            return Ok(Outcome::Transient(format!("{id} has no slack channel yet")));
        };
        let text = item.payload["text"].as_str().unwrap_or_default();
        Ok(
            match slack
                .post_blocks(&channel.channel_id, text, &item.payload["blocks"])
                .await
            {
                Ok(ts) => Outcome::Sent { id: Some(ts) },
                Err(o) => o,
            },
        )
    }

    async fn invite_later(
        &self,
        slack: &Slack,
        id: IncidentNumber,
        item: &ClaimedOutbox,
    ) -> Result<Outcome, StoreError> {
        let Some(channel) = self.state.store.slack_channel(id).await? else {
            // Creating the channel invites everybody working the incident then.
            return Ok(Outcome::Sent { id: None });
        };
        let people: Vec<String> = item.payload["people"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(
            match self.invite(slack, &channel.channel_id, &people).await {
                // `already_in_channel` and the like: nothing left to do.
                Outcome::Permanent(e) => {
                    tracing::info!(incident = %id, error = %e, "slack invite not needed");
                    Outcome::Sent { id: None }
                }
                other => other,
            },
        )
    }

    /// Invites people (by their Slack ids, looked up by email when not configured).
    async fn invite(&self, slack: &Slack, channel: &str, people: &[String]) -> Outcome {
        let cfg = self.state.config();
        let mut users = Vec::new();
        for p in people {
            let Some(person) = cfg.config.people.get(p) else {
                continue;
            };
            if let Some(u) = &person.contact.slack_user {
                users.push(u.clone());
            } else if let Some(email) = &person.contact.email
                && let Ok(u) = slack.lookup_by_email(email).await
            {
                users.push(u);
            }
        }
        if users.is_empty() {
            return Outcome::Sent { id: None };
        }
        slack.invite(channel, &users).await
    }

    async fn capture(
        &self,
        slack: &Slack,
        id: IncidentNumber,
        item: &ClaimedOutbox,
    ) -> Result<Outcome, StoreError> {
        let ts = item.payload["ts"].as_str().unwrap_or_default();
        let query = json!({"channel": item.payload["channel"], "latest": ts,
            "inclusive": true, "limit": 1});
        let found = match slack.call("conversations.history", &query).await {
            Ok(v) => v,
            Err(o) => return Ok(o),
        };
        let Some(message) = found.pointer("/messages/0") else {
            return Ok(Outcome::Permanent(format!("message {ts} not found")));
        };
        let text = message["text"].as_str().unwrap_or_default().to_string();
        let user = message["user"].as_str().unwrap_or_default();
        let actor = match super::person_of(self.state, user).await {
            Some(p) => p,
            None => format!("slack:{user}"),
        };
        let command = Command::AddNote { text };
        if let Err(e) = crate::api::incidents::apply_as(self.state, &actor, id, command).await {
            tracing::info!(incident = %id, error = %e.message, "pinned message not recorded");
        }
        Ok(Outcome::Sent { id: None })
    }

    async fn settle(&self, item: &ClaimedOutbox, outcome: Outcome) -> Result<(), StoreError> {
        let store = &self.state.store;
        let now = self.state.clock.now();
        let (error, floor) = match outcome {
            Outcome::Sent { .. } => {
                store.outbox_delivered(item.id, self.owner, now).await?;
                return Ok(());
            }
            Outcome::RetryAfter(w) => (
                format!("rate limited; retry after {} s", w.as_secs()),
                Some(w),
            ),
            Outcome::Transient(e) => (e, Some(std::time::Duration::ZERO)),
            Outcome::Permanent(e) => (e, None),
        };
        tracing::warn!(key = %item.idempotency_key, %error, "slack call failed");
        let retry_at = floor
            .filter(|_| item.attempts < self.retry.attempts)
            .map(|floor| {
                let delay = self.retry.delay(item.attempts).max(floor);
                now + SignedDuration::try_from(delay).unwrap_or(SignedDuration::ZERO)
            });
        store
            .outbox_failed(item.id, self.owner, now, &error, retry_at)
            .await?;
        Ok(())
    }
}

/// Creates the channel, as `name` or, when Slack has that name already (an archived channel,
/// a reused workspace), as `name-2` … `name-5`.
async fn create(slack: &Slack, name: &str) -> Result<(String, String), Outcome> {
    let mut last = None;
    for n in 1..=5 {
        let candidate = match n {
            1 => name.to_string(),
            _ => {
                let suffix = format!("-{n}");
                let mut base = name.to_string();
                base.truncate(MAX_NAME - suffix.len());
                format!("{}{suffix}", base.trim_end_matches('-'))
            }
        };
        match slack.create_channel(&candidate).await {
            Ok(id) => return Ok((id, candidate)),
            Err(Outcome::Permanent(e)) if e.ends_with("name_taken") => {
                last = Some(Outcome::Permanent(e));
            }
            Err(o) => return Err(o),
        }
    }
    Err(last.unwrap_or_else(|| Outcome::Permanent("no channel name left".into())))
}

/// Who belongs in the channel: the declarer (when a person), responders, role holders.
fn people(incident: &Incident) -> Vec<String> {
    let mut seen = BTreeSet::new();
    std::iter::once(&incident.declared_by)
        .chain(incident.responders.iter())
        .chain(incident.roles.values().map(|h| &h.person))
        .filter(|p| seen.insert(p.as_str()))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
