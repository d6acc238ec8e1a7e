//! A recipient acknowledges a notification (API, CLI, Slack button, email or SMS link): the
//! one path every channel takes. Under the incident's lock it finds the notification in the
//! policy state (its audience and when it was decided), checks the person is one of that
//! audience's recipients, writes `notification_acknowledged` with the delay, and lets the
//! policies react (a deadline expecting that audience's acknowledgement is met). A repeat
//! writes nothing and answers with the first acknowledgement.

use std::collections::BTreeSet;

use jiff::Timestamp;
use muster_config::Config;
use muster_core::engine::Audience;
use muster_core::{Change, Command, DomainError, IncidentNumber, Status, decide};
use muster_store::{Effects, StoreError};
use serde_json::Value;

use super::commit::Inputs;
use super::drill;
use crate::AppState;
use crate::oncall::{self, RuntimeOverrides};
use crate::policy_state::PolicyState;

/// One notification's acknowledgement, as recorded the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// The notification's idempotency key, without the incident's prefix.
    pub key: String,
    pub by: String,
    /// `alias:legal`, `schedule:legal-oncall`, `person:alice`.
    pub audience: String,
    pub at: Timestamp,
    /// From when the notification was decided.
    pub delay_secs: i64,
}

/// What an acknowledgement came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckOutcome {
    /// Recorded now.
    Acknowledged(Acknowledgement),
    /// Acknowledged before: the first record, nothing written.
    Already(Acknowledgement),
    /// No notification of the incident has this key.
    UnknownNotification,
}

/// `person` acknowledges notification `key` (without the incident's prefix) of incident `id`.
pub async fn acknowledge_notification(
    state: &AppState,
    person: &str,
    id: IncidentNumber,
    key: &str,
) -> Result<AckOutcome, StoreError> {
    let answer = Answer {
        person,
        id,
        key,
        channel: None,
        page: None,
    };
    acknowledge(state, &answer).await
}

/// Who acknowledges which notification, from where.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    pub person: &'a str,
    pub id: IncidentNumber,
    /// The notification's key, without the incident's prefix.
    pub key: &'a str,
    /// `sms`, `voice`, `push`, `email` (a link's channel); `None` for the API, CLI, Slack.
    pub channel: Option<&'a str>,
    /// For a page: when it was sent to the person. Acknowledging a page acknowledges the
    /// incident too (which stops its escalations), and an escalation's page, which no policy
    /// tracks, counts from when it was sent.
    pub page: Option<Timestamp>,
}

/// [`acknowledge_notification`] for any answer: see [`Answer`].
pub async fn acknowledge(state: &AppState, a: &Answer<'_>) -> Result<AckOutcome, StoreError> {
    let (person, id, key) = (a.person, a.id, a.key);
    let inputs = Inputs::read(state, state.clock.now()).await?;
    let (ctx, now) = (inputs.reactions(), inputs.now);
    let mut outcome = AckOutcome::UnknownNotification;
    let mut missing = false;
    let result = state
        .store
        .update_with_policy(id, person, now, |inc, policy_state| {
            let drill_now = drill::drill_now(policy_state, now);
            let ctx = ctx.at(drill_now.unwrap_or(now));
            let found = find(policy_state, key).map_err(|e| {
                DomainError::Conflict(format!("the incident's policy state cannot be read: {e}"))
            })?;
            let found = match (found, a.page) {
                (Some(f), _) => Some(f),
                // An escalation's page: the person it went to, counted from its sending;
                // acknowledged once the incident is.
                (None, Some(sent)) => Some((
                    Audience::Person(person.to_string()),
                    sent,
                    inc.milestone("acknowledged")
                        .map(|m| (m.actor.clone(), m.at)),
                )),
                (None, None) => None,
            };
            let Some((audience, decided, first)) = found else {
                // Refused, so nothing is written; the caller answers "not found".
                missing = true;
                return Err(DomainError::Conflict(format!("no notification `{key}`")));
            };
            let record = |by: String, at: Timestamp| Acknowledgement {
                key: key.to_string(),
                by,
                audience: audience.key(),
                at,
                delay_secs: at.duration_since(decided).as_secs(),
            };
            let who = recipients(
                &ctx.cfg.config,
                ctx.overrides,
                &audience,
                [decided, ctx.now],
            );
            if !who.contains(person) {
                return Err(DomainError::Invalid {
                    field: "person".into(),
                    reason: format!(
                        "`{person}` is not among the recipients of {} (notification `{key}`)",
                        audience.key()
                    ),
                });
            }
            if let Some((by, at)) = first {
                outcome = AckOutcome::Already(record(by, at));
                return Ok((Vec::new(), Effects::default()));
            }
            if inc.status == Status::Resolved {
                return Err(DomainError::Conflict(format!(
                    "{id} is resolved: its notifications can no longer be acknowledged"
                )));
            }
            let ack = record(person.to_string(), ctx.now);
            let mut changes = vec![Change::NotificationAcknowledged {
                key: key.to_string(),
                by: ack.by.clone(),
                audience: ack.audience.clone(),
                delay_secs: ack.delay_secs,
                channel: a.channel.map(String::from),
            }];
            if a.page.is_some() && inc.milestone("acknowledged").is_none() {
                changes.extend(decide(inc, &Command::Acknowledge, &ctx.cfg.vocab)?);
            }
            outcome = AckOutcome::Acknowledged(ack);
            let (changes, mut effects) = ctx
                .changed(inc, policy_state, &changes, person)
                .after(changes);
            effects.at = drill_now;
            Ok((changes, effects))
        })
        .await;
    match result {
        Err(StoreError::Domain(_)) if missing => Ok(AckOutcome::UnknownNotification),
        Err(e) => Err(e),
        Ok(_) => Ok(outcome),
    }
}

/// The notification `key`'s audience, when it was decided and its first acknowledgement.
type Found = Option<(Audience, Timestamp, Option<(String, Timestamp)>)>;

fn find(policy_state: &Value, key: &str) -> Result<Found, String> {
    let st = PolicyState::decode(policy_state)?;
    Ok(st
        .engine
        .notification(key)
        .map(|n| (n.audience.clone(), n.at, n.acknowledged.clone())))
}

/// Who counts as a recipient of a notification addressed to `audience`: the person; an
/// alias's people, teams' members and schedules' people; a schedule's members and whoever
/// is on call at `at` (when it was decided, and now: run-time overrides included).
pub fn recipients(
    config: &Config,
    overrides: &RuntimeOverrides,
    audience: &Audience,
    at: [Timestamp; 2],
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let schedule = |out: &mut BTreeSet<String>, id: &str| {
        if let Some(s) = config.schedules.get(id) {
            out.extend(s.layers.iter().flat_map(|l| l.members.iter().cloned()));
        }
        for t in at {
            out.extend(oncall::on_call(config, overrides, id, t));
        }
    };
    match audience {
        Audience::Person(p) => {
            out.insert(p.clone());
        }
        Audience::Schedule(s) => schedule(&mut out, s),
        Audience::Alias(a) => {
            let Some(alias) = config.aliases.get(a) else {
                return out;
            };
            out.extend(alias.people.iter().cloned());
            for t in &alias.teams {
                if let Some(team) = config.teams.get(t) {
                    out.extend(team.members.iter().cloned());
                }
            }
            for s in &alias.schedules {
                schedule(&mut out, s);
            }
        }
    }
    out
}
