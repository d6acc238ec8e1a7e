//! The report of many runs: SLO attainment with Wilson intervals, per-run values with normal
//! intervals over runs, and what on-call costs each person.

use serde::Serialize;

use super::Model;
use super::sim::{BUSINESS, OFF_HOURS, Prepared, RunStats, SLEEP, run};
use super::stats::{Estimate, mean_ci, round, wilson};

/// The on-call share above which a person is overloaded (Google SRE: at most 25% on call).
pub const ON_CALL_CAP: f64 = 0.25;
/// Incidents per 12-hour shift a person can handle well (Google SRE: at most 2).
pub const SHIFT_CEILING: f64 = 2.0;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub start: String,
    pub weeks: u32,
    pub runs: u32,
    pub seed: u64,
    pub incidents_per_week: Estimate,
    pub slos: Vec<SloResult>,
    pub functional: Vec<FunctionalResult>,
    /// Time to acknowledge, seconds; `null` where more incidents than that went unacknowledged.
    pub ack_seconds: AckPercentiles,
    pub unacknowledged: Estimate,
    pub escalation: Escalation,
    pub cost: CostReport,
    pub people: Vec<PersonLoad>,
    /// Every SLO and functional SLO with incidents met (by its estimate).
    pub all_met: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AckPercentiles {
    pub p50: Option<Estimate>,
    pub p90: Option<Estimate>,
    pub p99: Option<Estimate>,
    /// Mean over acknowledged incidents.
    pub mean: Estimate,
    /// Share of acknowledged incidents that waited at all (Erlang C's P(wait) in queue mode).
    pub waited: Estimate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SloResult {
    pub rotation: String,
    pub severity: String,
    pub ack_within_seconds: f64,
    pub target: f64,
    pub incidents: u64,
    /// P(acknowledged within), Wilson 95%.
    pub attained: Estimate,
    /// The estimate reaches the target.
    pub met: bool,
    /// Even the interval's lower end reaches it.
    pub met_with_confidence: bool,
}

/// An SLO's verdict in words (the CLI's table and the web UI's page): `met` when even the
/// interval's lower end reaches the target, `met (not yet sure)` when only the estimate does.
pub fn verdict(incidents: u64, met: bool, met_with_confidence: bool) -> &'static str {
    if incidents == 0 {
        return "no incidents simulated";
    }
    match (met, met_with_confidence) {
        (true, true) => "met",
        (true, false) => "met (not yet sure)",
        (false, _) => "MISSED",
    }
}

impl SloResult {
    pub fn verdict(&self) -> &'static str {
        verdict(self.incidents, self.met, self.met_with_confidence)
    }
}

impl FunctionalResult {
    pub fn verdict(&self) -> &'static str {
        verdict(self.incidents, self.met, self.met_with_confidence)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionalResult {
    pub name: String,
    pub within_seconds: f64,
    pub target: f64,
    pub incidents: u64,
    pub attained: Estimate,
    pub met: bool,
    pub met_with_confidence: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Escalation {
    pub reached_step_2: Estimate,
    pub reached_last_step: Estimate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interruptions {
    pub business: Estimate,
    pub off_hours: Estimate,
    pub sleep: Estimate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ShiftLoad {
    pub ceiling: f64,
    pub mean: Estimate,
    pub p95: Estimate,
    /// Share of on-call 12-hour shifts with more incidents than the ceiling.
    pub over_ceiling: Estimate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CostReport {
    /// Pages per person-week over the people in rotation: mean, p95, worst (per run, then the
    /// mean over runs).
    pub pages_per_person_week: [Estimate; 3],
    /// Share of pages in each bucket of the paged person's own zone.
    pub interruptions: Interruptions,
    pub on_call_cap: f64,
    pub max_on_call_share: f64,
    pub over_cap: Vec<String>,
    pub incidents_per_shift: ShiftLoad,
    /// Gini of pages per person (0 = even).
    pub gini: Estimate,
    /// Grafana OnCall's pairwise balance of pages per person (1 = even).
    pub pairwise_balance: Estimate,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PersonLoad {
    pub id: String,
    pub on_call_share: f64,
    pub pages_per_week: Estimate,
    pub sleep_pages_per_week: Estimate,
    pub worst_week: u64,
}

/// Runs `runs` runs seeded `seed + run` one after the other and aggregates them.
pub fn simulate(model: Model, runs: u32, seed: u64) -> Report {
    let prepared = Prepared::new(model);
    let stats: Vec<RunStats> = (0..runs)
        .map(|r| run(&prepared, seed.wrapping_add(u64::from(r))))
        .collect();
    aggregate(&prepared, &stats, seed)
}

fn pooled(stats: &[RunStats], f: impl Fn(&RunStats) -> (u64, u64)) -> Estimate {
    let (h, n) = stats
        .iter()
        .map(&f)
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    wilson(h, n).rounded(4)
}

fn over_runs(stats: &[RunStats], places: i32, f: impl Fn(&RunStats) -> f64) -> Estimate {
    let xs: Vec<f64> = stats.iter().map(f).collect();
    mean_ci(&xs).rounded(places)
}

fn percentile_over_runs(stats: &[RunStats], i: usize) -> Option<Estimate> {
    if stats.is_empty() || stats.iter().any(|s| !s.ack[i].is_finite()) {
        return None;
    }
    Some(over_runs(stats, 1, |s| s.ack[i]))
}

/// The report of `stats`, the runs of `prepared` in run order.
pub fn aggregate(prepared: &Prepared, stats: &[RunStats], seed: u64) -> Report {
    let m = &prepared.model;
    let weeks = f64::from(m.weeks.max(1));
    let slos: Vec<SloResult> = m
        .slos
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let attained = pooled(stats, |r| r.slo[i]);
            SloResult {
                rotation: s.rotation.clone(),
                severity: s.severity.to_string(),
                ack_within_seconds: s.within,
                target: s.target,
                incidents: stats.iter().map(|r| r.slo[i].1).sum(),
                met: attained.value >= s.target,
                met_with_confidence: attained.lo >= s.target,
                attained,
            }
        })
        .collect();
    let functional: Vec<FunctionalResult> = m
        .functional
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let attained = pooled(stats, |r| r.functional[i]);
            FunctionalResult {
                name: f.name.clone(),
                within_seconds: f.within,
                target: f.target,
                incidents: stats.iter().map(|r| r.functional[i].1).sum(),
                met: attained.value >= f.target,
                met_with_confidence: attained.lo >= f.target,
                attained,
            }
        })
        .collect();
    // An SLO no simulated incident fell under is not judged (its row says so).
    let all_met = slos.iter().all(|s| s.met || s.incidents == 0)
        && functional.iter().all(|f| f.met || f.incidents == 0);
    let horizon = prepared.horizon_seconds().max(1.0);
    let people: Vec<PersonLoad> = (0..m.people.len())
        .filter(|p| prepared.in_rotation[*p])
        .map(|p| PersonLoad {
            id: m.people[p].id.clone(),
            on_call_share: round(prepared.on_call_seconds[p] / horizon, 4),
            pages_per_week: over_runs(stats, 2, |r| r.pages[p] as f64 / weeks),
            sleep_pages_per_week: over_runs(stats, 2, |r| r.buckets[p][SLEEP] as f64 / weeks),
            worst_week: stats.iter().map(|r| r.worst_week[p]).max().unwrap_or(0),
        })
        .collect();
    let max_on_call_share = people.iter().map(|p| p.on_call_share).fold(0.0, f64::max);
    let bucket = |b: usize| {
        pooled(stats, |r| {
            let all: u64 = r.buckets.iter().map(|x| x.iter().sum::<u64>()).sum();
            (r.buckets.iter().map(|x| x[b]).sum(), all)
        })
    };
    Report {
        start: m.start.to_string(),
        weeks: m.weeks,
        runs: stats.len() as u32,
        seed,
        incidents_per_week: over_runs(stats, 2, |r| r.incidents as f64 / weeks),
        slos,
        functional,
        ack_seconds: AckPercentiles {
            p50: percentile_over_runs(stats, 0),
            p90: percentile_over_runs(stats, 1),
            p99: percentile_over_runs(stats, 2),
            mean: over_runs(stats, 2, |r| r.mean_wait),
            waited: over_runs(stats, 4, |r| {
                let acked = r.incidents - r.unacknowledged;
                if acked == 0 {
                    f64::NAN
                } else {
                    r.waited as f64 / acked as f64
                }
            }),
        },
        unacknowledged: pooled(stats, |r| (r.unacknowledged, r.incidents)),
        escalation: Escalation {
            reached_step_2: pooled(stats, |r| (r.reached_second, r.incidents)),
            reached_last_step: pooled(stats, |r| (r.reached_last, r.incidents)),
        },
        cost: CostReport {
            pages_per_person_week: [
                over_runs(stats, 2, |r| r.person_week[0]),
                over_runs(stats, 2, |r| r.person_week[1]),
                over_runs(stats, 2, |r| r.person_week[2]),
            ],
            interruptions: Interruptions {
                business: bucket(BUSINESS),
                off_hours: bucket(OFF_HOURS),
                sleep: bucket(SLEEP),
            },
            on_call_cap: ON_CALL_CAP,
            max_on_call_share,
            over_cap: people
                .iter()
                .filter(|p| p.on_call_share > ON_CALL_CAP)
                .map(|p| p.id.clone())
                .collect(),
            incidents_per_shift: ShiftLoad {
                ceiling: SHIFT_CEILING,
                mean: over_runs(stats, 3, |r| r.shift[0]),
                p95: over_runs(stats, 2, |r| r.shift[1]),
                over_ceiling: pooled(stats, |r| (r.shifts_over, r.shifts)),
            },
            gini: over_runs(stats, 4, |r| r.gini),
            pairwise_balance: over_runs(stats, 4, |r| r.balance),
        },
        people,
        all_met,
    }
}
