//! "Which policies are hard to follow in time": across real incidents and drills, per policy,
//! how often its deadline applied and was met, late or missed, with the median margin, by
//! severity, by the responder's local hour and by month; per role, how long until someone held
//! it. Pure: the shell reads the timelines and says which incidents are drills.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::tz::TimeZone;
use serde::Serialize;

use crate::brief::outcomes_with_arrival;
use crate::incident::Severity;
use crate::timeline::{Change, TimelineEvent};

/// One incident as the report reads it.
pub struct IncidentFacts<'a> {
    pub severity: Severity,
    pub exercise: bool,
    pub declared_at: Timestamp,
    pub timeline: &'a [TimelineEvent],
}

/// Met, late, missed: how many of each, and the median margin of those whose milestone came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub applied: usize,
    pub met: usize,
    pub late: usize,
    pub missed: usize,
    /// Seconds to spare (negative: late); `None` when no milestone came.
    pub median_margin_s: Option<i64>,
    #[serde(skip)]
    margins: Vec<i64>,
}

impl Counts {
    fn add(&mut self, met: bool, never: bool, margin: i64) {
        self.applied += 1;
        match (met, never) {
            (true, _) => self.met += 1,
            (false, false) => self.late += 1,
            (false, true) => self.missed += 1,
        }
        if met || !never {
            self.margins.push(margin);
            self.median_margin_s = median(&mut self.margins);
        }
    }
}

/// The same counts for real incidents, drills, and both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Split {
    pub all: Counts,
    pub real: Counts,
    pub drills: Counts,
}

impl Split {
    fn add(&mut self, exercise: bool, met: bool, never: bool, margin: i64) {
        self.all.add(met, never, margin);
        let side = if exercise {
            &mut self.drills
        } else {
            &mut self.real
        };
        side.add(met, never, margin);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PolicyAdherence {
    pub policy: String,
    #[serde(flatten)]
    pub counts: Split,
    pub by_severity: BTreeMap<String, Counts>,
    /// By the responder's local hour when the deadline fell due (0–23).
    pub by_local_hour: BTreeMap<u8, Counts>,
    /// `2026-12` → counts.
    pub by_month: BTreeMap<String, Counts>,
}

/// How long until someone held a role, from the declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoleTimes {
    pub role: String,
    pub held: usize,
    pub median_s: Option<i64>,
    pub real_median_s: Option<i64>,
    pub drills_median_s: Option<i64>,
    #[serde(skip)]
    all: Vec<i64>,
    #[serde(skip)]
    real: Vec<i64>,
    #[serde(skip)]
    drills: Vec<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PoliciesReport {
    pub real_incidents: usize,
    pub drills: usize,
    /// Hardest first: the largest share of late and missed, then the most applied.
    pub policies: Vec<PolicyAdherence>,
    pub roles: Vec<RoleTimes>,
}

/// The report over `incidents`. `zone_of(person)` is the responder's time zone (the incident
/// commander's when someone holds it, else the declarer's; UTC for nobody known).
pub fn policies_report<'a>(
    incidents: &[IncidentFacts<'a>],
    zone_of: impl Fn(&str) -> Option<TimeZone>,
) -> PoliciesReport {
    let mut report = PoliciesReport::default();
    let mut policies: BTreeMap<String, PolicyAdherence> = BTreeMap::new();
    let mut roles: BTreeMap<String, RoleTimes> = BTreeMap::new();
    for inc in incidents {
        if inc.exercise {
            report.drills += 1;
        } else {
            report.real_incidents += 1;
        }
        for (o, never) in outcomes_with_arrival(inc.timeline) {
            let zone = responder(inc.timeline, o.due_at)
                .and_then(&zone_of)
                .unwrap_or(TimeZone::UTC);
            let local = zone.to_datetime(o.due_at);
            let row = policies
                .entry(o.policy.clone())
                .or_insert_with(|| PolicyAdherence {
                    policy: o.policy.clone(),
                    ..PolicyAdherence::default()
                });
            row.counts.add(inc.exercise, o.met, never, o.margin_secs);
            let (met, margin) = (o.met, o.margin_secs);
            row.by_severity
                .entry(inc.severity.to_string())
                .or_default()
                .add(met, never, margin);
            row.by_local_hour
                .entry(local.hour() as u8)
                .or_default()
                .add(met, never, margin);
            let month = format!("{:04}-{:02}", local.year(), local.month());
            row.by_month
                .entry(month)
                .or_default()
                .add(met, never, margin);
        }
        let mut seen = Vec::new();
        for e in inc.timeline {
            if let Change::RoleAssigned { role, .. } = &e.change
                && !seen.contains(role)
            {
                seen.push(role.clone());
                let secs = e.at.duration_since(inc.declared_at).as_secs();
                let r = roles.entry(role.clone()).or_insert_with(|| RoleTimes {
                    role: role.clone(),
                    ..RoleTimes::default()
                });
                r.held += 1;
                r.all.push(secs);
                if inc.exercise {
                    r.drills.push(secs);
                } else {
                    r.real.push(secs);
                }
            }
        }
    }
    let mut rows: Vec<PolicyAdherence> = policies.into_values().collect();
    rows.sort_by(|a, b| {
        let bad = |p: &PolicyAdherence| {
            let c = &p.counts.all;
            ((c.late + c.missed) * 1000)
                .checked_div(c.applied)
                .unwrap_or(0)
        };
        bad(b)
            .cmp(&bad(a))
            .then(b.counts.all.applied.cmp(&a.counts.all.applied))
            .then(a.policy.cmp(&b.policy))
    });
    report.policies = rows;
    report.roles = roles
        .into_values()
        .map(|mut r| {
            r.median_s = median(&mut r.all);
            r.real_median_s = median(&mut r.real);
            r.drills_median_s = median(&mut r.drills);
            r
        })
        .collect();
    report
}

/// Who answers for the incident at `at`: the incident commander then, else the declarer.
fn responder(timeline: &[TimelineEvent], at: Timestamp) -> Option<&str> {
    let commander = timeline
        .iter()
        .rev()
        .filter(|e| e.at <= at)
        .find_map(|e| match &e.change {
            Change::RoleAssigned { role, person, .. } if role == "incident_commander" => {
                Some(person.as_str())
            }
            _ => None,
        });
    commander.or_else(|| timeline.first().map(|e| e.actor.as_str()))
}

/// The lower median (a real value, never an average of two).
fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::Status;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn ev(seq: i64, at: &str, actor: &str, change: Change) -> TimelineEvent {
        TimelineEvent {
            seq,
            at: t(at),
            actor: actor.into(),
            change,
        }
    }

    fn declared(at: &str, exercise: bool) -> TimelineEvent {
        ev(
            1,
            at,
            "alice",
            Change::Declared {
                title: "x".into(),
                severity: Severity::Sev1,
                status: Status::Triage,
                services: vec![],
                incident_type: None,
                exercise,
            },
        )
    }

    fn outcome(seq: i64, at: &str, due: &str, met: bool, margin: i64) -> TimelineEvent {
        ev(
            seq,
            at,
            "policy:br",
            Change::DeadlineOutcome {
                policy: "br".into(),
                instance: 1,
                met,
                expect: "blast_radius_validated".into(),
                at: t(at),
                due_at: t(due),
                margin_secs: margin,
                by: None,
            },
        )
    }

    fn milestone(seq: i64, at: &str) -> TimelineEvent {
        ev(
            seq,
            at,
            "bob",
            Change::MilestoneReached {
                milestone: "blast_radius_validated".into(),
            },
        )
    }

    #[test]
    fn drills_and_real_incidents_are_counted_apart_and_together() {
        // real: met with 60 s to spare; real: missed, validated 5 min late; drill: never.
        let met = vec![
            declared("2026-12-01T03:00:00Z", false),
            milestone(2, "2026-12-01T03:19:00Z"),
            outcome(3, "2026-12-01T03:19:00Z", "2026-12-01T03:20:00Z", true, 60),
        ];
        let late = vec![
            declared("2026-12-02T14:00:00Z", false),
            outcome(2, "2026-12-02T14:20:00Z", "2026-12-02T14:20:00Z", false, 0),
            milestone(3, "2026-12-02T14:25:00Z"),
        ];
        let never = vec![
            declared("2026-11-30T09:00:00Z", true),
            outcome(2, "2026-11-30T09:20:00Z", "2026-11-30T09:20:00Z", false, 0),
        ];
        let facts = |tl: &'static [TimelineEvent], exercise| IncidentFacts {
            severity: Severity::Sev1,
            exercise,
            declared_at: tl[0].at,
            timeline: tl,
        };
        let (met, late, never) = (met.leak(), late.leak(), never.leak());
        let report = policies_report(
            &[facts(met, false), facts(late, false), facts(never, true)],
            |p| (p == "alice").then(|| TimeZone::get("America/New_York").unwrap()),
        );
        assert_eq!((report.real_incidents, report.drills), (2, 1));
        let br = &report.policies[0];
        let c = |c: &Counts| (c.applied, c.met, c.late, c.missed, c.median_margin_s);
        assert_eq!(c(&br.counts.all), (3, 1, 1, 1, Some(-300)));
        assert_eq!(c(&br.counts.real), (2, 1, 1, 0, Some(-300)));
        assert_eq!(c(&br.counts.drills), (1, 0, 0, 1, None));
        // 03:20 UTC is 22:20 in New York (the declarer's zone), 14:20 is 09:20.
        assert_eq!(
            br.by_local_hour.keys().copied().collect::<Vec<_>>(),
            vec![4, 9, 22]
        );
        assert_eq!(
            br.by_month.keys().cloned().collect::<Vec<_>>(),
            vec!["2026-11", "2026-12"]
        );
    }

    #[test]
    fn roles_report_the_median_time_until_held() {
        let assign = |seq, at: &str| {
            ev(
                seq,
                at,
                "policy:staff",
                Change::RoleAssigned {
                    role: "comms_lead".into(),
                    person: "carol".into(),
                    previous: None,
                },
            )
        };
        let a = vec![
            declared("2026-12-01T00:00:00Z", false),
            assign(2, "2026-12-01T00:02:00Z"),
        ];
        let b = vec![
            declared("2026-12-01T00:00:00Z", true),
            assign(2, "2026-12-01T04:00:00Z"),
        ];
        let report = policies_report(
            &[
                IncidentFacts {
                    severity: Severity::Sev1,
                    exercise: false,
                    declared_at: a[0].at,
                    timeline: &a,
                },
                IncidentFacts {
                    severity: Severity::Sev1,
                    exercise: true,
                    declared_at: b[0].at,
                    timeline: &b,
                },
            ],
            |_| None,
        );
        let r = &report.roles[0];
        assert_eq!(
            (r.held, r.median_s, r.real_median_s, r.drills_median_s),
            (2, Some(120), Some(120), Some(14_400))
        );
    }
}
