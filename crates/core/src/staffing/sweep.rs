//! The sweep: candidate rotations for one escalation policy — sizes × (single site or follow
//! the sun) × (with or without a secondary) — each simulated in place of the policy's own
//! schedules, smallest first. A candidate passes when every SLO of that policy is met (by its
//! estimate), nobody in it is on call more than 25% of the time, and the 95th percentile of
//! incidents per 12-hour shift stays within 2.
//!
//! Candidate rotations hand off weekly on Mondays at 09:00 in their site's zone. Follow the
//! sun splits the people over two sites: the home site covers 08:00–20:00 home time, the
//! other site the rest. A secondary is the same people one week later (within their site), paged
//! one step after the primary. The candidate people take the acknowledgement model of the
//! policy's present responders (the first one's).

use jiff::ToSpan;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use serde::Serialize;

use super::report::{ON_CALL_CAP, Report, SHIFT_CEILING};
use super::{AckDelays, Model, Policy, Responder, Step, Target};
use crate::schedule::{Layer, Restriction, Schedule, ShiftLength};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pattern {
    SingleSite,
    FollowTheSun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub size: u32,
    pub pattern: Pattern,
    pub secondary: bool,
}

impl Candidate {
    pub fn label(&self) -> String {
        let pattern = match self.pattern {
            Pattern::SingleSite => "single site",
            Pattern::FollowTheSun => "follow the sun",
        };
        let secondary = if self.secondary { " + secondary" } else { "" };
        format!("{} × {pattern}{secondary}", self.size)
    }
}

/// What the sweep keeps of the policy it resizes.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Index of the swept policy in the model.
    pub policy: usize,
    /// The home site's zone and the other site's (follow the sun).
    pub home: TimeZone,
    pub away: TimeZone,
}

/// Candidates from 2 to `max_size` people, smallest first; at one size: single site before
/// follow the sun, without a secondary before with one.
pub fn candidates(max_size: u32) -> Vec<Candidate> {
    let mut out = Vec::new();
    for size in 2..=max_size.max(2) {
        for pattern in [Pattern::SingleSite, Pattern::FollowTheSun] {
            for secondary in [false, true] {
                out.push(Candidate {
                    size,
                    pattern,
                    secondary,
                });
            }
        }
    }
    out
}

/// Ids of a candidate rotation's people start with this.
pub const PERSON_PREFIX: &str = "candidate-";

/// The id of the `i`-th (from 1) person of a candidate rotation.
pub fn person_id(i: u32) -> String {
    format!("{PERSON_PREFIX}{i}")
}

/// `base` with the swept policy's steps replaced by the candidate's primary (and secondary).
pub fn model_for(base: &Model, spec: &Spec, c: Candidate) -> Model {
    let mut m = base.clone();
    let Some(old) = base.policies.get(spec.policy) else {
        return m;
    };
    let like = responder_like(base, old);
    let home_size = match c.pattern {
        Pattern::SingleSite => c.size,
        Pattern::FollowTheSun => c.size.div_ceil(2),
    };
    for i in 0..c.size {
        let zone = if i < home_size {
            &spec.home
        } else {
            &spec.away
        };
        m.people.push(Responder {
            id: person_id(i + 1),
            zone: zone.clone(),
            ..like.clone()
        });
    }
    let ids: Vec<String> = (1..=c.size).map(person_id).collect();
    let (home, away) = ids.split_at(home_size as usize);
    let monday = monday_on_or_before(base, &spec.home);
    let mut steps = vec![Step {
        targets: vec![Target::Schedule(m.schedules.len())],
        delay: old.steps.first().map_or(600.0, |s| s.delay),
    }];
    m.schedules
        .push(rotation(spec, c.pattern, home, away, monday, "primary"));
    if c.secondary {
        let (h, a) = (rotated(home), rotated(away));
        steps.push(Step {
            targets: vec![Target::Schedule(m.schedules.len())],
            delay: old.steps.get(1).map_or(900.0, |s| s.delay),
        });
        m.schedules
            .push(rotation(spec, c.pattern, &h, &a, monday, "secondary"));
    }
    m.policies[spec.policy] = Policy {
        id: old.id.clone(),
        repeat: old.repeat,
        steps,
    };
    m
}

fn responder_like(base: &Model, old: &Policy) -> Responder {
    let first = old
        .steps
        .iter()
        .flat_map(|s| s.targets.iter())
        .find_map(|t| match t {
            Target::Person(p) => base.people.get(*p),
            Target::Schedule(s) => base.schedules.get(*s).and_then(|s| {
                let id = s.layers.first()?.members.first()?;
                base.people.iter().find(|p| &p.id == id)
            }),
        });
    match first {
        Some(r) => r.clone(),
        None => Responder {
            id: String::new(),
            zone: TimeZone::UTC,
            ack: AckDelays::DEFAULT,
            first_channel: 0.0,
            absence: 0.0,
        },
    }
}

fn rotated(ids: &[String]) -> Vec<String> {
    let mut v = ids.to_vec();
    if !v.is_empty() {
        v.rotate_left(1);
    }
    v
}

fn monday_on_or_before(base: &Model, zone: &TimeZone) -> jiff::civil::Date {
    let date = zone.to_datetime(base.start).date();
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(back.days()).unwrap_or(date)
}

fn weekly(name: &str, members: &[String], start: jiff::civil::Date) -> Layer {
    Layer {
        name: name.into(),
        members: members.to_vec(),
        shift: ShiftLength::Weeks(1),
        handoff: Time::constant(9, 0, 0, 0),
        start,
        restrictions: Vec::new(),
    }
}

fn rotation(
    spec: &Spec,
    pattern: Pattern,
    home: &[String],
    away: &[String],
    start: jiff::civil::Date,
    name: &str,
) -> Schedule {
    let layers = match pattern {
        Pattern::SingleSite => vec![weekly("home", home, start)],
        Pattern::FollowTheSun => {
            let mut day = weekly("home", home, start);
            day.restrictions = vec![Restriction {
                days: vec![
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday,
                ],
                from: Time::constant(8, 0, 0, 0),
                to: Time::constant(20, 0, 0, 0),
            }];
            vec![weekly("away", away, start), day]
        }
    };
    Schedule {
        id: format!("candidate-{name}"),
        time_zone: spec.home.clone(),
        layers,
        overrides: Vec::new(),
    }
}

/// How one candidate did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub candidate: Candidate,
    pub label: String,
    /// The lowest SLO attainment of the swept rotation minus its target (≥ 0: all met); SLOs
    /// no simulated incident fell under are not judged.
    pub worst_margin: f64,
    pub slos_met: bool,
    pub max_on_call_share: f64,
    pub shift_p95: f64,
    pub passes: bool,
}

/// Judges a candidate's report against the swept rotation's SLOs (`rotation` names them) and
/// the people limits.
pub fn judge(candidate: Candidate, report: &Report, rotation: &str) -> Outcome {
    let worst_margin = report
        .slos
        .iter()
        .filter(|s| s.rotation == rotation && s.incidents > 0)
        .map(|s| s.attained.value - s.target)
        .fold(f64::INFINITY, f64::min);
    let worst_margin = if worst_margin.is_finite() {
        super::stats::round(worst_margin, 4)
    } else {
        0.0
    };
    let max_on_call_share = report
        .people
        .iter()
        .filter(|p| p.id.starts_with(PERSON_PREFIX))
        .map(|p| p.on_call_share)
        .fold(0.0, f64::max);
    let shift_p95 = report.cost.incidents_per_shift.p95.value;
    let slos_met = worst_margin >= 0.0;
    Outcome {
        candidate,
        label: candidate.label(),
        worst_margin,
        slos_met,
        max_on_call_share,
        shift_p95,
        passes: slos_met && max_on_call_share <= ON_CALL_CAP && shift_p95 <= SHIFT_CEILING,
    }
}

/// The first passing outcome, or else the best: meeting the SLOs first (else the largest
/// worst margin), then the lowest on-call share, then the fewest incidents per shift; the
/// smallest of equals.
pub fn choose(outcomes: &[Outcome]) -> Option<(&Outcome, bool)> {
    if let Some(o) = outcomes.iter().find(|o| o.passes) {
        return Some((o, true));
    }
    let key = |o: &Outcome| {
        (
            o.slos_met,
            if o.slos_met { 0.0 } else { o.worst_margin },
            -o.max_on_call_share,
            -o.shift_p95,
        )
    };
    let mut best: Option<&Outcome> = None;
    for o in outcomes {
        if best.is_none_or(|b| key(o).partial_cmp(&key(b)) == Some(std::cmp::Ordering::Greater)) {
            best = Some(o);
        }
    }
    best.map(|o| (o, false))
}
