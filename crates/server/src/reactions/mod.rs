//! Reactions: the one place that decides what follows a change to an incident.
//!
//! Every origin of a change — the API and CLI, a Slack command, button or event, each alert
//! source and the batch intake, a missed heartbeat, a timer coming due, a configuration
//! reload — asks here, inside the store transaction of the change, and gets a [`Followup`]:
//! more timeline changes (each naming its actor: `policy:<id>`, `playbook:<id>`,
//! `escalation:<id>`) and typed effects ([`crate::effect::Effect`] outbox items and timers).
//! What follows, in order:
//!
//! 1. the policies ([`policy`]): the engine's reaction, escalations started and stopped;
//! 2. for a new incident, the escalation policies of its services when an alert opened it
//!    (a person who declares is already working it), then the matching playbooks
//!    ([`playbook`]);
//! 3. Slack ([`slack`]): the channel and the header's refresh timer for a new incident, a
//!    header refresh and invitations for a change.
//!
//! The rule of the house: **entry points call reactions; reactions never call entry points**
//! (nothing here imports `api`, `intake`, the Slack handlers or the deliverer). The pure
//! part is [`Reactions`]; [`commit`] runs it in the store's transactions.

pub mod acknowledge;
pub mod commit;
pub mod drill;
pub mod page;
pub mod playbook;
pub mod policy;
pub mod slack;

use jiff::Timestamp;
use muster_core::{Change, Incident};
use muster_store::{ClaimedTimer, Effects, OutboxItem, TimerChange};
use serde_json::Value;

use crate::LoadedConfig;
use crate::oncall::RuntimeOverrides;

pub use acknowledge::{AckOutcome, Acknowledgement, acknowledge_notification};
pub use commit::{AlertReactions, apply, apply_guarded, declare, fire_timer, reloaded};

/// Who opened an incident: a person (API, CLI, Slack) or an alert (any source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    Person,
    Alert,
}

/// What follows a change: timeline changes, each with its actor where that is not the
/// change's own, and effects.
#[derive(Debug, Default)]
pub struct Followup {
    changes: Vec<Change>,
    effects: Effects,
}

impl Followup {
    /// Appends a change made by `by` (`None`: by whoever made the change reacted to).
    pub fn push(&mut self, by: Option<String>, change: Change) {
        if let Some(by) = by {
            self.effects.acted_by.insert(self.changes.len(), by);
        }
        self.changes.push(change);
    }

    pub fn outbox(&mut self, item: OutboxItem) {
        self.effects.outbox.push(item);
    }

    pub fn timer(&mut self, timer: TimerChange) {
        self.effects.timers.push(timer);
    }

    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    /// Appends `other`, keeping the actor of each of its changes.
    pub fn extend(&mut self, other: Followup) {
        let base = self.changes.len();
        for (i, by) in other.effects.acted_by {
            self.effects.acted_by.insert(base + i, by);
        }
        self.changes.extend(other.changes);
        self.effects.timers.extend(other.effects.timers);
        self.effects.outbox.extend(other.effects.outbox);
    }

    /// These changes alone, for the store to write after a declaration's own.
    pub fn into_parts(self) -> (Vec<Change>, Effects) {
        (self.changes, self.effects)
    }

    /// The whole decision: `decided` (the caller's own changes), then these.
    pub fn after(self, mut decided: Vec<Change>) -> (Vec<Change>, Effects) {
        let base = decided.len();
        let mut effects = self.effects;
        effects.acted_by = std::mem::take(&mut effects.acted_by)
            .into_iter()
            .map(|(i, by)| (base + i, by))
            .collect();
        decided.extend(self.changes);
        (decided, effects)
    }
}

/// The pure reactions under one configuration, the live run-time overrides and one instant.
#[derive(Clone, Copy)]
pub struct Reactions<'a> {
    pub cfg: &'a LoadedConfig,
    pub overrides: &'a RuntimeOverrides,
    pub now: Timestamp,
}

impl Reactions<'_> {
    /// The same reactions at another instant (a drill's incident reacts in drill time).
    pub fn at(&self, now: Timestamp) -> Self {
        Reactions { now, ..*self }
    }

    /// What follows a new incident (`declared`: its declaring changes, already applied).
    pub fn declared(
        &self,
        incident: &Incident,
        state: &mut Value,
        declared: &[Change],
        actor: &str,
        opener: Opener,
    ) -> Followup {
        let mut out = policy::react(self, incident, state, declared, actor);
        if opener == Opener::Alert {
            out.extend(policy::start_service_escalations(self, incident, state));
        }
        out.extend(playbook::on_declared(&self.cfg.config, incident, &out));
        let told = playbook::audiences(&self.cfg.config, incident);
        out.extend(policy::notified(self, incident, state, told));
        if !incident.exercise {
            out.extend(slack::on_declare(self.cfg, incident, self.now));
        }
        out
    }

    /// What follows `changes` (decided by the core, not yet applied) to `before`.
    pub fn changed(
        &self,
        before: &Incident,
        state: &mut Value,
        changes: &[Change],
        actor: &str,
    ) -> Followup {
        let out = policy::react(self, before, state, changes, actor);
        self.shown_in_slack(before, changes, out)
    }

    /// What follows `timer` coming due for `incident` (gone: nothing).
    pub fn timer_fired(
        &self,
        incident: Option<&Incident>,
        state: &mut Value,
        timer: &ClaimedTimer,
    ) -> Followup {
        let Some(incident) = incident else {
            return Followup::default();
        };
        if let Some(out) = drill::on_drill_timer(self, incident, state, timer) {
            return out;
        }
        if slack::is_refresh(&timer.payload) {
            return slack::refresh(self, incident, state);
        }
        // What a policy did shows in the incident's Slack header at once.
        let out = policy::on_timer(self, incident, state, timer);
        self.shown_in_slack(incident, &[], out)
    }

    /// What follows a configuration reload for an open incident: its armed policy timers
    /// re-planned under the policies now in force.
    pub fn reloaded(&self, incident: &Incident, state: &mut Value) -> Followup {
        let out = policy::replan(self, incident, state);
        self.shown_in_slack(incident, &[], out)
    }

    /// `out`, with the header refresh and invitations that `decided` and `out`'s own changes
    /// call for in the incident's Slack channel.
    fn shown_in_slack(&self, before: &Incident, decided: &[Change], mut out: Followup) -> Followup {
        // A drill's incident has no Slack channel: nothing of it may reach the workspace.
        if before.exercise {
            return out;
        }
        let refresh = slack::on_change(self.cfg, before, decided.iter().chain(out.changes()));
        out.extend(refresh);
        out
    }
}

#[cfg(test)]
mod tests;
