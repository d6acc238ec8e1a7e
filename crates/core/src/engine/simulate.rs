//! [`simulate`]: the engine on a simulated clock, for policy tests, replay, drills and staffing.

use std::borrow::Borrow;
use std::collections::VecDeque;

use jiff::{SignedDuration, Timestamp};

use super::handle::add;
use super::{
    Event, IncidentPolicyState, Outcome, Output, PlannedAction, Policy, Record, TimerOp,
    expected_milestone, follow_up, handle_caused,
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
    let mut sim = Simulation::default();
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| events[i].0);
    let mut firings = 0usize;
    let mut queue = VecDeque::new();
    for i in order {
        let (offset, event) = &events[i];
        let at = add(start, *offset);
        fire_due(policies, &mut sim, at, false, &mut firings, &mut queue);
        step(policies, &mut sim, event.borrow(), at, &mut queue);
    }
    let end = add(start, until);
    fire_due(policies, &mut sim, end, true, &mut firings, &mut queue);
    sim
}

/// Fire every pending timer due before `limit` (or at it, when `inclusive`), in due order.
fn fire_due(
    policies: &[Policy],
    sim: &mut Simulation,
    limit: Timestamp,
    inclusive: bool,
    firings: &mut usize,
    queue: &mut VecDeque<(Event, u8)>,
) {
    while let Some((key, due)) = sim.state.next_timer() {
        if due > limit || (due == limit && !inclusive) {
            return;
        }
        if *firings >= MAX_TIMER_FIRINGS {
            let policy = key.split(':').nth(1).unwrap_or_default().to_string();
            sim.records.push((
                due,
                Record::Error {
                    policy,
                    message: format!("simulation stopped after {MAX_TIMER_FIRINGS} timer firings"),
                },
            ));
            sim.state.timers.clear();
            return;
        }
        *firings += 1;
        let key = key.to_string();
        sim.timer_log
            .push((due, TimerLog::Fired { key: key.clone() }));
        step(policies, sim, &Event::TimerFired { key }, due, queue);
    }
}

/// Handle one event and, breadth first, the follow-up events its actions cause.
fn step(
    policies: &[Policy],
    sim: &mut Simulation,
    event: &Event,
    at: Timestamp,
    queue: &mut VecDeque<(Event, u8)>,
) {
    let reached = match event {
        Event::MilestoneReached { milestone, actor } => Some((milestone.as_str(), actor)),
        Event::StatusUpdatePosted { actor } => Some(("status_update_posted", actor)),
        _ => None,
    };
    if let Some((milestone, actor)) = reached {
        for o in &mut sim.outcomes {
            if expected_milestone(policies, &o.policy) == Some(milestone) {
                o.late_arrival(at, actor);
            }
        }
    }
    let out = handle_caused(policies, &mut sim.state, event, at, 0);
    absorb(sim, out, at, queue);
    while let Some((event, depth)) = queue.pop_front() {
        let out = handle_caused(policies, &mut sim.state, &event, at, depth);
        absorb(sim, out, at, queue);
    }
}

/// Collect one output into the simulation; queue the follow-up events of its actions.
fn absorb(sim: &mut Simulation, out: Output, at: Timestamp, queue: &mut VecDeque<(Event, u8)>) {
    for action in out.actions {
        if let Some(next) = follow_up(&action) {
            queue.push_back((next, action.depth.saturating_add(1)));
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
