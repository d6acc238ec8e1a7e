//! The rotation lints that resolve schedules: one person primary twice at once, shifts over 12
//! hours, and 24/7 rotations with too few people. Schedules are resolved by the core without
//! their overrides (one-off swaps are not the rotation's design) over a fixed window from their
//! own start, so findings never depend on the current time.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use muster_core::schedule as core;

use super::{Rotation, Spans, schedule_people};
use crate::diagnostic::{Lint, Loc};
use crate::model::Config;

/// How long after a schedule's start its shifts are resolved: a quarter, long enough for
/// weekly rotations of different lengths to meet.
const WINDOW_WEEKS: i64 = 12;
/// The longest stretch one person should be on call (the SRE book's 12-hour shifts).
const MAX_STRETCH_HOURS: i64 = 12;
/// The SRE book's minimum for a 24/7 primary+secondary rotation on one site…
const ONE_SITE_MIN: usize = 8;
/// …and per site when the day is split between sites.
const PER_SITE_MIN: usize = 6;

pub(super) struct Finding {
    pub at: Loc,
    pub lint: Lint,
    pub message: String,
}

/// A schedule as the lint resolves it.
struct Plan {
    core: core::Schedule,
    /// When every layer has started: the latest first hand-off.
    start: Timestamp,
    zone: String,
}

impl Plan {
    fn new(config: &Config, id: &str) -> Option<Plan> {
        let s = config.schedules.get(id)?;
        let mut core = s.to_core().ok()?;
        core.overrides.clear();
        let start = core
            .layers
            .iter()
            .map(|l| core::local_to_timestamp(&core.time_zone, l.start.to_datetime(l.handoff)))
            .max()?;
        Some(Plan {
            core,
            start,
            zone: s.time_zone.clone(),
        })
    }

    fn shifts(&self, from: Timestamp) -> core::Resolution {
        core::shifts(&self.core, from, window_end(from))
    }

    fn local(&self, t: Timestamp) -> String {
        t.to_zoned_datetime(self.core.time_zone.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    }
}

fn window_end(from: Timestamp) -> Timestamp {
    from.checked_add(SignedDuration::from_hours(WINDOW_WEEKS * 7 * 24))
        .unwrap_or(from)
}

pub(super) fn findings(config: &Config, spans: &Spans, rotations: &[Rotation<'_>]) -> Vec<Finding> {
    let mut ids: BTreeSet<&str> = BTreeSet::new();
    for r in rotations {
        ids.extend(r.primary.iter().map(|(s, _)| *s));
        ids.extend(r.secondary_schedules().map(|(s, _)| s));
    }
    let plans: BTreeMap<&str, Plan> = ids
        .into_iter()
        .filter_map(|id| Plan::new(config, id).map(|p| (id, p)))
        .collect();
    let mut out = Vec::new();
    double_primaries(config, spans, rotations, &plans, &mut out);
    long_stretches(spans, &plans, &mut out);
    thin_rotations(config, rotations, &plans, &mut out);
    out
}

/// Where a layer member is written: the member's first place in that layer.
fn member_loc(spans: &Spans, schedule: &str, shift: &core::Shift, plan: &Plan) -> Option<Loc> {
    let core::ShiftSource::Layer { index, .. } = shift.source else {
        return None;
    };
    let pos = plan
        .core
        .layers
        .get(index)?
        .members
        .iter()
        .position(|m| *m == shift.person)?;
    spans
        .layers
        .get(schedule)?
        .get(index)?
        .members
        .get(pos)
        .copied()
}

fn double_primaries(
    config: &Config,
    spans: &Spans,
    rotations: &[Rotation<'_>],
    plans: &BTreeMap<&str, Plan>,
    out: &mut Vec<Finding>,
) {
    let primaries: BTreeSet<&str> = rotations
        .iter()
        .flat_map(|r| r.primary.iter().map(|(s, _)| *s))
        .collect();
    for (i, a) in primaries.iter().enumerate() {
        for b in primaries.iter().skip(i + 1) {
            let (Some(pa), Some(pb)) = (plans.get(a), plans.get(b)) else {
                continue;
            };
            let shared = &schedule_people(config, a) & &schedule_people(config, b);
            if shared.is_empty() {
                continue;
            }
            let from = pa.start.max(pb.start);
            let (sa, sb) = (pa.shifts(from).shifts, pb.shifts(from).shifts);
            for person in shared {
                let Some((start, end, shift)) = first_overlap(&sa, &sb, person) else {
                    continue;
                };
                let Some(at) = member_loc(spans, b, shift, pb) else {
                    continue;
                };
                out.push(Finding {
                    at,
                    lint: Lint::DoublePrimary,
                    message: format!(
                        "`{person}` is primary on schedule `{a}` and on schedule `{b}` at the \
                         same time (first from {} to {} {}): two incidents at once page one \
                         person twice and one of them waits; give each primary rotation its own \
                         people for that time",
                        pb.local(start),
                        pb.local(end),
                        pb.zone
                    ),
                });
            }
        }
    }
}

/// The first time `person` holds a shift in both lists, with `b`'s shift then.
fn first_overlap<'s>(
    a: &[core::Shift],
    b: &'s [core::Shift],
    person: &str,
) -> Option<(Timestamp, Timestamp, &'s core::Shift)> {
    let mut best: Option<(Timestamp, Timestamp, &core::Shift)> = None;
    for x in a.iter().filter(|s| s.person == person) {
        for y in b.iter().filter(|s| s.person == person) {
            let (start, end) = (x.start.max(y.start), x.end.min(y.end));
            if start < end && best.is_none_or(|(s, _, _)| start < s) {
                best = Some((start, end, y));
            }
        }
    }
    best
}

/// A stretch one person holds without a hand-over, possibly across layers.
struct Stretch<'a> {
    person: &'a str,
    start: Timestamp,
    end: Timestamp,
    /// The layer holding most of it.
    layer: usize,
}

fn stretches(shifts: &[core::Shift]) -> Vec<Stretch<'_>> {
    let mut out: Vec<(Stretch<'_>, SignedDuration)> = Vec::new();
    for s in shifts {
        let core::ShiftSource::Layer { index, .. } = s.source else {
            continue;
        };
        let len = s.end.duration_since(s.start);
        match out.last_mut() {
            Some((last, longest)) if last.person == s.person && last.end == s.start => {
                last.end = s.end;
                if len > *longest {
                    (last.layer, *longest) = (index, len);
                }
            }
            _ => out.push((
                Stretch {
                    person: &s.person,
                    start: s.start,
                    end: s.end,
                    layer: index,
                },
                len,
            )),
        }
    }
    out.into_iter().map(|(s, _)| s).collect()
}

/// Per layer of each rotation schedule, its longest stretch over 12 hours.
fn long_stretches(spans: &Spans, plans: &BTreeMap<&str, Plan>, out: &mut Vec<Finding>) {
    let max = SignedDuration::from_hours(MAX_STRETCH_HOURS);
    for (id, plan) in plans {
        let resolution = plan.shifts(plan.start);
        let mut longest: BTreeMap<usize, Stretch<'_>> = BTreeMap::new();
        for s in stretches(&resolution.shifts) {
            let len = s.end.duration_since(s.start);
            if len <= max {
                continue;
            }
            match longest.get(&s.layer) {
                Some(l) if l.end.duration_since(l.start) >= len => {}
                _ => {
                    longest.insert(s.layer, s);
                }
            }
        }
        let end = window_end(plan.start);
        for (index, s) in longest {
            // a stretch cut by the window's end lasts longer still
            let or_more = if s.end >= end { " or more" } else { "" };
            let (Some(layer), Some(at)) = (
                plan.core.layers.get(index),
                spans.layers.get(*id).and_then(|l| l.get(index)),
            ) else {
                continue;
            };
            out.push(Finding {
                at: at.shift,
                lint: Lint::LongShift,
                message: format!(
                    "layer `{}` of schedule `{id}` keeps one person on call for {}{or_more} at a stretch \
                     (`{}` from {} to {} {}): past 12 hours a responder is paged through their \
                     night and answers tired; hand over at least twice a day (follow the sun, or \
                     split day and night)",
                    layer.name,
                    muster_core::words::duration(s.end.duration_since(s.start)),
                    s.person,
                    plan.local(s.start),
                    plan.local(s.end),
                    plan.zone
                ),
            });
        }
    }
}

/// A 24/7 primary with a secondary schedule behind it, staffed below the SRE book's minimum.
fn thin_rotations(
    config: &Config,
    rotations: &[Rotation<'_>],
    plans: &BTreeMap<&str, Plan>,
    out: &mut Vec<Finding>,
) {
    for r in rotations {
        let secondaries: Vec<&str> = r.secondary_schedules().map(|(s, _)| s).collect();
        if secondaries.is_empty() {
            continue;
        }
        for (primary, at) in &r.primary {
            let Some(plan) = plans.get(primary) else {
                continue;
            };
            if core::first_gap(&plan.core, plan.start, window_end(plan.start)).is_some() {
                continue; // not 24/7
            }
            if let Some(problem) = staffing(config, plan, primary, &secondaries) {
                out.push(Finding {
                    at: *at,
                    lint: Lint::ThinRotation,
                    message: format!(
                        "escalation policy `{}` runs a 24/7 primary+secondary rotation (`{primary}`, \
                         then `{}`) with {problem}: the SRE book's minimum is {ONE_SITE_MIN} people \
                         on one site or {PER_SITE_MIN} per site when the day is split between \
                         sites, so that nobody is on call more than a quarter of their time",
                        r.policy,
                        secondaries.join("`, `")
                    ),
                });
            }
        }
    }
}

/// What falls short, if anything. A follow-the-sun primary (every layer restricted to part of
/// the day) has one site per layer, counted by that layer's members; any other has one site:
/// everyone on the primary and secondary schedules.
fn staffing(config: &Config, plan: &Plan, primary: &str, secondaries: &[&str]) -> Option<String> {
    let layers = &plan.core.layers;
    let follow_the_sun = layers.len() > 1 && layers.iter().all(|l| !l.restrictions.is_empty());
    if follow_the_sun {
        let sites: Vec<(&str, usize)> = layers
            .iter()
            .map(|l| {
                let people: BTreeSet<&str> = l.members.iter().map(String::as_str).collect();
                (l.name.as_str(), people.len())
            })
            .collect();
        if sites.iter().all(|(_, n)| *n >= PER_SITE_MIN) {
            return None;
        }
        let list = sites
            .iter()
            .map(|(name, n)| format!("{n} on `{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        return Some(format!("{} follow-the-sun sites ({list})", sites.len()));
    }
    let mut people = schedule_people(config, primary);
    for s in secondaries {
        people.extend(schedule_people(config, s));
    }
    (people.len() < ONE_SITE_MIN).then(|| format!("{} people on one site", people.len()))
}
