//! [`simulate`]: the engine on a simulated clock, for policy tests, replay, drills and staffing.
//! [`Simulator`] is the same loop one step at a time, for callers (drills) whose next events
//! depend on what has happened so far.

use std::borrow::Borrow;
use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};

use super::handle::add;
use super::{
    Event, Expect, IncidentPolicyState, Outcome, Output, PlannedAction, Policy, Record, TimerOp,
    expectation, follow_up, handle_caused,
};

/// At most this many timer firings per simulation (a guard; cadences are bounded by `until`).
const MAX_TIMER_FIRINGS: usize = 100_000;

/// Everything a simulated incident did, in the order it happened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Simulation {
    pub actions: Vec<(Timestamp, PlannedAction)>,
    pub records: Vec<(Timestamp, Record)>,
    /// The final outcome of each deadline instance (a missed one updated by the expected
    /// milestone's late arrival, see [`Outcome::late_arrival`]).
    pub outcomes: Vec<Outcome>,
    /// Every timer set, cancelled and fired, in order.
    pub timer_log: Vec<(Timestamp, TimerLog)>,
    /// The state at the end (pending timers are still in it).
    pub state: IncidentPolicyState,
}

/// One entry of [`Simulation::timer_log`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerLog {
    Op(TimerOp),
    Fired { key: String },
}

/// Run `events` (offsets from `start`; ties keep their order) through the engine, firing timers
/// as the simulated clock passes them, until `start + until` (or the last event, if later).
///
/// At one instant, events come first, then the timers due at that instant: a milestone reached
/// exactly at the deadline counts as met. Follow-up events of actions ([`follow_up`]) are fed
/// back at the same instant, depth-bounded like the live system.
///
/// `events` may hold `Event`s or references to them (`&[(SignedDuration, &Event)]`), so a
/// caller with recorded events need not clone them.
pub fn simulate<E: Borrow<Event>>(
    policies: &[Policy],
    start: Timestamp,
    events: &[(SignedDuration, E)],
    until: SignedDuration,
) -> Simulation {
    let mut sim = Simulator::new(policies);
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].0);
    for i in order {
        let (offset, event) = &events[i];
        sim.feed(event.borrow(), add(start, *offset), &follow_up);
    }
    sim.advance(add(start, until), true, &follow_up);
    sim.finish()
}

/// The engine driven step by step on a simulated clock: [`Simulator::feed`] an event at an
/// instant (the timers due before it fire first), [`Simulator::advance`] to let time pass.
/// `follow` turns an action into the event it causes (usually [`follow_up`]; a drill also
/// hands roles to the participants who play them).
pub struct Simulator<'p> {
    policies: &'p [Policy],
    sim: Simulation,
    firings: usize,
    queue: VecDeque<(Event, u8)>,
}

/// What an action causes, as [`Simulator`] asks it.
pub type FollowUp<'a> = &'a dyn Fn(&PlannedAction) -> Option<Event>;

impl<'p> Simulator<'p> {
    pub fn new(policies: &'p [Policy]) -> Self {
        Simulator {
            policies,
            sim: Simulation::default(),
            firings: 0,
            queue: VecDeque::new(),
        }
    }

    /// What happened so far.
    pub fn simulation(&self) -> &Simulation {
        &self.sim
    }

    /// Fire the timers due before `at`, then handle `event` at `at`.
    pub fn feed(&mut self, event: &Event, at: Timestamp, follow: FollowUp<'_>) {
        self.advance(at, false, follow);
        self.step(event, at, follow);
    }

    /// Fire every pending timer due before `limit` (or at it, when `inclusive`), in due order.
    pub fn advance(&mut self, limit: Timestamp, inclusive: bool, follow: FollowUp<'_>) {
        while let Some((key, due)) = self.sim.state.next_timer() {
            if due > limit || (due == limit && !inclusive) {
                return;
            }
            if self.firings >= MAX_TIMER_FIRINGS {
                let policy = key.split(':').nth(1).unwrap_or_default().to_string();
                self.sim.records.push((
                    due,
                    Record::Error {
                        policy,
                        message: format!(
                            "simulation stopped after {MAX_TIMER_FIRINGS} timer firings"
                        ),
                    },
                ));
                self.sim.state.timers.clear();
                return;
            }
            self.firings += 1;
            let key = key.to_string();
            self.sim
                .timer_log
                .push((due, TimerLog::Fired { key: key.clone() }));
            self.step(&Event::TimerFired { key }, due, follow);
        }
    }

    pub fn finish(self) -> Simulation {
        self.sim
    }

    /// Handle one event and, breadth first, the follow-up events its actions cause.
    fn step(&mut self, event: &Event, at: Timestamp, follow: FollowUp<'_>) {
        if let Some((key, actor)) = reached_by(event) {
            for o in &mut self.sim.outcomes {
                if expectation(self.policies, &o.policy).map(Expect::key) == Some(key.clone()) {
                    o.late_arrival(at, actor);
                }
            }
        }
        let out = handle_caused(self.policies, &mut self.sim.state, event, at, 0);
        self.absorb(out, at, follow);
        while let Some((event, depth)) = self.queue.pop_front() {
            let out = handle_caused(self.policies, &mut self.sim.state, &event, at, depth);
            self.absorb(out, at, follow);
        }
    }

    /// Collect one output; queue the follow-up events of its actions.
    fn absorb(&mut self, out: Output, at: Timestamp, follow: FollowUp<'_>) {
        let sim = &mut self.sim;
        for action in out.actions {
            if let Some(next) = follow(&action) {
                self.queue.push_back((next, action.depth.saturating_add(1)));
            }
            sim.actions.push((at, action));
        }
        for op in out.timers {
            sim.timer_log.push((at, TimerLog::Op(op)));
        }
        for record in out.records {
            if let Record::Outcome(o) = &record {
                match sim
                    .outcomes
                    .iter_mut()
                    .find(|x| x.policy == o.policy && x.instance == o.instance)
                {
                    Some(x) => *x = o.clone(),
                    None => sim.outcomes.push(o.clone()),
                }
            }
            sim.records.push((at, record));
        }
    }
}

/// What an event reaches that a deadline may expect (its key, see [`Expect::key`]), and who.
fn reached_by(event: &Event) -> Option<(String, &str)> {
    Some(match event {
        Event::MilestoneReached { milestone, actor } => (milestone.clone(), actor),
        Event::StatusUpdatePosted { actor } => ("status_update_posted".into(), actor),
        Event::RoleAssigned { role, person } => (format!("role:{role}"), person),
        Event::AudienceAcknowledged { audience, by, .. } => {
            (format!("acknowledged_by:{}", audience.key()), by)
        }
        _ => return None,
    })
}
