//! The impure half of the policy engine: feeds the engine what happens to incidents and
//! carries out what it decides, inside the store transaction of the change that caused it.
//!
//! - Incident [`Change`]s become engine [`Event`]s ([`event_of`]); timers that come due become
//!   [`Event::TimerFired`] ([`PolicyTimers`], the scheduler's handler).
//! - The engine's [`Output`] becomes [`Effects`]: timers keyed `INC-7/<engine key>` (payload
//!   `{"engine": key}`), one outbox item per [`PlannedAction`] keyed `INC-7/<idempotency key>`,
//!   and timeline changes for its records. Assigning a role from a schedule resolves who is on
//!   call and feeds the assignment back to the engine (bounded by the engine's cascade depth).
//! - A page to an escalation policy runs that policy on the same timers: step 1 pages at once,
//!   each later step is a timer (`INC-7/esc:<page key>:<n>`), acknowledgement cancels the rest.
//!
//! The state persisted per incident is [`PolicyState`]: the engine's state and the running
//! escalations. It is written in the same transaction as the timers and outbox items, so a
//! crash can never leave them disagreeing.

use std::collections::{BTreeMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use muster_core::engine::{
    self, Action, Event, IncidentPolicyState, Output, PageTarget, PlannedAction, Record, Trigger,
};
use muster_core::escalation::{self, EscalationTarget};
use muster_core::{Change, DomainError, Incident, IncidentNumber};
use muster_store::{ClaimedTimer, Effects, FireOutcome, OutboxItem, Store, StoreError};
use muster_store::{TimerChange, TimerSpec};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::scheduler::{BoxFuture, TimerHandler};
use crate::{AppState, LoadedConfig};

/// A timer that fires within this of its due time counts as on time, so ordinary scheduling
/// jitter does not write "late by 0 s" on the timeline.
pub const LATE_TOLERANCE: SignedDuration = SignedDuration::from_secs(1);
/// Events one reaction handles at most (the engine bounds cascades by depth; this bounds
/// the fan-out of a single level too).
const MAX_EVENTS_PER_REACTION: usize = 256;

/// What is persisted per incident (as JSON, opaque to the store).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PolicyState {
    pub engine: IncidentPolicyState,
    /// Running or finished escalations, by the idempotency key of the page that started them.
    #[serde(default)]
    pub escalations: BTreeMap<String, EscalationRun>,
}

/// One escalation policy being run for an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRun {
    pub escalation_policy: String,
    pub started_at: Timestamp,
    /// The next step to page (index into [`steps`]) and when; `None` once finished or stopped.
    pub next: Option<(u32, Timestamp)>,
}

/// One step of an escalation plan: all targets notified at the same time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStep {
    pub pass: u32,
    pub step: u32,
    pub at: Timestamp,
    pub targets: Vec<EscalationTarget>,
}

impl PolicyState {
    /// Reads the stored JSON (`Null`: a fresh state).
    pub fn decode(value: &Value) -> Result<PolicyState, String> {
        if value.is_null() {
            return Ok(PolicyState::default());
        }
        serde_json::from_value(value.clone()).map_err(|e| format!("unreadable policy state: {e}"))
    }

    fn encode(&self) -> Value {
        // Serializing plain data into a Value cannot fail; Null would only reset the state.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The steps of an escalation policy started at `start`, in firing order.
pub fn steps(policy: &escalation::EscalationPolicy, start: Timestamp) -> Vec<PlannedStep> {
    let mut out: Vec<PlannedStep> = Vec::new();
    for n in escalation::plan(policy, start, None) {
        let step = u32::try_from(n.step).unwrap_or(u32::MAX);
        match out.last_mut() {
            Some(last) if last.pass == n.pass && last.step == step => last.targets.push(n.target),
            _ => out.push(PlannedStep {
                pass: n.pass,
                step,
                at: n.at,
                targets: vec![n.target],
            }),
        }
    }
    out
}

/// The engine event an incident change means, if any.
pub fn event_of(change: &Change, actor: &str) -> Option<Event> {
    Some(match change {
        Change::Declared {
            severity,
            services,
            incident_type,
            ..
        } => Event::Declared {
            severity: *severity,
            services: services.clone(),
            incident_type: incident_type.clone(),
            labels: BTreeMap::new(),
        },
        Change::ResponderJoined { person } => Event::ResponderJoined {
            person: person.clone(),
        },
        Change::ResponderLeft { person } => Event::ResponderLeft {
            person: person.clone(),
        },
        Change::NudgeAcknowledged { key } => Event::NudgeAcknowledged { key: key.clone() },
        Change::SeverityChanged { to, .. } => Event::SeverityChanged { to: *to },
        Change::StatusChanged { to, .. } | Change::Reopened { to } => {
            Event::StatusChanged { to: *to }
        }
        // The engine reaches `declared` from the Declared event itself; `declare` also
        // writes the milestone, which must not count twice.
        Change::MilestoneReached { milestone } if milestone == "declared" => return None,
        Change::MilestoneReached { milestone } if milestone == "status_update_posted" => {
            Event::StatusUpdatePosted {
                actor: actor.into(),
            }
        }
        Change::MilestoneReached { milestone } => Event::MilestoneReached {
            milestone: milestone.clone(),
            actor: actor.into(),
        },
        Change::RoleAssigned { role, person, .. } => Event::RoleAssigned {
            role: role.clone(),
            person: person.clone(),
        },
        Change::RoleReleased { role, .. } => Event::RoleReleased { role: role.clone() },
        Change::NoteAdded { .. } => Event::MessagePosted {
            person: actor.into(),
        },
        _ => return None,
    })
}

/// Run-time schedule overrides by schedule id, loaded before a decision so that pages and
/// role assignments reach whoever is really on call.
pub type RuntimeOverrides = BTreeMap<String, Vec<muster_core::schedule::Override>>;

/// The live run-time overrides of every schedule.
pub async fn runtime_overrides(store: &Store) -> Result<RuntimeOverrides, StoreError> {
    Ok(overrides_by_schedule(store.all_overrides().await?))
}

/// Stored overrides grouped by schedule, as the resolver takes them.
pub fn overrides_by_schedule(stored: Vec<muster_store::ScheduleOverride>) -> RuntimeOverrides {
    let mut out = RuntimeOverrides::new();
    for o in stored {
        out.entry(o.schedule.clone())
            .or_default()
            .push(crate::api::schedules::core_override(&o));
    }
    out
}

/// What the policies add to a decision about `incident` (before `changes` apply): more
/// timeline changes and the effects. `state` is the stored policy state, updated in place.
pub fn react(
    cfg: &LoadedConfig,
    overrides: &RuntimeOverrides,
    incident: &Incident,
    state: &mut Value,
    changes: &[Change],
    actor: &str,
    now: Timestamp,
) -> (Vec<Change>, Effects) {
    let mut run = Reaction::new(cfg, overrides, incident, millis(now));
    let Some(mut st) = run.decode(state) else {
        return run.finish();
    };
    for change in changes {
        run.note_change(change);
        if matches!(change, Change::MilestoneReached { milestone } if milestone == "acknowledged") {
            run.stop_escalations(&mut st, actor);
        }
    }
    let events = changes
        .iter()
        .filter_map(|c| event_of(c, actor))
        .map(|e| (e, 0))
        .collect();
    run.handle_all(&mut st, events);
    *state = st.encode();
    run.finish()
}

/// What an incident opened by an alert gets besides its declaration: the policies' reaction
/// to it, then the escalation policy of its service started at once (step 1 in the outbox,
/// later steps on timers), so an alert pages event-driven, not on the scheduler's next tick.
pub fn react_alert_declared(
    cfg: &LoadedConfig,
    overrides: &RuntimeOverrides,
    incident: &Incident,
    state: &mut Value,
    declared: &[Change],
    actor: &str,
    now: Timestamp,
) -> (Vec<Change>, Effects) {
    let (mut changes, mut effects) = react(cfg, overrides, incident, state, declared, actor, now);
    let eps: Vec<String> = incident
        .services
        .iter()
        .filter_map(|s| cfg.config.services.get(s)?.escalation_policy.clone())
        .collect();
    let mut run = Reaction::new(cfg, overrides, incident, millis(now));
    if let Some(mut st) = run.decode(state) {
        for ep in eps {
            run.start_escalation_run(&mut st, "alert", format!("alert:{ep}"), &ep);
        }
        *state = st.encode();
    }
    let (more, extra) = run.finish();
    changes.extend(more);
    effects.timers.extend(extra.timers);
    effects.outbox.extend(extra.outbox);
    (changes, effects)
}

/// What firing the timer `timer` decides for its incident.
pub fn on_timer(
    cfg: &LoadedConfig,
    overrides: &RuntimeOverrides,
    incident: Option<&Incident>,
    state: &mut Value,
    timer: &ClaimedTimer,
    now: Timestamp,
) -> (Vec<Change>, Effects) {
    let Some(incident) = incident else {
        return (Vec::new(), Effects::default());
    };
    let mut run = Reaction::new(cfg, overrides, incident, millis(now));
    let Some(mut st) = run.decode(state) else {
        return run.finish();
    };
    if let Some(key) = timer.payload.get("engine").and_then(Value::as_str) {
        run.engine_timer(&mut st, key);
    } else if let (Some(id), Some(n)) = (
        timer.payload.get("escalation").and_then(Value::as_str),
        timer.payload.get("step").and_then(Value::as_u64),
    ) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        if st.escalations.get(id).and_then(|r| r.next).map(|x| x.0) == Some(n) {
            run.escalation_step(&mut st, id, n, Some(timer.due_at));
        }
    }
    *state = st.encode();
    run.finish()
}

/// Who a timer's firing is attributed to on the timeline: the policy that set it.
pub fn timer_actor(timer: &ClaimedTimer) -> String {
    if let Some(key) = timer.payload.get("engine").and_then(Value::as_str) {
        return format!("policy:{}", key.split(':').nth(1).unwrap_or("unknown"));
    }
    "escalation".to_string()
}

/// One reaction: accumulates the changes and effects of one transaction.
struct Reaction<'a> {
    cfg: &'a LoadedConfig,
    overrides: &'a RuntimeOverrides,
    id: IncidentNumber,
    now: Timestamp,
    /// Role → holder, as of the changes seen so far.
    roles: BTreeMap<String, String>,
    /// Highest task number so far, so tasks a policy creates get the next ones.
    last_task: u32,
    changes: Vec<Change>,
    effects: Effects,
}

impl<'a> Reaction<'a> {
    fn new(
        cfg: &'a LoadedConfig,
        overrides: &'a RuntimeOverrides,
        incident: &Incident,
        now: Timestamp,
    ) -> Self {
        let roles = incident
            .roles
            .iter()
            .map(|(r, h)| (r.clone(), h.person.clone()))
            .collect();
        Reaction {
            cfg,
            overrides,
            id: incident.id,
            now,
            roles,
            last_task: incident.tasks.iter().map(|t| t.id).max().unwrap_or(0),
            changes: Vec::new(),
            effects: Effects::default(),
        }
    }

    fn finish(self) -> (Vec<Change>, Effects) {
        (self.changes, self.effects)
    }

    /// The stored state, or `None` (and an error on the timeline) when it cannot be read:
    /// the incident keeps working, its policies stop rather than guess.
    fn decode(&mut self, state: &Value) -> Option<PolicyState> {
        match PolicyState::decode(state) {
            Ok(st) => Some(st),
            Err(message) => {
                tracing::error!(incident = %self.id, %message, "policies skipped");
                self.changes.push(Change::PolicyError {
                    policy: "*".into(),
                    message,
                });
                None
            }
        }
    }

    fn note_change(&mut self, change: &Change) {
        match change {
            Change::RoleAssigned { role, person, .. } => {
                self.roles.insert(role.clone(), person.clone());
            }
            Change::RoleReleased { role, .. } => {
                self.roles.remove(role);
            }
            Change::TaskAdded { task_id, .. } => self.last_task = self.last_task.max(*task_id),
            _ => {}
        }
    }

    /// Handles `events` and every event their actions cause, breadth first.
    fn handle_all(&mut self, st: &mut PolicyState, events: Vec<(Event, u8)>) {
        let mut queue: VecDeque<(Event, u8)> = events.into();
        let mut handled = 0;
        while let Some((event, depth)) = queue.pop_front() {
            handled += 1;
            if handled > MAX_EVENTS_PER_REACTION {
                self.changes.push(Change::PolicyError {
                    policy: "*".into(),
                    message: format!(
                        "more than {MAX_EVENTS_PER_REACTION} policy events in one reaction; \
                         the rest were dropped"
                    ),
                });
                break;
            }
            let out =
                engine::handle_caused(&self.cfg.policies, &mut st.engine, &event, self.now, depth);
            for follow in self.carry_out(st, out) {
                queue.push_back(follow);
            }
        }
    }

    fn engine_timer(&mut self, st: &mut PolicyState, key: &str) {
        let due = st
            .engine
            .pending_timers()
            .find(|t| t.key == key)
            .map(|t| t.due_at);
        // Within the tolerance, the engine sees the due time itself: on time.
        if let Some(due) = due
            && self.now.duration_since(due) <= LATE_TOLERANCE
            && self.now >= due
        {
            self.now = due;
        }
        let out = engine::handle(
            &self.cfg.policies,
            &mut st.engine,
            &Event::TimerFired { key: key.into() },
            self.now,
        );
        let follow = self.carry_out(st, out);
        self.handle_all(st, follow);
    }

    /// Writes an engine output as effects and changes; returns the events its actions cause.
    fn carry_out(&mut self, st: &mut PolicyState, out: Output) -> Vec<(Event, u8)> {
        for op in out.timers {
            self.effects.timers.push(self.engine_timer_change(op));
        }
        let mut follow = Vec::new();
        let mut recipients: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for action in &out.actions {
            let to = self.action(st, action, &mut follow);
            recipients
                .entry((action.policy.clone(), action.reason.clone()))
                .or_default()
                .extend(to);
        }
        for record in out.records {
            let change = self.record(record, &mut recipients);
            self.changes.push(change);
        }
        follow
    }

    fn engine_timer_change(&self, op: engine::TimerOp) -> TimerChange {
        match op {
            engine::TimerOp::Set { key, due_at } => TimerChange::Set(TimerSpec {
                key: format!("{}/{key}", self.id),
                incident: Some(self.id),
                due_at,
                payload: json!({ "engine": key }),
            }),
            engine::TimerOp::Cancel { key } => TimerChange::Cancel {
                key: format!("{}/{key}", self.id),
            },
        }
    }

    /// Queues one action; returns who it reaches.
    fn action(
        &mut self,
        st: &mut PolicyState,
        pa: &PlannedAction,
        follow: &mut Vec<(Event, u8)>,
    ) -> Vec<String> {
        let to = match &pa.action {
            Action::Page {
                target: PageTarget::EscalationPolicy(ep),
            } => return self.start_escalation(st, pa, ep),
            Action::Page { target } => self.page_target(target),
            Action::Nudge { role, .. } => self.roles.get(role).cloned().into_iter().collect(),
            Action::Notify { alias, .. } => vec![format!("alias:{alias}")],
            Action::AssignRole { role, to } => self.assign(pa, role, to, follow),
            Action::CreateTask { title } => {
                self.add_task(title);
                Vec::new()
            }
            Action::DraftStatusUpdate { .. } => Vec::new(),
        };
        self.outbox(
            format!("{}/{}", self.id, pa.idempotency_key),
            pa.action.kind(),
            json!({
                "incident": self.id.to_string(),
                "policy": pa.policy,
                "reason": pa.reason,
                "action": pa.action,
                "to": to,
                "depth": pa.depth,
            }),
        );
        to
    }

    /// A policy's task goes straight onto the incident's checklist, in this transaction.
    fn add_task(&mut self, title: &str) {
        self.last_task += 1;
        self.changes.push(Change::TaskAdded {
            task_id: self.last_task,
            title: title.to_string(),
            assignee: None,
        });
    }

    fn outbox(&mut self, key: String, effect: &str, payload: Value) {
        self.effects.outbox.push(OutboxItem {
            idempotency_key: key,
            incident: Some(self.id),
            effect: effect.into(),
            payload,
        });
    }

    fn page_target(&self, target: &PageTarget) -> Vec<String> {
        match target {
            PageTarget::Schedule(s) => self.on_call(s),
            PageTarget::Person(p) => vec![p.clone()],
            PageTarget::Alias(a) => vec![format!("alias:{a}")],
            PageTarget::EscalationPolicy(e) => vec![format!("escalation:{e}")],
        }
    }

    /// Who is on call for `schedule` now, run-time overrides included (empty in a gap or
    /// when unknown).
    fn on_call(&self, schedule: &str) -> Vec<String> {
        let Some(mut resolved) = self.cfg.config.core_schedule(schedule) else {
            return Vec::new();
        };
        if let Some(extra) = self.overrides.get(schedule) {
            resolved.overrides.extend(extra.iter().cloned());
        }
        muster_core::schedule::on_call(&resolved, self.now)
    }

    /// Assigns a vacant role (a policy never takes a role from someone a person chose) and
    /// feeds the assignment back to the engine one level deeper.
    fn assign(
        &mut self,
        pa: &PlannedAction,
        role: &str,
        to: &engine::Assignee,
        follow: &mut Vec<(Event, u8)>,
    ) -> Vec<String> {
        let person = match to {
            engine::Assignee::Person(p) => Some(p.clone()),
            engine::Assignee::Schedule(s) => self.on_call(s).into_iter().next(),
        };
        let Some(person) = person.filter(|p| self.cfg.config.people.contains_key(p)) else {
            self.changes.push(Change::PolicyError {
                policy: pa.policy.clone(),
                message: format!("cannot assign {role}: nobody to assign it to right now"),
            });
            return Vec::new();
        };
        if self.roles.contains_key(role) || !self.cfg.vocab.roles.contains(role) {
            return vec![person];
        }
        self.roles.insert(role.into(), person.clone());
        self.changes.push(Change::RoleAssigned {
            role: role.into(),
            person: person.clone(),
            previous: None,
        });
        let event = Event::RoleAssigned {
            role: role.into(),
            person: person.clone(),
        };
        follow.push((event, pa.depth.saturating_add(1)));
        vec![person]
    }

    fn record(
        &self,
        record: Record,
        recipients: &mut BTreeMap<(String, String), Vec<String>>,
    ) -> Change {
        match record {
            Record::Fired {
                policy,
                reason,
                actions,
                late_by,
            } => Change::PolicyFired {
                recipients: recipients
                    .remove(&(policy.clone(), reason.clone()))
                    .unwrap_or_default(),
                policy,
                reason,
                actions,
                late_by_ms: late_by
                    .filter(|l| *l > LATE_TOLERANCE)
                    .map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
            },
            Record::Outcome(o) => Change::DeadlineOutcome {
                expect: self.expect_of(&o.policy),
                policy: o.policy,
                instance: o.instance,
                met: o.met,
                at: o.at,
                due_at: o.due_at,
                margin_secs: o.margin.as_secs(),
                by: o.by.filter(|b| !b.is_empty()),
            },
            Record::Cancelled { policy, reason } => Change::PolicyCancelled { policy, reason },
            Record::Error { policy, message } => Change::PolicyError { policy, message },
        }
    }

    fn expect_of(&self, policy: &str) -> String {
        self.cfg
            .policies
            .iter()
            .find(|p| p.id == policy)
            .and_then(|p| match &p.trigger {
                Trigger::Deadline { expect, .. } => Some(expect.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Starts escalation policy `ep` for the page `pa`: step 1 now, the rest on timers.
    fn start_escalation(
        &mut self,
        st: &mut PolicyState,
        pa: &PlannedAction,
        ep: &str,
    ) -> Vec<String> {
        self.start_escalation_run(st, &pa.policy, pa.idempotency_key.clone(), ep)
    }

    /// Starts escalation policy `ep` as run `run_id` on behalf of `policy` (a policy id, or
    /// `alert` for the service's own escalation when an alert opens an incident).
    fn start_escalation_run(
        &mut self,
        st: &mut PolicyState,
        policy: &str,
        run_id: String,
        ep: &str,
    ) -> Vec<String> {
        if st.escalations.contains_key(&run_id) {
            return Vec::new();
        }
        if self.cfg.config.core_escalation_policy(ep).is_none() {
            self.changes.push(Change::PolicyError {
                policy: policy.into(),
                message: format!("escalation policy `{ep}` is not configured; nobody paged"),
            });
            return Vec::new();
        }
        st.escalations.insert(
            run_id.clone(),
            EscalationRun {
                escalation_policy: ep.into(),
                started_at: self.now,
                next: Some((0, self.now)),
            },
        );
        self.escalation_step(st, &run_id, 0, None)
    }

    /// Pages step `n` of the escalation `run_id` and arms the timer of the next one.
    fn escalation_step(
        &mut self,
        st: &mut PolicyState,
        run_id: &str,
        n: u32,
        due: Option<Timestamp>,
    ) -> Vec<String> {
        let Some(run) = st.escalations.get_mut(run_id) else {
            return Vec::new();
        };
        let plan = self
            .cfg
            .config
            .core_escalation_policy(&run.escalation_policy)
            .map(|p| steps(&p, run.started_at))
            .unwrap_or_default();
        let Some(step) = plan.get(n as usize) else {
            run.next = None;
            return Vec::new();
        };
        let ep = run.escalation_policy.clone();
        let started = run.started_at;
        run.next = plan.get(n as usize + 1).map(|s| (n + 1, s.at));
        let next = run.next;
        let mut paged = Vec::new();
        for (i, target) in step.targets.iter().enumerate() {
            let to = self.escalation_target(target);
            self.outbox(
                format!("{}/{run_id}/esc:{}:{}:{i}", self.id, step.pass, step.step),
                "page",
                json!({
                    "incident": self.id.to_string(),
                    "escalation_policy": ep,
                    "pass": step.pass,
                    "step": step.step,
                    "target": target,
                    "to": to,
                }),
            );
            paged.extend(to);
        }
        let reason = if n == 0 {
            format!("escalation {ep} started at {}", hm(started))
        } else {
            format!(
                "not acknowledged {} after escalation {ep} started at {}",
                dur(step.at.duration_since(started)),
                hm(started)
            )
        };
        let late = due.map(|d| self.now.duration_since(d));
        self.changes.push(Change::EscalationStep {
            escalation_policy: ep,
            pass: step.pass,
            step: step.step,
            paged: paged.clone(),
            reason,
            late_by_ms: late
                .filter(|l| *l > LATE_TOLERANCE)
                .map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
        });
        if let Some((m, at)) = next {
            self.effects.timers.push(TimerChange::Set(TimerSpec {
                key: escalation_key(self.id, run_id, m),
                incident: Some(self.id),
                due_at: at,
                payload: json!({ "escalation": run_id, "step": m }),
            }));
        }
        paged
    }

    fn escalation_target(&self, target: &EscalationTarget) -> Vec<String> {
        match target {
            EscalationTarget::Schedule(s) => self.on_call(s),
            EscalationTarget::Person(p) => vec![p.clone()],
            EscalationTarget::Alias(a) => vec![format!("alias:{a}")],
            EscalationTarget::SlackChannel(c) => vec![c.clone()],
        }
    }

    /// Acknowledgement stops every running escalation: its pending step timer is cancelled.
    fn stop_escalations(&mut self, st: &mut PolicyState, by: &str) {
        for (run_id, run) in st.escalations.iter_mut() {
            let Some((n, _)) = run.next.take() else {
                continue;
            };
            self.effects.timers.push(TimerChange::Cancel {
                key: escalation_key(self.id, run_id, n),
            });
            self.changes.push(Change::EscalationStopped {
                escalation_policy: run.escalation_policy.clone(),
                reason: format!("acknowledged by {by} at {}", hm(self.now)),
            });
        }
    }
}

fn escalation_key(id: IncidentNumber, run_id: &str, n: u32) -> String {
    format!("{id}/esc:{run_id}:{n}")
}

/// Millisecond precision, as the store keeps times, so the engine's times match the timeline's.
fn millis(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

fn hm(t: Timestamp) -> String {
    t.strftime("%H:%M UTC").to_string()
}

fn dur(d: SignedDuration) -> String {
    let secs = d.as_secs().unsigned_abs();
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s} s"),
        (m, 0) => format!("{m} min"),
        (m, s) => format!("{m} min {s} s"),
    }
}

/// The scheduler's handler: fires policy and escalation timers through the engine, with the
/// configuration in force at firing time (a reload applies to timers already armed).
pub struct PolicyTimers {
    state: AppState,
}

impl PolicyTimers {
    pub fn new(state: AppState) -> Self {
        PolicyTimers { state }
    }
}

impl TimerHandler for PolicyTimers {
    fn fire<'a>(
        &'a self,
        store: &'a Store,
        timer: &'a ClaimedTimer,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<FireOutcome, StoreError>> {
        Box::pin(async move {
            if crate::slack::clock_header::is_refresh(&timer.payload) {
                return crate::slack::clock_header::fire(&self.state, store, timer, now).await;
            }
            if let Some(integration) = crate::intake::heartbeat::watched(&timer.payload) {
                return fire_heartbeat(&self.state, store, timer, integration, now).await;
            }
            let cfg = self.state.config();
            let overrides = runtime_overrides(store).await?;
            let actor = timer_actor(timer);
            store
                .fire_timer_with_policy(
                    timer,
                    now,
                    |incident, state| -> Result<_, DomainError> {
                        let (changes, mut effects) =
                            on_timer(&cfg, &overrides, incident, state, timer, now);
                        if let Some(incident) = incident {
                            // What a policy did shows in the incident's Slack header at once.
                            let refresh =
                                crate::slack::channel::on_change(&cfg, incident, &changes);
                            effects.outbox.extend(refresh);
                        }
                        Ok((changes, effects))
                    },
                    &actor,
                )
                .await
        })
    }
}

/// A heartbeat deadline passed without a ping: the missed alert opens (dedup makes a retry
/// after a crash between the two transactions harmless), then the timer is marked fired.
async fn fire_heartbeat(
    state: &AppState,
    store: &Store,
    timer: &ClaimedTimer,
    integration: &str,
    now: Timestamp,
) -> Result<FireOutcome, StoreError> {
    let cfg = state.config();
    let found = cfg.config.integrations.get(integration).cloned();
    if let Some(found) = found {
        let last = timer.payload.get("last_ping").and_then(Value::as_str);
        match crate::intake::heartbeat::missed(&found, last, now) {
            Ok(signal) => {
                crate::api::alerts::ingest(state, integration, vec![signal], Effects::default())
                    .await?;
            }
            Err(message) => tracing::warn!(%integration, %message, "heartbeat alert not opened"),
        }
    }
    store
        .fire_timer(
            timer,
            now,
            |_| Ok((Vec::new(), Effects::default())),
            &timer_actor(timer),
        )
        .await
}
