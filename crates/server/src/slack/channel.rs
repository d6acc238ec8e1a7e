//! Slack's outbox effects delivered: creating an incident's channel (`inc-<n>-<slug>`),
//! inviting responders and role holders, posting and refreshing its header, nudges with
//! buttons, answers to `response_url`, modals and pinned messages. Which of them follow a
//! change is decided in `reactions::slack`. Each call is one outbox item, so a failing Slack
//! is retried with backoff (429: at least `Retry-After`, through the deliverer's
//! [`Retry::settle`]) and never blocks a request; a permanent failure becomes a dead letter.

use std::collections::BTreeSet;

use jiff::{SignedDuration, Timestamp};
use muster_core::{Command, Incident, IncidentNumber};
use muster_notify::{Outcome, Slack};
use muster_store::{ClaimedOutbox, OutboxItem, StoreError};
use serde_json::{Value, json};

use super::clock_header::{self, button, milestone_label};
use super::text::escape;
use crate::deliver::retry::{Retry, Settled};
use crate::effect::{Effect, Message, SlackCapture, SlackPost};
use crate::reactions::slack::{MAX_NAME, channel_name};
use crate::views::clock::clock_view;
use crate::{AppState, LoadedConfig};

/// The buttons under a nudge (`key`, the decision's key): do what the policy waits for, or
/// snooze it.
///
/// (See [`ack_blocks`] for a notification's Acknowledge button.)
pub fn nudge_blocks(
    cfg: &LoadedConfig,
    id: IncidentNumber,
    key: &str,
    nudge: &Message,
    text: &str,
) -> Option<Value> {
    let policy = nudge.policy()?;
    let key = key.strip_prefix(&format!("{id}/")).unwrap_or(key);
    let mut buttons = Vec::new();
    if let Some(expect) = cfg.expected_milestone(policy) {
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
        {"type": "section", "text": {"type": "mrkdwn", "text": clock_header::section_text(&escape(text))}},
        {"type": "actions", "block_id": "muster_nudge", "elements": buttons},
    ]))
}

/// A nudge in the incident's channel, with its buttons.
pub fn nudge_item(
    cfg: &LoadedConfig,
    id: IncidentNumber,
    key: &str,
    nudge: &Message,
    text: &str,
) -> Option<OutboxItem> {
    cfg.config.slack.as_ref()?;
    let blocks = nudge_blocks(cfg, id, key, nudge, text)?;
    let post = Effect::SlackPost(SlackPost {
        text: escape(text),
        blocks,
    });
    Some(post.item(format!("{key}/slack:channel"), Some(id)))
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
    pub async fn deliver(&self, item: &ClaimedOutbox, effect: Effect) -> Result<(), StoreError> {
        let Some(slack) = self.slack else {
            return self
                .settle(item, Outcome::Permanent("slack is not configured".into()))
                .await;
        };
        let outcome = match (effect, item.incident) {
            (Effect::SlackResponse(r), _) => slack.respond(&r.url, &r.body).await,
            (Effect::SlackView(view), _) => match slack.call("views.open", &view).await {
                Ok(_) => Outcome::Sent { id: None },
                Err(o) => o,
            },
            (Effect::SlackChannel(c), Some(id)) => self.channel(slack, id, c.name).await?,
            (Effect::SlackHeader(_), Some(id)) => self.header(slack, id).await?,
            (Effect::SlackPost(p), Some(id)) => self.post(slack, id, &p).await?,
            (Effect::SlackInvite(i), Some(id)) => self.invite_later(slack, id, &i.people).await?,
            (Effect::SlackCapture(c), Some(id)) => self.capture(slack, id, &c).await?,
            (other, _) => Outcome::Permanent(format!("`{}` without an incident", other.name())),
        };
        self.settle(item, outcome).await
    }

    async fn channel(
        &self,
        slack: &Slack,
        id: IncidentNumber,
        name: Option<String>,
    ) -> Result<Outcome, StoreError> {
        let store = &self.state.store;
        let Some(incident) = store.incident(id).await? else {
            return Ok(Outcome::Permanent(format!("{id} not found")));
        };
        let channel = match store.slack_channel(id).await? {
            Some(c) => c,
            None => {
                let name = name.unwrap_or_else(|| channel_name(id, &incident.title));
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
            let clock = clock_view(self.state, id).await?;
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
        let clock = clock_view(self.state, id).await?;
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
        post: &SlackPost,
    ) -> Result<Outcome, StoreError> {
        let Some(channel) = self.state.store.slack_channel(id).await? else {
            return Ok(Outcome::Transient(format!("{id} has no slack channel yet")));
        };
        Ok(
            match slack
                .post_blocks(&channel.channel_id, &post.text, &post.blocks)
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
        people: &[String],
    ) -> Result<Outcome, StoreError> {
        let Some(channel) = self.state.store.slack_channel(id).await? else {
            // Creating the channel invites everybody working the incident then.
            return Ok(Outcome::Sent { id: None });
        };
        Ok(
            match self.invite(slack, &channel.channel_id, people).await {
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
        pin: &SlackCapture,
    ) -> Result<Outcome, StoreError> {
        let ts = &pin.ts;
        let query = json!({"channel": pin.channel, "latest": ts,
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
        if let Err(e) = crate::reactions::apply(self.state, &actor, id, command).await {
            tracing::info!(incident = %id, error = %e, "pinned message not recorded");
        }
        Ok(Outcome::Sent { id: None })
    }

    async fn settle(&self, item: &ClaimedOutbox, outcome: Outcome) -> Result<(), StoreError> {
        let store = &self.state.store;
        let now = self.state.clock.now();
        let Settled::Failed { error, retry_in } = self.retry.settle(outcome, item.attempts) else {
            store.outbox_delivered(item.id, self.owner, now).await?;
            return Ok(());
        };
        tracing::warn!(key = %item.idempotency_key, %error, "slack call failed");
        let retry_at =
            retry_in.map(|d| now + SignedDuration::try_from(d).unwrap_or(SignedDuration::ZERO));
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

/// A notification's Slack message (a policy's notify or page, a playbook's notify, an
/// escalation's page): its text and an Acknowledge button, which counts for a deadline
/// expecting its audience to acknowledge; on a page (`page`: when it was sent), it
/// acknowledges the incident too. `None` for messages nobody acknowledges (nudges, drills).
pub fn ack_blocks(
    id: IncidentNumber,
    key: &str,
    message: &Message,
    text: &str,
    page: Option<Timestamp>,
) -> Option<Value> {
    if !message.acknowledgeable() && page.is_none() {
        return None;
    }
    let key = key.strip_prefix(&format!("{id}/")).unwrap_or(key);
    let mut value = json!({"incident": id.to_string(), "key": key});
    if let Some(sent) = page {
        value["page"] = json!(sent.as_millisecond());
    }
    let ack = button("Acknowledge", ACK_NOTIFICATION, value);
    Some(json!([
        {"type": "section", "text": {"type": "mrkdwn", "text": clock_header::section_text(&escape(text))}},
        {"type": "actions", "block_id": "muster_notification", "elements": [ack]},
    ]))
}

/// The action id of a notification's Acknowledge button.
pub const ACK_NOTIFICATION: &str = "muster_ack_notification";
