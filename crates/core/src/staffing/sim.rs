//! One run: `(prepared model, seed) -> RunStats`. Everything that does not depend on the seed
//! (shift tables, zone offsets, arrival rates, on-call time) is computed once in [`Prepared`],
//! so a run is arithmetic, binary searches and the PRNG.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::rng::Rng;
use super::stats::percentile;
use super::{Busy, HandsOn, LogNormal, Model, Target};
use crate::schedule::{Cover, Resolver};

const HOUR: f64 = 3600.0;
const DAY: i64 = 86_400;
const WEEK: f64 = 7.0 * 86_400.0;
const SHIFT: f64 = 12.0 * HOUR;
/// Nobody: a gap in a shift table.
const NOBODY: u32 = u32::MAX;

/// Interruption buckets (PagerDuty's): business, off-hours, sleep.
pub const BUSINESS: usize = 0;
pub const OFF_HOURS: usize = 1;
pub const SLEEP: usize = 2;

/// The seed-independent part of a model, ready for many runs.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub model: Model,
    start_unix: i64,
    hours: usize,
    /// Per schedule: (start, person or NOBODY), sorted, starting at 0.
    tables: Vec<Vec<(f64, u32)>>,
    /// Per person: UTC offset in seconds for each hour of the horizon.
    offsets: Vec<Vec<i32>>,
    /// Per stream: arrivals per hour for each hour of the horizon.
    rates: Vec<Vec<f64>>,
    /// Per stream: cumulative policy weights, and the policies.
    picks: Vec<(Vec<f64>, Vec<usize>)>,
    /// Per policy: (offset, step) of every notification round over all passes.
    rounds: Vec<Vec<(f64, usize)>>,
    /// Per person: seconds on call in the horizon (any schedule of the model).
    pub on_call_seconds: Vec<f64>,
    /// Per person and 12-hour block: on call at some moment of it.
    on_call_blocks: Vec<bool>,
    blocks: usize,
    /// People some schedule or target of the model can page: whose load counts.
    pub in_rotation: Vec<bool>,
}

/// What one run measured, reduced to counts and per-run values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunStats {
    pub incidents: u64,
    /// Per SLO: (acknowledged within, incidents).
    pub slo: Vec<(u64, u64)>,
    /// Per functional rotation: (acknowledged within, incidents).
    pub functional: Vec<(u64, u64)>,
    /// Acknowledgement percentiles p50, p90, p99 (seconds; infinite when unacknowledged).
    pub ack: [f64; 3],
    /// Mean time to acknowledge over acknowledged incidents (Erlang C's ASA in queue mode).
    pub mean_wait: f64,
    /// Acknowledged incidents that waited at all (Erlang C's P(wait) in queue mode).
    pub waited: u64,
    pub unacknowledged: u64,
    pub reached_second: u64,
    pub reached_last: u64,
    /// Per person: pages in the horizon, and per bucket.
    pub pages: Vec<u64>,
    pub buckets: Vec<[u64; 3]>,
    /// Per person: the most pages in one week.
    pub worst_week: Vec<u64>,
    /// Person-weeks: mean, p95, max pages (people in rotation).
    pub person_week: [f64; 3],
    /// Incidents per on-call 12-hour shift: mean, p95.
    pub shift: [f64; 2],
    /// On-call shifts with more incidents than the ceiling, and all on-call shifts.
    pub shifts_over: u64,
    pub shifts: u64,
    /// Gini and pairwise balance of pages per person in rotation.
    pub gini: f64,
    pub balance: f64,
}

impl Prepared {
    pub fn new(model: Model) -> Prepared {
        let start_unix = model.start.as_second();
        let hours = model.weeks as usize * 168;
        let horizon = hours as f64 * HOUR;
        let end = Timestamp::from_second(start_unix + hours as i64 * 3600).unwrap_or(model.start);
        let mut resolver = Resolver::new();
        let ids: std::collections::HashMap<&str, u32> = model
            .people
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i as u32))
            .collect();
        let tables: Vec<Vec<(f64, u32)>> = model
            .schedules
            .iter()
            .map(|s| {
                let mut t: Vec<(f64, u32)> = resolver
                    .resolve(s, model.start, end)
                    .iter()
                    .map(|seg| {
                        let who = match seg.cover {
                            Cover::Gap => NOBODY,
                            c => s
                                .person(c)
                                .and_then(|p| ids.get(p).copied())
                                .unwrap_or(NOBODY),
                        };
                        ((seg.start.as_second() - start_unix) as f64, who)
                    })
                    .collect();
                if t.first().is_none_or(|f| f.0 > 0.0) {
                    t.insert(0, (0.0, NOBODY));
                }
                t
            })
            .collect();
        let offsets = model
            .people
            .iter()
            .map(|p| zone_offsets(&p.zone, start_unix, hours))
            .collect();
        let shape_offsets = zone_offsets(&model.shape_zone, start_unix, hours);
        let rates = model
            .streams
            .iter()
            .map(|s| {
                let total: f64 = s.shape.iter().sum();
                (0..hours)
                    .map(|h| {
                        let local = start_unix + h as i64 * 3600 + i64::from(shape_offsets[h]);
                        let how = hour_of_week(local);
                        let w = s.shape.get(how).copied().unwrap_or(0.0);
                        if total > 0.0 {
                            s.per_week * w / total
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let picks = model
            .streams
            .iter()
            .map(|s| {
                let mut acc = 0.0;
                let cum = s
                    .policies
                    .iter()
                    .map(|(_, w)| {
                        acc += w.max(0.0);
                        acc
                    })
                    .collect();
                (cum, s.policies.iter().map(|(p, _)| *p).collect())
            })
            .collect();
        let rounds = model
            .policies
            .iter()
            .map(|p| {
                let mut out = Vec::new();
                let mut at = 0.0;
                for _ in 0..=p.repeat {
                    for (i, s) in p.steps.iter().enumerate() {
                        out.push((at, i));
                        at += s.delay.max(0.0);
                    }
                }
                out
            })
            .collect();
        let n = model.people.len();
        let blocks = (horizon / SHIFT).ceil() as usize;
        let (escalation, any) = paged_schedules(&model);
        let mut in_rotation = vec![false; n];
        let mut on_call_seconds = vec![0.0; n];
        for (p, merged) in merged_on_call(&tables, &any, n, horizon).iter().enumerate() {
            on_call_seconds[p] = merged.iter().map(|(s, e)| e - s).sum();
            in_rotation[p] = !merged.is_empty();
        }
        let mut on_call_blocks = vec![false; n * blocks];
        for (p, merged) in merged_on_call(&tables, &escalation, n, horizon)
            .iter()
            .enumerate()
        {
            for &(s, e) in merged {
                let (b0, b1) = (
                    (s / SHIFT) as usize,
                    ((e / SHIFT).ceil() as usize).min(blocks),
                );
                for b in b0..b1 {
                    on_call_blocks[p * blocks + b] = true;
                }
            }
        }
        let targets = model
            .policies
            .iter()
            .flat_map(|p| p.steps.iter().flat_map(|s| s.targets.iter()))
            .chain(model.functional.iter().flat_map(|f| f.targets.iter()));
        for t in targets {
            if let Target::Person(p) = t
                && let Some(r) = in_rotation.get_mut(*p)
            {
                *r = true;
            }
        }
        Prepared {
            model,
            start_unix,
            hours,
            tables,
            offsets,
            rates,
            picks,
            rounds,
            on_call_seconds,
            on_call_blocks,
            blocks,
            in_rotation,
        }
    }

    pub fn horizon_seconds(&self) -> f64 {
        self.hours as f64 * HOUR
    }

    fn on_call(&self, schedule: usize, t: f64) -> Option<usize> {
        let table = &self.tables[schedule];
        let i = table.partition_point(|x| x.0 <= t).checked_sub(1)?;
        let who = table[i].1;
        (who != NOBODY).then_some(who as usize)
    }

    /// Local (weekday from Monday = 0, hour) of person `p` at `t`.
    fn local(&self, p: usize, t: f64) -> (i64, i64) {
        let h = ((t / HOUR) as usize).min(self.hours.saturating_sub(1));
        let offset = self.offsets[p].get(h).copied().unwrap_or(0);
        let local = self.start_unix + t as i64 + i64::from(offset);
        (
            (local.div_euclid(DAY) + 3).rem_euclid(7),
            local.rem_euclid(DAY) / 3600,
        )
    }
}

/// Per schedule: paged by an escalation policy; paged by anything (policies or functional
/// rotations). Schedules nothing pages cost nobody anything here.
fn paged_schedules(model: &Model) -> (Vec<bool>, Vec<bool>) {
    let mut escalation = vec![false; model.schedules.len()];
    let mut any = vec![false; model.schedules.len()];
    let steps = model.policies.iter().flat_map(|p| p.steps.iter());
    for t in steps.flat_map(|s| s.targets.iter()) {
        if let Target::Schedule(i) = t {
            escalation[*i] = true;
            any[*i] = true;
        }
    }
    for t in model.functional.iter().flat_map(|f| f.targets.iter()) {
        if let Target::Schedule(i) = t {
            any[*i] = true;
        }
    }
    (escalation, any)
}

/// Per person: the merged stretches they are on call in the included schedules.
fn merged_on_call(
    tables: &[Vec<(f64, u32)>],
    include: &[bool],
    people: usize,
    horizon: f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut intervals: Vec<Vec<(f64, f64)>> = vec![Vec::new(); people];
    for (t, _) in tables.iter().zip(include).filter(|(_, inc)| **inc) {
        for (i, &(s, who)) in t.iter().enumerate() {
            let e = t.get(i + 1).map_or(horizon, |x| x.0).min(horizon);
            if who != NOBODY && e > s {
                intervals[who as usize].push((s, e));
            }
        }
    }
    for iv in &mut intervals {
        iv.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut merged: Vec<(f64, f64)> = Vec::new();
        for &(s, e) in iv.iter() {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        *iv = merged;
    }
    intervals
}

/// The interruption bucket of local (weekday, hour).
pub fn bucket(weekday: i64, hour: i64) -> usize {
    if !(8..22).contains(&hour) {
        SLEEP
    } else if weekday < 5 && hour < 18 {
        BUSINESS
    } else {
        OFF_HOURS
    }
}

fn hour_of_week(local: i64) -> usize {
    let weekday = (local.div_euclid(DAY) + 3).rem_euclid(7);
    (weekday * 24 + local.rem_euclid(DAY) / 3600) as usize
}

fn zone_offsets(zone: &TimeZone, start_unix: i64, hours: usize) -> Vec<i32> {
    (0..hours.max(1))
        .map(|h| {
            Timestamp::from_second(start_unix + h as i64 * 3600)
                .map(|ts| zone.to_offset(ts).seconds())
                .unwrap_or(0)
        })
        .collect()
}

fn sample(rng: &mut Rng, d: LogNormal) -> f64 {
    if d.median <= 0.0 {
        return 0.0;
    }
    rng.lognormal(d.mu(), d.sigma())
}

/// The mutable state of one run.
struct Run<'a> {
    p: &'a Prepared,
    rng: Rng,
    busy_until: Vec<f64>,
    stats: RunStats,
    weekly: Vec<u64>,
    handled: Vec<u16>,
    latencies: Vec<f64>,
    weeks: usize,
}

/// One run of the prepared model with `seed`.
pub fn run(p: &Prepared, seed: u64) -> RunStats {
    let n = p.model.people.len();
    let weeks = (p.model.weeks as usize).max(1);
    let mut r = Run {
        p,
        rng: Rng::new(seed),
        busy_until: vec![f64::NEG_INFINITY; n],
        stats: RunStats {
            slo: vec![(0, 0); p.model.slos.len()],
            functional: vec![(0, 0); p.model.functional.len()],
            pages: vec![0; n],
            buckets: vec![[0; 3]; n],
            ..RunStats::default()
        },
        weekly: vec![0; n * weeks],
        handled: vec![0; n * p.blocks],
        latencies: Vec::new(),
        weeks,
    };
    let arrivals = r.arrivals();
    r.latencies.reserve(arrivals.len());
    for &(t, stream, policy) in &arrivals {
        r.incident(t, stream as usize, policy as usize);
    }
    r.finish()
}

impl Run<'_> {
    /// (time, stream, policy) of every incident, in time order.
    fn arrivals(&mut self) -> Vec<(f64, u32, u32)> {
        let mut out = Vec::new();
        for h in 0..self.p.hours {
            let first = out.len();
            for (s, rates) in self.p.rates.iter().enumerate() {
                let rate = rates[h];
                if rate <= 0.0 {
                    continue;
                }
                let mut x = self.rng.exponential(1.0 / rate);
                while x < 1.0 {
                    let (cum, policies) = &self.p.picks[s];
                    if let Some(i) = self.rng.pick(cum) {
                        out.push(((h as f64 + x) * HOUR, s as u32, policies[i] as u32));
                    }
                    x += self.rng.exponential(1.0 / rate);
                }
            }
            out[first..].sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        out
    }

    fn incident(&mut self, t: f64, stream: usize, policy: usize) {
        let p = self.p;
        let severity = p.model.streams[stream].severity;
        self.stats.incidents += 1;
        // Functional rotations first: paged at declaration, before this incident's own
        // responder becomes busy with it.
        for i in 0..p.model.functional.len() {
            if p.model.functional[i].severities.contains(&severity) {
                self.functional(i, t);
            }
        }
        let steps = &p.model.policies[policy].steps;
        let last = steps.len().saturating_sub(1);
        let (mut best, mut acker) = (f64::INFINITY, None);
        let (mut second, mut reached_last) = (false, false);
        for &(offset, step) in &p.rounds[policy] {
            let at = t + offset;
            if best <= at {
                break;
            }
            second |= step >= 1;
            reached_last |= step == last && last >= 1;
            for target in &steps[step].targets {
                if let Some(who) = self.resolve(*target, at)
                    && let Some(ack) = self.page(who, at)
                    && ack < best
                {
                    (best, acker) = (ack, Some(who));
                }
            }
        }
        self.stats.reached_second += u64::from(second);
        self.stats.reached_last += u64::from(reached_last);
        let latency = best - t;
        self.latencies.push(latency);
        if let Some(who) = acker {
            let hands_on = match &p.model.hands_on {
                HandsOn::Exponential(mean) => self.rng.exponential(*mean),
                HandsOn::LogNormal(per) => per
                    .iter()
                    .find(|(s, _)| *s == severity)
                    .map_or(0.0, |(_, d)| sample(&mut self.rng, *d)),
            };
            self.busy_until[who] = self.busy_until[who].max(best) + hands_on;
            let block = (best / SHIFT) as usize;
            if block < p.blocks {
                let c = &mut self.handled[who * p.blocks + block];
                *c = c.saturating_add(1);
            }
        }
        for (i, slo) in p.model.slos.iter().enumerate() {
            if slo.severity == severity && slo.policies.contains(&policy) {
                self.stats.slo[i].1 += 1;
                self.stats.slo[i].0 += u64::from(latency <= slo.within);
            }
        }
    }

    fn functional(&mut self, i: usize, t: f64) {
        let f = &self.p.model.functional[i];
        let mut best = f64::INFINITY;
        for target in &f.targets {
            if let Some(who) = self.resolve(*target, t)
                && let Some(ack) = self.page(who, t)
            {
                best = best.min(ack);
            }
        }
        self.stats.functional[i].1 += 1;
        self.stats.functional[i].0 += u64::from(best - t <= f.within);
    }

    fn resolve(&self, target: Target, at: f64) -> Option<usize> {
        match target {
            Target::Person(p) => Some(p),
            Target::Schedule(s) => self.p.on_call(s, at),
        }
    }

    /// Pages `who` at `at`: counts the interruption and answers when they acknowledge.
    fn page(&mut self, who: usize, at: f64) -> Option<f64> {
        let person = &self.p.model.people[who];
        let (weekday, hour) = self.p.local(who, at);
        self.stats.pages[who] += 1;
        self.stats.buckets[who][bucket(weekday, hour)] += 1;
        let week = ((at / WEEK) as usize).min(self.weeks - 1);
        self.weekly[who * self.weeks + week] += 1;
        if self.rng.chance(person.absence) {
            return None;
        }
        let asleep = !(7..23).contains(&hour);
        let commuting = weekday < 5 && (hour == 8 || hour == 17);
        let delay = match (asleep, commuting) {
            (true, _) => person.ack.asleep,
            (false, true) => person.ack.commuting,
            _ => person.ack.awake,
        };
        let mut ack = at + person.first_channel + sample(&mut self.rng, delay);
        let free = self.busy_until[who];
        if free > at {
            match self.p.model.busy {
                Busy::Wait => ack = ack.max(free),
                Busy::Extra(extra) => ack += extra,
            }
        }
        Some(ack)
    }

    fn finish(mut self) -> RunStats {
        let p = self.p;
        let lat = &mut self.latencies;
        lat.sort_by(f64::total_cmp);
        self.stats.ack = [
            percentile(lat, 0.5),
            percentile(lat, 0.9),
            percentile(lat, 0.99),
        ];
        let acked: Vec<f64> = lat.iter().copied().filter(|x| x.is_finite()).collect();
        self.stats.unacknowledged = (lat.len() - acked.len()) as u64;
        self.stats.waited = acked.iter().filter(|x| **x > 0.0).count() as u64;
        self.stats.mean_wait = if acked.is_empty() {
            f64::NAN
        } else {
            acked.iter().sum::<f64>() / acked.len() as f64
        };
        let n = p.model.people.len();
        let mut cells: Vec<f64> = Vec::new();
        let mut totals: Vec<f64> = Vec::new();
        self.stats.worst_week = vec![0; n];
        for who in (0..n).filter(|w| p.in_rotation[*w]) {
            let weeks = &self.weekly[who * self.weeks..(who + 1) * self.weeks];
            cells.extend(weeks.iter().map(|x| *x as f64));
            self.stats.worst_week[who] = weeks.iter().copied().max().unwrap_or(0);
            totals.push(self.stats.pages[who] as f64);
        }
        cells.sort_by(f64::total_cmp);
        self.stats.person_week = [
            mean(&cells),
            percentile(&cells, 0.95),
            cells.last().copied().unwrap_or(0.0),
        ];
        let mut shifts: Vec<f64> = Vec::new();
        for (i, on) in p.on_call_blocks.iter().enumerate() {
            if *on {
                shifts.push(f64::from(self.handled[i]));
            }
        }
        shifts.sort_by(f64::total_cmp);
        self.stats.shifts = shifts.len() as u64;
        self.stats.shifts_over = shifts.iter().filter(|x| **x > 2.0).count() as u64;
        self.stats.shift = [mean(&shifts), percentile(&shifts, 0.95)];
        self.stats.gini = super::stats::gini(&totals);
        self.stats.balance = super::stats::pairwise_balance(&totals);
        self.stats
    }
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

#[cfg(test)]
impl Prepared {
    pub(super) fn local_for_test(&self, p: usize, t: f64) -> (i64, i64) {
        self.local(p, t)
    }
}
