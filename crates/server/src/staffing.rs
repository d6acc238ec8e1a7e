//! Staffing simulations as `muster staffing simulate` and the web UI's staffing page run them:
//! the core's runs spread over threads and aggregated in run order (so a report does not
//! depend on the thread count), the sweep of each SLO rotation, and the defaults both use.

use jiff::Timestamp;
use muster_config::Config;
use muster_core::staffing::{self, Model, Prepared, Report, RunStats, sweep};
use serde::Serialize;

/// Independent runs of a simulation unless asked otherwise (run r is seeded SEED + r).
pub const DEFAULT_RUNS: u32 = 100;
pub const DEFAULT_SEED: u64 = 1;
/// Weeks per run unless asked otherwise.
pub const DEFAULT_WEEKS: u32 = 13;
/// The largest rotation a sweep tries unless asked otherwise.
pub const DEFAULT_MAX_SIZE: u32 = 8;

/// Midnight UTC of the Monday of the week holding `now`: the first day simulated by default.
pub fn monday_of(now: Timestamp) -> Result<Timestamp, jiff::Error> {
    let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
    let back = i64::from(today.weekday().to_monday_zero_offset());
    let monday = today.checked_sub(jiff::Span::new().days(back))?;
    jiff::tz::Offset::UTC.to_timestamp(monday.to_datetime(jiff::civil::Time::midnight()))
}

/// The machine's cores: what a simulation spreads over.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `runs` runs on `threads` threads and aggregates them in run order.
pub fn run_report(model: Model, runs: u32, seed: u64, threads: usize) -> Report {
    let prepared = Prepared::new(model);
    let stats = run_all(&prepared, runs, seed, threads);
    staffing::aggregate(&prepared, &stats, seed)
}

/// The runs of `prepared` seeded `seed + r`, spread over `threads` threads, in run order.
pub fn run_all(prepared: &Prepared, runs: u32, seed: u64, threads: usize) -> Vec<RunStats> {
    let threads = threads.clamp(1, runs.max(1) as usize);
    let mut slots: Vec<Option<RunStats>> = vec![None; runs as usize];
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..runs as usize)
                        .step_by(threads)
                        .map(|r| (r, staffing::run(prepared, seed.wrapping_add(r as u64))))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            if let Ok(done) = h.join() {
                for (r, stats) in done {
                    slots[r] = Some(stats);
                }
            }
        }
    });
    slots.into_iter().flatten().collect()
}

/// One SLO rotation's sweep: its candidates smallest first and the one recommended.
#[derive(Clone, Debug, Serialize)]
pub struct Sweep {
    pub rotation: String,
    pub candidates: Vec<sweep::Outcome>,
    /// The smallest passing candidate, or else the best found.
    pub chosen: Option<String>,
    pub passed: bool,
}

/// What a sweep simulates: sizes up to `max_size`, each candidate `runs` runs seeded `seed`.
#[derive(Clone, Copy, Debug)]
pub struct SweepSize {
    pub max_size: u32,
    pub runs: u32,
    pub seed: u64,
    pub threads: usize,
}

/// The rotations the model's SLOs name, in their order.
pub fn slo_rotations(model: &Model) -> Vec<String> {
    let mut rotations: Vec<String> = Vec::new();
    for s in &model.slos {
        if !rotations.contains(&s.rotation) {
            rotations.push(s.rotation.clone());
        }
    }
    rotations
}

/// The sweep of each of `rotations` (SLO rotations of `model`).
pub fn sweeps(
    config: &Config,
    model: &Model,
    rotations: &[String],
    size: SweepSize,
) -> Result<Vec<Sweep>, String> {
    let mut out = Vec::new();
    for rotation in rotations {
        let spec = config.sweep_spec(model, rotation)?;
        let outcomes = sweep_rotation(model, &spec, rotation, size);
        let chosen = sweep::choose(&outcomes).map(|(o, passed)| (o.label.clone(), passed));
        out.push(Sweep {
            rotation: rotation.clone(),
            passed: chosen.as_ref().is_some_and(|c| c.1),
            chosen: chosen.map(|c| c.0),
            candidates: outcomes,
        });
    }
    Ok(out)
}

/// Every candidate of one rotation simulated and judged against its SLOs, smallest first.
pub fn sweep_rotation(
    model: &Model,
    spec: &sweep::Spec,
    rotation: &str,
    size: SweepSize,
) -> Vec<sweep::Outcome> {
    sweep::candidates(size.max_size)
        .into_iter()
        .map(|c| {
            let m = sweep::model_for(model, spec, c);
            let report = run_report(m, size.runs, size.seed, size.threads);
            sweep::judge(c, &report, rotation)
        })
        .collect()
}
