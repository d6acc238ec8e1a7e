//! "What load do people carry": the load report, read from what happened (the timelines).
//!
//! Semantics:
//! - **Drills are left out.** A drill pages nobody for real and its pace is not the world's,
//!   so its incidents count only in `drills`; nothing below includes them (the policies
//!   report and each drill's own report cover them).
//! - **Interruptions** are pages and nudges. A page is an escalation step's target or the
//!   target of a policy's `page` action, schedules resolved to whoever was on call then; a
//!   nudge reaches the holder of a role. People only: aliases, channels and e-mail lists are
//!   not counted (each person they reach is, when a step names them); someone no longer in
//!   the configuration still is, read in UTC. A person reached twice
//!   at one instant by one incident is interrupted once (see [`interruptions`]); someone a
//!   policy assigns a role to is not counted for that assignment.
//! - **Buckets** are PagerDuty's, in the person's own zone: business 08–18 on weekdays,
//!   off-hours 18–22 on weekdays and 08–22 on weekends, sleep 22–08 every day ([`bucket`]).
//!   Wall-clock hours, so on a DST day 08:00 is still the start of the business day.
//! - **Trailing 21 days**: interruptions in `(now − 21 × 24 h, now]`, by bucket. Within the
//!   report's window only: a `since` later than 21 days ago cuts it short.
//! - **Shifts** are blocks of a person's own paging: one starts at an interruption outside any
//!   earlier block and lasts 12 hours. A shift **over 2 incidents** (interrupted by 3 or more
//!   distinct incidents) breaks the Google SRE book's ceiling ("Being On-Call": at most 2
//!   incidents per 12-hour shift); each such shift counts once, however many it had.
//! - **Response times** from declaration to the first `acknowledged` (MTTA), the first
//!   `mitigated`, and the last `resolved` not undone by a reopen (MTTR), per severity (the
//!   incident's current one), per service and per owning team (an incident counts once per
//!   service it names and once per team owning any of them; `(no team)` for a service without
//!   one). Count, nearest-rank median and p90, mean rounded to the second.
//! - **Pages by hour of week**: pages only (not nudges), each in the paged person's own zone,
//!   so the heatmap shows which of their hours the pages land in; 7 rows Monday..Sunday of 24
//!   hours.

pub mod chart;
mod interruptions;
mod times;

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use crate::incident::Severity;
use crate::timeline::TimelineEvent;

pub use interruptions::{Bucket, Interruption, Kind, bucket, interruptions};
pub use times::{Group, Milestones, ResponseTimes, Stats, percentile};

/// The trailing window of recent load.
pub const TRAILING: SignedDuration = SignedDuration::from_hours(21 * 24);
/// The length of a shift of paging.
pub const SHIFT: SignedDuration = SignedDuration::from_hours(12);
/// Incidents a shift can take (Google SRE book); a shift with more is counted.
pub const INCIDENTS_PER_SHIFT: usize = 2;
/// The team key of incidents on a service no team owns.
pub const NO_TEAM: &str = "(no team)";

/// One incident as the report reads it.
pub struct IncidentFacts<'a> {
    pub severity: Severity,
    pub services: &'a [String],
    pub exercise: bool,
    pub declared_at: Timestamp,
    pub timeline: &'a [TimelineEvent],
}

/// Counts by bucket of the day, and their sum.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Buckets {
    pub business: u32,
    pub off_hours: u32,
    pub sleep: u32,
    pub total: u32,
}

impl Buckets {
    fn add(&mut self, b: Bucket) {
        match b {
            Bucket::Business => self.business += 1,
            Bucket::OffHours => self.off_hours += 1,
            Bucket::Sleep => self.sleep += 1,
        }
        self.total += 1;
    }
}

/// The load one person carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PersonLoad {
    pub person: String,
    /// The zone the buckets are read in.
    pub time_zone: String,
    pub pages: Buckets,
    pub nudges: Buckets,
    /// Pages and nudges.
    pub interruptions: Buckets,
    /// Interruptions in the 21 days up to `now`.
    pub trailing_21d: Buckets,
    /// Distinct incidents that interrupted them.
    pub incidents: usize,
    /// 12-hour blocks of their paging.
    pub shifts: usize,
    /// Of those, the ones with more than 2 incidents.
    pub shifts_over_2_incidents: usize,
}

/// Response times overall and by severity, service and team.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResponseReport {
    pub all: ResponseTimes,
    pub by_severity: BTreeMap<String, ResponseTimes>,
    pub by_service: BTreeMap<String, ResponseTimes>,
    pub by_team: BTreeMap<String, ResponseTimes>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// The instant the trailing window ends.
    pub now: Timestamp,
    pub real_incidents: usize,
    /// Drill incidents seen and left out of everything else.
    pub drills: usize,
    /// Most interrupted in their sleep first, then most interrupted, then by id.
    pub people: Vec<PersonLoad>,
    /// `[weekday Monday=0][local hour]` → pages, in each paged person's own zone.
    pub pages_by_hour_of_week: Vec<Vec<u32>>,
    pub response: ResponseReport,
}

/// The report over `incidents`. `zone_of(id)` is a person's zone, `None` for what is not a
/// person (an alias, a channel) or no longer is (see [`former`]); `team_of(service)` the team
/// owning a service.
pub fn load_report(
    incidents: &[IncidentFacts<'_>],
    zone_of: impl Fn(&str) -> Option<TimeZone>,
    team_of: impl Fn(&str) -> Option<String>,
    now: Timestamp,
) -> LoadReport {
    let mut report = LoadReport {
        now,
        pages_by_hour_of_week: vec![vec![0; 24]; 7],
        ..LoadReport::default()
    };
    let mut reached: BTreeMap<String, Vec<(Interruption, usize)>> = BTreeMap::new();
    let mut groups = Groups::default();
    for (n, inc) in incidents.iter().enumerate() {
        if inc.exercise {
            report.drills += 1;
            continue;
        }
        report.real_incidents += 1;
        groups.add(inc, &team_of);
        for i in interruptions(inc.timeline, |p| zone_of(p).is_some() || former(p)) {
            reached.entry(i.person.clone()).or_default().push((i, n));
        }
    }
    for (person, mut list) in reached {
        let zone = zone_of(&person).unwrap_or(TimeZone::UTC);
        list.sort_by_key(|(i, n)| (i.at, *n));
        let load = person_load(&person, &zone, &list, now);
        for (i, _) in list.iter().filter(|(i, _)| i.kind == Kind::Page) {
            let local = zone.to_datetime(i.at);
            let day = local.weekday().to_monday_zero_offset() as usize;
            report.pages_by_hour_of_week[day][local.hour() as usize] += 1;
        }
        report.people.push(load);
    }
    report.people.sort_by(|a, b| {
        (b.interruptions.sleep, b.interruptions.total, &a.person).cmp(&(
            a.interruptions.sleep,
            a.interruptions.total,
            &b.person,
        ))
    });
    report.response = groups.finish();
    report
}

/// A recipient shaped like a person's id (`[a-z0-9][a-z0-9_-]*`) that the configuration no
/// longer knows: someone who has left, whose pages still happened. Read in UTC. Aliases
/// (`alias:…`), channels (`#…`), drill stand-ins (`schedule:…`) and addresses never match.
fn former(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// One person's load from their interruptions (sorted by time), each with its incident.
fn person_load(
    person: &str,
    zone: &TimeZone,
    list: &[(Interruption, usize)],
    now: Timestamp,
) -> PersonLoad {
    let mut load = PersonLoad {
        person: person.to_string(),
        time_zone: zone.iana_name().unwrap_or("UTC").to_string(),
        ..PersonLoad::default()
    };
    let from = now.checked_sub(TRAILING).unwrap_or(Timestamp::MIN);
    for (i, _) in list {
        let b = bucket(zone.to_datetime(i.at));
        match i.kind {
            Kind::Page => load.pages.add(b),
            Kind::Nudge => load.nudges.add(b),
        }
        load.interruptions.add(b);
        if i.at > from && i.at <= now {
            load.trailing_21d.add(b);
        }
    }
    load.incidents = list.iter().map(|(_, n)| n).collect::<BTreeSet<_>>().len();
    let shifts = shifts(list);
    load.shifts = shifts.len();
    load.shifts_over_2_incidents = shifts
        .iter()
        .filter(|s| s.len() > INCIDENTS_PER_SHIFT)
        .count();
    load
}

/// The distinct incidents of each 12-hour block of paging, in order.
fn shifts(list: &[(Interruption, usize)]) -> Vec<BTreeSet<usize>> {
    let mut out: Vec<BTreeSet<usize>> = Vec::new();
    let mut ends = Timestamp::MIN;
    for (i, n) in list {
        if i.at >= ends {
            ends = i.at.checked_add(SHIFT).unwrap_or(Timestamp::MAX);
            out.push(BTreeSet::new());
        }
        if let Some(current) = out.last_mut() {
            current.insert(*n);
        }
    }
    out
}

/// Response-time groups while reading.
#[derive(Default)]
struct Groups {
    all: Group,
    severity: BTreeMap<String, Group>,
    service: BTreeMap<String, Group>,
    team: BTreeMap<String, Group>,
}

impl Groups {
    fn add(&mut self, inc: &IncidentFacts<'_>, team_of: impl Fn(&str) -> Option<String>) {
        let m = Milestones::of(inc.declared_at, inc.timeline);
        self.all.add(m);
        self.severity
            .entry(inc.severity.to_string())
            .or_default()
            .add(m);
        let services: BTreeSet<&str> = inc.services.iter().map(String::as_str).collect();
        let mut teams = BTreeSet::new();
        for s in services {
            self.service.entry(s.to_string()).or_default().add(m);
            teams.insert(team_of(s).unwrap_or_else(|| NO_TEAM.to_string()));
        }
        for t in teams {
            self.team.entry(t).or_default().add(m);
        }
    }

    fn finish(self) -> ResponseReport {
        let done =
            |g: BTreeMap<String, Group>| g.into_iter().map(|(k, g)| (k, g.finish())).collect();
        ResponseReport {
            all: self.all.finish(),
            by_severity: done(self.severity),
            by_service: done(self.service),
            by_team: done(self.team),
        }
    }
}

#[cfg(test)]
mod tests;
