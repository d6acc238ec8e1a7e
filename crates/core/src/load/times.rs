//! Time from declaration to each milestone — acknowledged (MTTA), mitigated, resolved (MTTR)
//! — as count, median, 90th percentile and mean, in seconds.

use jiff::Timestamp;
use serde::Serialize;

use crate::timeline::{Change, TimelineEvent};

/// Seconds from declaration to one milestone over a set of incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Incidents that reached the milestone.
    pub count: usize,
    /// Nearest-rank percentiles: always a value some incident had.
    pub median_s: Option<i64>,
    pub p90_s: Option<i64>,
    /// Rounded to the nearest second.
    pub mean_s: Option<i64>,
}

impl Stats {
    pub fn of(mut values: Vec<i64>) -> Stats {
        values.sort_unstable();
        let n = values.len() as i64;
        let mean = (n > 0).then(|| {
            let sum: i64 = values.iter().sum();
            (2 * sum + n).div_euclid(2 * n)
        });
        Stats {
            count: values.len(),
            median_s: percentile(&values, 50),
            p90_s: percentile(&values, 90),
            mean_s: mean,
        }
    }
}

/// The nearest-rank `p`th percentile of sorted `values`: the smallest value with at least
/// `p` % of them at or below it.
pub fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    Some(sorted[rank - 1])
}

/// The three response times of a group of incidents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResponseTimes {
    pub incidents: usize,
    /// Declaration → acknowledged (MTTA).
    pub acknowledged: Stats,
    /// Declaration → mitigated.
    pub mitigated: Stats,
    /// Declaration → resolved (MTTR).
    pub resolved: Stats,
}

/// One incident's seconds to each milestone, `None` where it has not come.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Milestones {
    pub acknowledged: Option<i64>,
    pub mitigated: Option<i64>,
    pub resolved: Option<i64>,
}

impl Milestones {
    /// Acknowledged and mitigated count from their first time; resolved from the last
    /// resolution not undone by a reopen (a reopened incident is not resolved).
    pub fn of(declared_at: Timestamp, timeline: &[TimelineEvent]) -> Milestones {
        let since = |at: Timestamp| at.duration_since(declared_at).as_secs().max(0);
        let mut m = Milestones::default();
        for e in timeline {
            match &e.change {
                Change::MilestoneReached { milestone } => match milestone.as_str() {
                    "acknowledged" if m.acknowledged.is_none() => {
                        m.acknowledged = Some(since(e.at))
                    }
                    "mitigated" if m.mitigated.is_none() => m.mitigated = Some(since(e.at)),
                    "resolved" => m.resolved = Some(since(e.at)),
                    _ => {}
                },
                Change::Reopened { .. } => m.resolved = None,
                _ => {}
            }
        }
        m
    }
}

/// Collects the milestones of a group and turns them into [`ResponseTimes`].
#[derive(Debug, Clone, Default)]
pub struct Group {
    incidents: usize,
    acknowledged: Vec<i64>,
    mitigated: Vec<i64>,
    resolved: Vec<i64>,
}

impl Group {
    pub fn add(&mut self, m: Milestones) {
        self.incidents += 1;
        self.acknowledged.extend(m.acknowledged);
        self.mitigated.extend(m.mitigated);
        self.resolved.extend(m.resolved);
    }

    pub fn finish(self) -> ResponseTimes {
        ResponseTimes {
            incidents: self.incidents,
            acknowledged: Stats::of(self.acknowledged),
            mitigated: Stats::of(self.mitigated),
            resolved: Stats::of(self.resolved),
        }
    }
}
