//! Staffing: how many people a rotation needs to meet its response-time SLOs, and what being
//! on call costs them. A Monte Carlo simulator over the real schedules and escalation policies,
//! Erlang C for the textbook queue, and a sweep over rotation sizes and patterns.
//!
//! # Semantics (the contract the simulator keeps)
//!
//! - **Horizon.** A run covers `weeks` weeks from `start`. Time inside a run is seconds since
//!   `start` (`f64`). Runs are independent; run `r` of a report seeded `s` uses seed `s + r`, so
//!   the same model and seed give the same report whatever the number of threads.
//! - **Arrivals.** Each [`Stream`] (one severity) is a Poisson process whose rate in each hour
//!   is `per_week × shape[hour of week] / Σ shape`, the hour of week (Monday 00:00 = 0) read in
//!   `shape_zone`. An incident lands on a service, i.e. an escalation policy, drawn by weight.
//! - **Who is paged.** The escalation policy's steps fire at their offsets (the core's
//!   `escalation::plan` timing: step delays summed across passes, `repeat` extra passes) until
//!   someone has acknowledged. A schedule target pages whoever is on call at that instant, read
//!   from a shift table precomputed per schedule by the core's `Resolver` (layers,
//!   restrictions, overrides); a person target pages that person. Slack channels page nobody.
//! - **Acknowledgement.** A paged person is absent with probability `absence` (never
//!   acknowledges that page); otherwise they acknowledge after the delay of their first
//!   notification channel plus a lognormal delay for their state at the page's local time in
//!   their own zone: asleep 23:00–07:00, commuting 08:00–09:00 and 17:00–18:00 on weekdays,
//!   awake otherwise (a zone's offset is read at the start of each UTC hour, so a transition
//!   at a half hour, as in St John's, takes effect up to 30 minutes late). The incident is
//!   acknowledged by the earliest acknowledgement of anyone paged before it; later steps are
//!   not sent.
//! - **Busy responders.** The acknowledger handles the incident for a hands-on time drawn per
//!   severity (lognormal) and is busy until then. A busy person paged again acknowledges late:
//!   [`Busy::Wait`] not before they are free, [`Busy::Extra`] after a fixed extra delay.
//! - **Queue mode** (Erlang C's M/M/c): `C` interchangeable responders always on call, all paged
//!   at once, acknowledging instantly under [`Busy::Wait`], exponential hands-on time. The same
//!   code then is a first-come-first-served queue, so the simulator reproduces Erlang C.
//! - **Functional rotations** (PR, legal, comms, executive) are paged at declaration for the
//!   severities that involve them, before the incident's own escalation starts; their SLO is
//!   an acknowledgement within `within`. They do not escalate and their work is not simulated
//!   (they are not made busy by it).
//! - **What a page costs.** Every page counts for its person: per week, and in the
//!   interruption buckets of the person's own zone (PagerDuty's): business hours 08–18 on
//!   weekdays, off-hours 18–22 on weekdays and 08–22 at weekends, sleep 22–08 every day.
//!   On-call share is the time a person is on call in any schedule the model pages, against
//!   the 25% cap (a functional rotation's on-call time counts; a schedule nothing pages does
//!   not); incidents per 12-hour shift count the incidents a person acknowledged in each
//!   12-hour block (from `start`) they were on call for in a schedule an escalation policy
//!   pages, against the ceiling of 2 (Google's SRE book, "Being On-Call").
//! - **Reports.** Proportions pooled over runs get Wilson's 95% interval; per-run values (ack
//!   percentiles, loads, fairness) the normal 95% interval of their mean over runs. Numbers
//!   are rounded in the report so it serializes the same everywhere.

pub mod erlang;
pub mod history;
mod report;
pub mod rng;
mod sim;
pub mod stats;
pub mod sweep;

#[cfg(test)]
mod tests;

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::Severity;
use crate::schedule::Schedule;

pub use report::{
    CostReport, Escalation, FunctionalResult, Interruptions, PersonLoad, Report, ShiftLoad,
    SloResult, aggregate, simulate, verdict,
};
pub use sim::{Prepared, RunStats, run};

/// A lognormal delay given by its median and 90th percentile, in seconds. A median of 0 is
/// "instant".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LogNormal {
    pub median: f64,
    pub p90: f64,
}

/// z of the 90th percentile of the standard normal.
const Z90: f64 = 1.281_551_565_544_600_5;

impl LogNormal {
    pub const INSTANT: LogNormal = LogNormal {
        median: 0.0,
        p90: 0.0,
    };

    pub fn mu(self) -> f64 {
        self.median.ln()
    }

    pub fn sigma(self) -> f64 {
        if self.p90 <= self.median {
            0.0
        } else {
            (self.p90 / self.median).ln() / Z90
        }
    }

    /// Fitted from positive samples (seconds) by the mean and deviation of their logarithms;
    /// `None` without two positive samples.
    pub fn fit(samples: &[f64]) -> Option<LogNormal> {
        let logs: Vec<f64> = samples
            .iter()
            .filter(|x| **x > 0.0)
            .map(|x| x.ln())
            .collect();
        if logs.len() < 2 {
            return None;
        }
        let n = logs.len() as f64;
        let mu = logs.iter().sum::<f64>() / n;
        let var = logs.iter().map(|l| (l - mu) * (l - mu)).sum::<f64>() / (n - 1.0);
        Some(LogNormal {
            median: mu.exp(),
            p90: (mu + Z90 * var.sqrt()).exp(),
        })
    }
}

/// Acknowledgement delay per state of the person at the page's local time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AckDelays {
    pub awake: LogNormal,
    pub commuting: LogNormal,
    pub asleep: LogNormal,
}

impl AckDelays {
    /// The documented defaults: awake median 2 min (p90 5 min), commuting 5 min (12 min),
    /// asleep 8 min (20 min) — a phone that wakes someone, then a laptop to open.
    pub const DEFAULT: AckDelays = AckDelays {
        awake: LogNormal {
            median: 120.0,
            p90: 300.0,
        },
        commuting: LogNormal {
            median: 300.0,
            p90: 720.0,
        },
        asleep: LogNormal {
            median: 480.0,
            p90: 1200.0,
        },
    };

    pub const INSTANT: AckDelays = AckDelays {
        awake: LogNormal::INSTANT,
        commuting: LogNormal::INSTANT,
        asleep: LogNormal::INSTANT,
    };
}

/// Someone who can be paged.
#[derive(Clone, Debug)]
pub struct Responder {
    pub id: String,
    pub zone: TimeZone,
    pub ack: AckDelays,
    /// Delay of their first notification channel, seconds.
    pub first_channel: f64,
    /// Probability that a page finds them away (never acknowledged).
    pub absence: f64,
}

/// Whom an escalation step or a functional rotation pages (indices into the [`Model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Schedule(usize),
    Person(usize),
}

#[derive(Clone, Debug)]
pub struct Step {
    pub targets: Vec<Target>,
    /// Seconds before the next step if nobody acknowledged.
    pub delay: f64,
}

/// An escalation policy with its targets resolved to the model's schedules and people.
#[derive(Clone, Debug)]
pub struct Policy {
    pub id: String,
    pub repeat: u32,
    pub steps: Vec<Step>,
}

/// Incidents of one severity.
#[derive(Clone, Debug)]
pub struct Stream {
    pub severity: Severity,
    pub per_week: f64,
    /// 168 weights, one per hour of the week from Monday 00:00 in the model's `shape_zone`.
    pub shape: Vec<f64>,
    /// (policy index, weight): where the incidents land.
    pub policies: Vec<(usize, f64)>,
}

/// Hands-on time of the acknowledger.
#[derive(Clone, Debug)]
pub enum HandsOn {
    /// Per severity (a severity missing here takes no time).
    LogNormal(Vec<(Severity, LogNormal)>),
    /// Exponential with this mean in seconds, whatever the severity (queue mode).
    Exponential(f64),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Busy {
    /// A busy person acknowledges no earlier than when they are free.
    Wait,
    /// A busy person acknowledges this many seconds later than they would have.
    Extra(f64),
}

/// A response-time SLO of a rotation for one severity.
#[derive(Clone, Debug)]
pub struct Slo {
    /// The rotation's name (an escalation policy or schedule id).
    pub rotation: String,
    /// The policies whose incidents count.
    pub policies: Vec<usize>,
    pub severity: Severity,
    /// Seconds.
    pub within: f64,
    pub target: f64,
}

/// PR, legal, comms, executive: paged at declaration for some severities.
#[derive(Clone, Debug)]
pub struct Functional {
    pub name: String,
    pub targets: Vec<Target>,
    pub severities: Vec<Severity>,
    pub within: f64,
    pub target: f64,
}

/// Everything a run needs. Built by the config crate (zones resolved there).
#[derive(Clone, Debug)]
pub struct Model {
    pub start: Timestamp,
    pub weeks: u32,
    pub shape_zone: TimeZone,
    pub people: Vec<Responder>,
    pub schedules: Vec<Schedule>,
    pub policies: Vec<Policy>,
    pub streams: Vec<Stream>,
    pub hands_on: HandsOn,
    pub busy: Busy,
    pub slos: Vec<Slo>,
    pub functional: Vec<Functional>,
}

/// Erlang C's queue as a [`Model`]: `servers` people always on call (no schedule), one policy
/// paging them all, instant acknowledgement, exponential hands-on time, a flat Poisson stream.
pub fn queue_model(
    arrivals_per_hour: f64,
    handle_seconds: f64,
    servers: u32,
    target_seconds: f64,
    weeks: u32,
) -> Model {
    let people: Vec<Responder> = (0..servers)
        .map(|i| Responder {
            id: format!("server-{}", i + 1),
            zone: TimeZone::UTC,
            ack: AckDelays::INSTANT,
            first_channel: 0.0,
            absence: 0.0,
        })
        .collect();
    Model {
        start: Timestamp::UNIX_EPOCH,
        weeks,
        shape_zone: TimeZone::UTC,
        policies: vec![Policy {
            id: "queue".into(),
            repeat: 0,
            steps: vec![Step {
                targets: (0..people.len()).map(Target::Person).collect(),
                delay: 0.0,
            }],
        }],
        people,
        schedules: Vec::new(),
        streams: vec![Stream {
            severity: Severity::Sev1,
            per_week: arrivals_per_hour * 168.0,
            shape: vec![1.0; 168],
            policies: vec![(0, 1.0)],
        }],
        hands_on: HandsOn::Exponential(handle_seconds),
        busy: Busy::Wait,
        slos: vec![Slo {
            rotation: "queue".into(),
            policies: vec![0],
            severity: Severity::Sev1,
            within: target_seconds,
            target: 0.8,
        }],
        functional: Vec::new(),
    }
}
