//! The policies' part of a reaction: feeds the engine what happens to incidents and carries
//! out what it decides, inside the store transaction of the change that caused it.
//!
//! - Incident [`Change`]s become engine [`Event`]s ([`event_of`]); timers that come due become
//!   [`Event::TimerFired`] ([`on_timer`]).
//! - The engine's [`Output`] becomes a [`Followup`]: timers keyed `INC-7/<engine key>` (payload
//!   `{"engine": key}`), one outbox item per [`PlannedAction`] keyed `INC-7/<idempotency key>`,
//!   and timeline changes for its records. Assigning a role from a schedule resolves who is on
//!   call and feeds the assignment back to the engine (bounded by the engine's cascade depth).
//! - A page to an escalation policy runs that policy on the same timers: step 1 pages at once,
//!   each later step is a timer (`INC-7/esc:<page key>:<n>`), acknowledgement cancels the rest.
//!
//! Changes the policies make name them as their actor (`policy:<id>`, `escalation:<id>`),
//! even inside a person's request. The state persisted per incident is [`PolicyState`]: the
//! engine's state and the running escalations. It is written in the same transaction as the timers and outbox items, so a
//! crash can never leave them disagreeing.

use std::collections::{BTreeMap, VecDeque};

use jiff::{SignedDuration, Timestamp};
use muster_core::engine::{
    self, Action, Event, Output, PageTarget, PlannedAction, Record, event_of,
};
use muster_core::escalation::EscalationTarget;
use muster_core::{Change, Incident, IncidentNumber};
use muster_store::{ClaimedTimer, TimerChange, TimerSpec};
use serde_json::{Value, json};

use super::{Followup, Reactions};
use crate::LoadedConfig;
use crate::effect::{Effect, Message, Origin};
use crate::oncall::{self, RuntimeOverrides};
use crate::policy_state::{DrillState, EscalationRun, PolicyState, steps};

/// A timer that fires within this of its due time counts as on time, so ordinary scheduling
/// jitter does not write "late by 0 s" on the timeline.
pub const LATE_TOLERANCE: SignedDuration = SignedDuration::from_secs(1);
/// Events one reaction handles at most (the engine bounds cascades by depth; this bounds
/// the fan-out of a single level too).
const MAX_EVENTS_PER_REACTION: usize = 256;

/// What the policies add to a decision about `incident` (before `changes` apply): more
/// timeline changes and the effects. `state` is the stored policy state, updated in place.
pub fn react(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    changes: &[Change],
    actor: &str,
) -> Followup {
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
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

/// The policies' reaction to notifications decided outside them (a playbook's notify):
/// `notified` holds each one's idempotency key and audience.
pub fn notified(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    notified: Vec<(String, engine::Audience)>,
) -> Followup {
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
    if notified.is_empty() {
        return run.finish();
    }
    let Some(mut st) = run.decode(state) else {
        return run.finish();
    };
    let events = notified
        .into_iter()
        .map(|(key, audience)| (Event::AudienceNotified { key, audience }, 0))
        .collect();
    run.handle_all(&mut st, events);
    *state = st.encode();
    run.finish()
}

/// The escalation policies of an alert-opened incident's services, started at once (step 1
/// in the outbox, later steps on timers), so an alert pages event-driven, not on the
/// scheduler's next tick.
pub fn start_service_escalations(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
) -> Followup {
    let eps: Vec<String> = incident
        .services
        .iter()
        .filter_map(|s| ctx.cfg.config.services.get(s)?.escalation_policy.clone())
        .collect();
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
    if let Some(mut st) = run.decode(state) {
        for ep in eps {
            run.start_escalation_run(&mut st, "alert", format!("alert:{ep}"), &ep);
        }
        *state = st.encode();
    }
    run.finish()
}

/// What a configuration reload means for the incident's armed policy timers.
pub fn replan(ctx: &Reactions<'_>, incident: &Incident, state: &mut Value) -> Followup {
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
    let Some(mut st) = run.decode(state) else {
        return run.finish();
    };
    let out = engine::replan(&ctx.cfg.policies, &mut st.engine, run.now);
    if out.is_empty() {
        return run.finish();
    }
    run.carry_out(&mut st, out);
    *state = st.encode();
    run.finish()
}

/// What firing the timer `timer` decides for its incident.
pub fn on_timer(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    timer: &ClaimedTimer,
) -> Followup {
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
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
            run.escalation_step(&mut st, id, n, Some(timer.due_at), None);
        }
    }
    *state = st.encode();
    run.finish()
}

/// "Escalate now", asked by `by` (a page's recipient): every running escalation pages its
/// next step at once — that step's timer cancelled, the one after armed as usual. Also the
/// people and channels paged (none: nothing was left to escalate to).
pub fn escalate_now(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    by: &str,
) -> (Followup, Vec<String>) {
    let mut run = Reaction::new(ctx.cfg, ctx.overrides, incident, millis(ctx.now));
    let Some(mut st) = run.decode(state) else {
        return (run.finish(), Vec::new());
    };
    let next: Vec<(String, u32)> = st
        .escalations
        .iter()
        .filter_map(|(id, r)| r.next.map(|(n, _)| (id.clone(), n)))
        .collect();
    let mut paged = Vec::new();
    for (run_id, n) in next {
        run.out.timer(TimerChange::Cancel {
            key: escalation_key(run.id, &run_id, n),
        });
        paged.extend(run.escalation_step(&mut st, &run_id, n, None, Some(by)));
    }
    *state = st.encode();
    (run.finish(), paged)
}

/// Who a timer's firing is attributed to on the timeline: the policy that set it.
pub fn timer_actor(timer: &ClaimedTimer) -> String {
    if let Some(key) = timer.payload.get("engine").and_then(Value::as_str) {
        return format!("policy:{}", key.split(':').nth(1).unwrap_or("unknown"));
    }
    match timer.payload.get("escalation").and_then(Value::as_str) {
        Some(run) => format!("escalation:{}", run_policy(run)),
        None => "escalation".to_string(),
    }
}

/// The escalation policy a run id names: `alert:<ep>`, or a policy page's key.
fn run_policy(run: &str) -> &str {
    run.strip_prefix("alert:").unwrap_or(run)
}

fn by_policy(policy: &str) -> Option<String> {
    Some(format!("policy:{policy}"))
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
    /// A drill's incident: its players take the roles, nothing reaches a real rotation.
    drill: Option<DrillState>,
    out: Followup,
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
            drill: None,
            out: Followup::default(),
        }
    }

    fn finish(self) -> Followup {
        self.out
    }

    /// The stored state, or `None` (and an error on the timeline) when it cannot be read:
    /// the incident keeps working, its policies stop rather than guess.
    fn decode(&mut self, state: &Value) -> Option<PolicyState> {
        match PolicyState::decode(state) {
            Ok(st) => {
                self.drill.clone_from(&st.drill);
                Some(st)
            }
            Err(message) => {
                tracing::error!(incident = %self.id, %message, "policies skipped");
                self.out.push(
                    by_policy("*"),
                    Change::PolicyError {
                        policy: "*".into(),
                        message,
                    },
                );
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
                let message = format!(
                    "more than {MAX_EVENTS_PER_REACTION} policy events in one reaction; \
                     the rest were dropped"
                );
                let policy = "*".to_string();
                self.out
                    .push(by_policy(&policy), Change::PolicyError { policy, message });
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
            let timer = self.engine_timer_change(op);
            self.out.timer(timer);
        }
        let mut follow = Vec::new();
        let mut recipients: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for action in &out.actions {
            let to = self.action(st, action, &mut follow);
            if let Some(audience) = action.action.audience() {
                let key = action.idempotency_key.clone();
                let event = Event::AudienceNotified { key, audience };
                follow.push((event, action.depth.saturating_add(1)));
            }
            recipients
                .entry((action.policy.clone(), action.reason.clone()))
                .or_default()
                .extend(to);
        }
        for record in out.records {
            let (policy, change) = self.record(record, &mut recipients);
            self.out.push(by_policy(&policy), change);
        }
        follow
    }

    fn engine_timer_change(&self, op: engine::TimerOp) -> TimerChange {
        match op {
            engine::TimerOp::Set { key, due_at } => TimerChange::Set(super::drill::on_clock(
                self.drill.as_ref(),
                TimerSpec {
                    key: format!("{}/{key}", self.id),
                    incident: Some(self.id),
                    due_at,
                    payload: json!({ "engine": key }),
                },
            )),
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
            // A drill pages no rotation: the page lands in the drill's inbox under its name.
            Action::Page { target } if self.drill.is_some() => {
                vec![super::drill::stand_in(target)]
            }
            Action::Page {
                target: PageTarget::EscalationPolicy(ep),
            } => return self.start_escalation(st, pa, ep),
            Action::Page { target } => self.page_target(target),
            Action::Nudge { role, .. } => self.roles.get(role).cloned().into_iter().collect(),
            Action::Notify { alias, .. } => vec![format!("alias:{alias}")],
            Action::AssignRole { role, to } => self.assign(pa, role, to, follow),
            Action::CreateTask { title } => {
                self.add_task(&pa.policy, title);
                Vec::new()
            }
            Action::DraftStatusUpdate { .. } => Vec::new(),
        };
        let message = Message {
            incident: Some(self.id.to_string()),
            to: to.clone(),
            exercise: self.drill.is_some(),
            origin: Origin::Policy {
                policy: pa.policy.clone(),
                reason: pa.reason.clone(),
                action: Some(pa.action.clone()),
                depth: pa.depth,
                playbook: None,
            },
        };
        let key = format!("{}/{}", self.id, pa.idempotency_key);
        self.out
            .outbox(Effect::of_action(&pa.action, message).item(key, Some(self.id)));
        to
    }

    /// A policy's task goes straight onto the incident's checklist, in this transaction.
    fn add_task(&mut self, policy: &str, title: &str) {
        self.last_task += 1;
        let task = Change::TaskAdded {
            task_id: self.last_task,
            title: title.to_string(),
            assignee: None,
        };
        self.out.push(by_policy(policy), task);
    }

    fn page_target(&self, target: &PageTarget) -> Vec<String> {
        match target {
            PageTarget::Schedule(s) => self.on_call(s),
            PageTarget::Person(p) => vec![p.clone()],
            PageTarget::Alias(a) => vec![format!("alias:{a}")],
            PageTarget::EscalationPolicy(e) => vec![format!("escalation:{e}")],
        }
    }

    /// Who is on call for `schedule` now, run-time overrides included.
    fn on_call(&self, schedule: &str) -> Vec<String> {
        oncall::on_call(&self.cfg.config, self.overrides, schedule, self.now)
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
        let person = match (&self.drill, to) {
            // In a drill the role goes to whoever plays it, never to the real rotation.
            (Some(drill), _) => drill.players.get(role).cloned(),
            (None, engine::Assignee::Person(p)) => Some(p.clone()),
            (None, engine::Assignee::Schedule(s)) => self.on_call(s).into_iter().next(),
        };
        let Some(person) = person.filter(|p| self.cfg.config.people.contains_key(p)) else {
            let message = format!("cannot assign {role}: nobody to assign it to right now");
            let error = Change::PolicyError {
                policy: pa.policy.clone(),
                message,
            };
            self.out.push(by_policy(&pa.policy), error);
            return Vec::new();
        };
        if self.roles.contains_key(role) || !self.cfg.vocab.roles.contains(role) {
            return vec![person];
        }
        self.roles.insert(role.into(), person.clone());
        let assigned = Change::RoleAssigned {
            role: role.into(),
            person: person.clone(),
            previous: None,
        };
        self.out.push(by_policy(&pa.policy), assigned);
        let event = Event::RoleAssigned {
            role: role.into(),
            person: person.clone(),
        };
        follow.push((event, pa.depth.saturating_add(1)));
        vec![person]
    }

    /// The timeline change of an engine record, and the policy that made it.
    fn record(
        &self,
        record: Record,
        recipients: &mut BTreeMap<(String, String), Vec<String>>,
    ) -> (String, Change) {
        let policy = match &record {
            Record::Fired { policy, .. }
            | Record::Cancelled { policy, .. }
            | Record::Replanned { policy, .. }
            | Record::Error { policy, .. } => policy.clone(),
            Record::Outcome(o) => o.policy.clone(),
        };
        let change = match record {
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
                expect: self.cfg.expectation_key(&o.policy).unwrap_or_default(),
                policy: o.policy,
                instance: o.instance,
                met: o.met,
                at: o.at,
                due_at: o.due_at,
                margin_secs: o.margin.as_secs(),
                by: o.by.filter(|b| !b.is_empty()),
            },
            Record::Cancelled { policy, reason } => Change::PolicyCancelled { policy, reason },
            Record::Replanned {
                policy,
                key,
                from,
                to,
            } => Change::PolicyReplanned {
                policy,
                key,
                from,
                to,
            },
            Record::Error { policy, message } => Change::PolicyError { policy, message },
        };
        (policy, change)
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
            let message = format!("escalation policy `{ep}` is not configured; nobody paged");
            let error = Change::PolicyError {
                policy: policy.into(),
                message,
            };
            self.out.push(by_policy(policy), error);
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
        self.escalation_step(st, &run_id, 0, None, None)
    }

    /// Pages step `n` of the escalation `run_id` and arms the timer of the next one.
    fn escalation_step(
        &mut self,
        st: &mut PolicyState,
        run_id: &str,
        n: u32,
        due: Option<Timestamp>,
        asked_by: Option<&str>,
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
            let page = Effect::Page(Message {
                incident: Some(self.id.to_string()),
                to: to.clone(),
                exercise: self.drill.is_some(),
                origin: Origin::Escalation {
                    escalation_policy: ep.clone(),
                    pass: step.pass,
                    step: step.step,
                    target: target.clone(),
                },
            });
            let key = format!("{}/{run_id}/esc:{}:{}:{i}", self.id, step.pass, step.step);
            self.out.outbox(page.item(key, Some(self.id)));
            paged.extend(to);
        }
        let reason = if let Some(by) = asked_by {
            format!(
                "{by} escalated now, {} after escalation {ep} started at {}",
                dur(self.now.duration_since(started)),
                hm(started)
            )
        } else if n == 0 {
            format!("escalation {ep} started at {}", hm(started))
        } else {
            format!(
                "not acknowledged {} after escalation {ep} started at {}",
                dur(step.at.duration_since(started)),
                hm(started)
            )
        };
        let late = due.map(|d| self.now.duration_since(d));
        let by = Some(format!("escalation:{ep}"));
        let change = Change::EscalationStep {
            escalation_policy: ep,
            pass: step.pass,
            step: step.step,
            paged: paged.clone(),
            reason,
            late_by_ms: late
                .filter(|l| *l > LATE_TOLERANCE)
                .map(|l| i64::try_from(l.as_millis()).unwrap_or(i64::MAX)),
        };
        self.out.push(by, change);
        if let Some((m, at)) = next {
            self.out.timer(TimerChange::Set(TimerSpec {
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
            self.out.timer(TimerChange::Cancel {
                key: escalation_key(self.id, run_id, n),
            });
            // The acknowledgement stopped it: the change keeps the acknowledger as its actor.
            let stopped = Change::EscalationStopped {
                escalation_policy: run.escalation_policy.clone(),
                reason: format!("acknowledged by {by} at {}", hm(self.now)),
            };
            self.out.push(None, stopped);
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
    muster_core::words::duration(d)
}
