//! The policy engine: `(state, event, now) → (state, actions, timers, records)`. Pure.
//!
//! [`handle`] is the whole engine. The shell (server, scheduler) keeps one
//! [`IncidentPolicyState`] per incident, feeds it every incident [`Event`] and every timer that
//! comes due ([`Event::TimerFired`]), and carries out the [`Output`]: it writes the
//! [`TimerOp`]s and one outbox record per [`PlannedAction`] in the same transaction as the
//! [`Record`]s it appends to the timeline. [`simulate`] runs the same engine on a simulated
//! clock: policy tests, replay, drills and staffing simulation all go through it.
//!
//! # Semantics (decided here; tests pin them)
//! - **Conditions** (`when`) are evaluated against the incident *after* the event is applied.
//!   Time-based triggers (deadline, cadence, solo responder) only run while the incident is
//!   declared and not resolved; reopening re-arms them.
//! - **Deadline**: armed when milestone `of` is reached while the conditions hold, or later when
//!   they start to hold (then the clock runs from that moment: a SEV3 raised to SEV1 gets the
//!   full `within`). Reaching `expect` while pending cancels both timers and records a *met*
//!   outcome with its margin and actor. At expiry `on_missed` fires and a *missed* outcome is
//!   recorded: **one outcome per deadline instance**. If `expect` arrives later nothing fires
//!   and nothing more is recorded; how late it came is read from the milestone itself
//!   ([`Outcome::late_arrival`]; [`simulate`] and the briefings' adherence do so). If the conditions stop holding while pending
//!   (downgraded to SEV3, resolved), the timers are cancelled with a [`Record::Cancelled`] and
//!   no outcome; it re-arms if they hold again. A deadline whose `expect` was already reached
//!   is never armed; a met or missed deadline never re-arms.
//! - **Expectations**: `expect` is a milestone, a role (met when someone first holds it; a
//!   role already held when the deadline would arm counts as reached, so it is not armed, like
//!   a milestone already reached), or an acknowledgement by an audience (alias, schedule,
//!   person). An acknowledgement deadline counts from the audience's first notification
//!   ([`Event::AudienceNotified`]: a policy's notify or page, through [`follow_up`], or a
//!   playbook's notify), whatever its `of` says; it is met by [`Event::AudienceAcknowledged`].
//!   Roles, notifications and acknowledgements are remembered as reached facts
//!   (`role:R`, `notified:alias:legal`, `acknowledged_by:alias:legal`), first time only.
//! - **On event**: fires on every matching event (milestone reached, status changed to,
//!   severity changed), when the conditions hold after the change.
//! - **Cadence**: while the conditions and `while` hold, fires every `every`; each round is a
//!   new timer (`cadence:<policy>:<n>`). `reset_on` (a milestone; `status_update_posted` is
//!   reached by [`Event::StatusUpdatePosted`]) cancels the round and any pending escalation and
//!   starts a new round. After a round fires, the next is due `every` after the firing (so a
//!   late timer never causes a burst), and, with `escalate_after`, an escalation timer
//!   (`cadence:<policy>:<n>:escalate`) fires `escalate_to` unless `reset_on` happens or the
//!   nudge is acknowledged ([`Event::NudgeAcknowledged`] with the nudge's idempotency key).
//!   Escalating to a role nudges its holder; to a schedule, person, alias or escalation policy
//!   pages it.
//! - **Solo responder**: armed when exactly one responder is active (joined, not left); cancelled
//!   when that changes; a status update restarts its clock. Fires at most once per solo spell.
//! - **Same instant**: [`simulate`] processes the events at an instant before the timers due at
//!   that instant, so a milestone reached exactly at the deadline counts as met (margin 0).
//! - **Past due, timer not yet fired**: an expected milestone that arrives after the deadline
//!   but before its timer fired (a lagging scheduler) closes the deadline as late (`met:
//!   false`, negative margin, `by` the actor), cancels its timers, and runs none of its
//!   actions: what they were to bring about has happened.
//! - **Late timers**: a [`Event::TimerFired`] handled after its `due_at` fires normally and the
//!   record carries the lateness. A `TimerFired` for a key that is not pending (cancelled,
//!   already fired, unknown) does nothing: timers fire at most once and never after a cancel.
//! - **Bounded fan-out**: actions can cause events (an `assign_role` to a person makes a
//!   [`Event::RoleAssigned`], see [`follow_up`]). Such an event is handled with
//!   [`handle_caused`] and the depth of its cause; firings carry `depth + 1`. Beyond
//!   [`MAX_CASCADE_DEPTH`] the event still updates the state and arms timers, but nothing fires
//!   immediately and a [`Record::Error`] says so. Loops are impossible by construction.
//!
//! Determinism: policies are evaluated in slice order, state is kept in `BTreeMap`s, and keys
//! are built from policy ids and per-policy counters only.

mod events;
mod handle;
mod policy;
mod replan;
mod simulate;
mod state;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_expect;
#[cfg(test)]
mod tests_replan;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::incident::severity::{Severity, Status};

pub use events::event_of;
pub use handle::{follow_up, handle, handle_caused};
pub use policy::{
    Action, Assignee, Audience, Conditions, EventTrigger, Expect, NOTIFIED, PageTarget, Policy,
    Recipient, Trigger, notified_key,
};
pub use replan::replan;
pub use simulate::{FollowUp, Simulation, Simulator, TimerLog, simulate};
pub use state::{IncidentPolicyState, Notification, PendingTimer};

/// How many follow-up generations a single event may cause before firings are suppressed.
pub const MAX_CASCADE_DEPTH: u8 = 8;

/// What happened to an incident, as the engine needs it. Serialized externally tagged:
/// `{"declared":{"severity":"SEV1","services":["checkout"]}}`, `{"status_update_posted":{}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Declared {
        severity: Severity,
        #[serde(default)]
        services: Vec<String>,
        #[serde(default)]
        incident_type: Option<String>,
        #[serde(default)]
        labels: std::collections::BTreeMap<String, String>,
    },
    SeverityChanged {
        to: Severity,
    },
    StatusChanged {
        to: Status,
    },
    RoleAssigned {
        role: String,
        person: String,
    },
    RoleReleased {
        role: String,
    },
    MilestoneReached {
        milestone: String,
        #[serde(default)]
        actor: String,
    },
    AlertAttached {},
    ResponderJoined {
        person: String,
    },
    ResponderLeft {
        person: String,
    },
    MessagePosted {
        person: String,
    },
    StatusUpdatePosted {
        #[serde(default)]
        actor: String,
    },
    /// `key`: the idempotency key of the nudge being acknowledged.
    NudgeAcknowledged {
        key: String,
    },
    /// A notification (`key`: its idempotency key) addressed to `audience` was decided: by a
    /// policy's notify or page ([`follow_up`]) or a playbook's notify.
    AudienceNotified {
        key: String,
        audience: Audience,
    },
    /// `by`, a recipient of notification `key` addressed to `audience`, acknowledged it.
    AudienceAcknowledged {
        key: String,
        audience: Audience,
        by: String,
    },
    TimerFired {
        key: String,
    },
}

/// A timer to write or delete in the same transaction as the state change. Keys are unique
/// within an incident (the shell prefixes the incident id) and never reused after firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum TimerOp {
    Set { key: String, due_at: Timestamp },
    Cancel { key: String },
}

/// One effect to carry out, at least once; `idempotency_key` (unique within an incident, the
/// shell prefixes the incident id) makes repeats harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedAction {
    pub policy: String,
    pub action: Action,
    /// `<policy>:<trigger instance>:<action index>`, e.g. `blast-radius-20m:deadline:1:missed:0`.
    pub idempotency_key: String,
    /// Why, in plain words (same text as the [`Record::Fired`]).
    pub reason: String,
    /// 0 when caused by an outside event or a timer; see [`handle_caused`].
    pub depth: u8,
}

/// What the timeline must say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "record")]
pub enum Record {
    Fired {
        policy: String,
        reason: String,
        actions: Vec<Action>,
        /// How late the timer that caused this fired (`None`: on time or not timer-driven).
        late_by: Option<SignedDuration>,
    },
    Outcome(Outcome),
    /// A pending deadline stopped applying (conditions no longer hold, or the policy left the
    /// configuration); it has no outcome.
    Cancelled {
        policy: String,
        reason: String,
    },
    /// A configuration reload moved a pending timer ([`replan`]).
    Replanned {
        policy: String,
        key: String,
        from: Timestamp,
        to: Timestamp,
    },
    Error {
        policy: String,
        message: String,
    },
}

/// A deadline's result. `margin` = `due_at - at`: ≥ 0 when met; at expiry 0 (or minus the
/// timer's lateness). A missed outcome updated by [`Outcome::late_arrival`] says when the expected
/// milestone finally came (< 0) and who reached it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub policy: String,
    /// Which arming of the deadline (1 unless cancelled and re-armed).
    pub instance: u32,
    pub met: bool,
    pub at: Timestamp,
    pub due_at: Timestamp,
    pub margin: SignedDuration,
    /// Who reached the expected milestone (`None` when recorded at expiry).
    pub by: Option<String>,
}

impl Outcome {
    /// A missed outcome, as it reads once the expected milestone came late: at `at`, by `by`.
    /// Unchanged when met or already updated.
    pub fn late_arrival(&mut self, at: Timestamp, by: &str) {
        if self.met || self.by.is_some() || at < self.due_at {
            return;
        }
        self.at = at;
        self.margin = self.due_at.duration_since(at);
        self.by = Some(by.to_string());
    }
}

/// The milestone a deadline policy waits for (`None` for other triggers, an unknown id, or a
/// deadline expecting a role or an acknowledgement).
pub fn expected_milestone<'a>(policies: &'a [Policy], policy: &str) -> Option<&'a str> {
    expectation(policies, policy)?.milestone()
}

/// What a deadline policy waits for (`None` for other triggers or an unknown id).
pub fn expectation<'a>(policies: &'a [Policy], policy: &str) -> Option<&'a Expect> {
    match &policies.iter().find(|p| p.id == policy)?.trigger {
        Trigger::Deadline { expect, .. } => Some(expect),
        _ => None,
    }
}

/// Everything one [`handle`] call asks the shell to do, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Output {
    pub actions: Vec<PlannedAction>,
    pub timers: Vec<TimerOp>,
    pub records: Vec<Record>,
}

impl Output {
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty() && self.timers.is_empty() && self.records.is_empty()
    }

    /// Append another output (a follow-up's) after this one.
    pub fn extend(&mut self, other: Output) {
        self.actions.extend(other.actions);
        self.timers.extend(other.timers);
        self.records.extend(other.records);
    }
}
