//! The staffing page's simulations. A simulation is CPU-heavy, so it never runs on the async
//! threads and never once per page view: the last one asked for is kept per configuration in
//! force and per simulated week (the Monday of the clock's week, as the CLI starts), and every
//! viewer reads it until a reload, a new week or a responder's "run again" replaces it. The
//! first view after that waits for it on a blocking thread; views meanwhile share that run.

use std::sync::{Arc, Mutex, Weak};

use jiff::Timestamp;
use muster_config::Config;
use muster_core::staffing::Report;
use muster_server::staffing::{self as runs, Sweep, SweepSize};
use muster_server::{AppState, LoadedConfig};
use tokio::sync::OnceCell;

/// Runs above which the sweep (tens of simulations per rotation) is left to the CLI.
pub const SWEEP_MAX_RUNS: u32 = 200;
/// The most runs a responder may ask for.
pub const MAX_RUNS: u32 = 2_000;

/// What a simulation is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub runs: u32,
    pub seed: u64,
}

impl Ask {
    pub const DEFAULT: Ask = Ask {
        runs: runs::DEFAULT_RUNS,
        seed: runs::DEFAULT_SEED,
    };
}

/// A finished simulation: the report and, when cheap enough, the sweep of each SLO rotation.
pub struct Simulated {
    pub start: Timestamp,
    pub report: Report,
    /// `None` when the run count is above [`SWEEP_MAX_RUNS`].
    pub sweeps: Option<Vec<Sweep>>,
}

/// A simulation, or why the configuration has none.
pub type Outcome = Result<Simulated, String>;

struct Entry {
    /// The configuration simulated: a reload swaps the `Arc`, so the entry no longer matches.
    config: Weak<LoadedConfig>,
    start: Timestamp,
    ask: Ask,
    done: Arc<OnceCell<Arc<Outcome>>>,
}

/// The kept simulation, shared by the pages (an extension of the router).
#[derive(Clone, Default)]
pub struct Simulations(Arc<Mutex<Option<Entry>>>);

impl Simulations {
    /// The kept simulation of the configuration in force, or a new one: with `ask` when given
    /// (a responder's run again), else the defaults.
    pub async fn get(&self, state: &AppState, ask: Option<Ask>) -> Arc<Outcome> {
        let config = state.config();
        let start = runs::monday_of(state.clock.now()).unwrap_or(Timestamp::UNIX_EPOCH);
        let done = self.cell(&config, start, ask);
        done.get_or_init(|| compute(config, start, ask.unwrap_or(Ask::DEFAULT)))
            .await
            .clone()
    }

    fn cell(
        &self,
        config: &Arc<LoadedConfig>,
        start: Timestamp,
        ask: Option<Ask>,
    ) -> Arc<OnceCell<Arc<Outcome>>> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let current = kept.as_ref().filter(|e| {
            e.config.as_ptr() == Arc::as_ptr(config)
                && e.start == start
                && ask.is_none_or(|a| a == e.ask)
        });
        if let Some(e) = current {
            return e.done.clone();
        }
        let done = Arc::new(OnceCell::new());
        *kept = Some(Entry {
            config: Arc::downgrade(config),
            start,
            ask: ask.unwrap_or(Ask::DEFAULT),
            done: done.clone(),
        });
        done
    }
}

async fn compute(config: Arc<LoadedConfig>, start: Timestamp, ask: Ask) -> Arc<Outcome> {
    let outcome = tokio::task::spawn_blocking(move || simulate(&config.config, start, ask))
        .await
        .unwrap_or_else(|e| Err(format!("The simulation failed: {e}")));
    Arc::new(outcome)
}

/// Half the machine's cores (at least one), so the server keeps answering meanwhile; the
/// report does not depend on it.
fn threads() -> usize {
    (runs::threads() / 2).max(1)
}

/// The simulation `muster staffing simulate DIR --runs R --seed S [--sweep]` runs.
pub fn simulate(config: &Config, start: Timestamp, ask: Ask) -> Outcome {
    let model = config.staffing_model(start, runs::DEFAULT_WEEKS, None)?;
    if model.streams.is_empty() {
        return Err("No arrivals: add staffing.arrivals to the configuration.".into());
    }
    let threads = threads();
    let report = runs::run_report(model.clone(), ask.runs, ask.seed, threads);
    let sweeps = if ask.runs <= SWEEP_MAX_RUNS {
        let size = SweepSize {
            max_size: runs::DEFAULT_MAX_SIZE,
            runs: ask.runs,
            seed: ask.seed,
            threads,
        };
        Some(runs::sweeps(
            config,
            &model,
            &runs::slo_rotations(&model),
            size,
        )?)
    } else {
        None
    };
    Ok(Simulated {
        start,
        report,
        sweeps,
    })
}
