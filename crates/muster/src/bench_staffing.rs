//! `muster bench staffing`: simulated incidents per second on the configuration's real
//! schedules and escalation policies (arrivals scaled to a large organisation, 100× the demo's,
//! so runs are long enough to measure), and the wall time of a sweep of 20 candidates × 52
//! weeks × 100 runs. Runs spread over the machine's cores as `muster staffing simulate` does.
//! A debug build measures a small size (it is a smoke test there, not a number).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use muster_core::staffing::{Prepared, sweep};
use serde_json::json;

use crate::bench::emit;
use muster_server::staffing::run_all;

/// Weeks and runs of each measurement: the release sizes, or small ones in a debug build.
fn sizes() -> (u32, u32) {
    if cfg!(debug_assertions) {
        (4, 4)
    } else {
        (52, 100)
    }
}

fn start() -> jiff::Timestamp {
    // A fixed Monday, so every measurement simulates the same weeks.
    jiff::Timestamp::from_second(1_767_571_200).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

pub fn run(dir: &Path) -> anyhow::Result<()> {
    let config = muster_config::load(dir).map_err(|e| {
        anyhow::anyhow!(
            "the configuration has errors: {}",
            e.first().map(|d| d.to_string()).unwrap_or_default()
        )
    })?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (weeks, runs) = sizes();
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let ctx = json!({ "weeks": weeks, "runs": runs, "threads": threads, "build": build });

    let mut model = config
        .staffing_model(start(), weeks, None)
        .map_err(anyhow::Error::msg)
        .context("muster bench staffing needs a staffing section")?;
    for s in &mut model.streams {
        s.per_week *= 100.0;
    }
    let prepared = Prepared::new(model);
    let _ = run_all(&prepared, 1, 0, 1); // warm-up
    let t = Instant::now();
    let stats = run_all(&prepared, runs, 1, threads);
    let secs = t.elapsed().as_secs_f64();
    let incidents: u64 = stats.iter().map(|s| s.incidents).sum();
    emit(
        "staffing",
        "simulated_incidents_per_s",
        incidents as f64 / secs,
        "incidents/s",
        json!({ "incidents": incidents, "weeks": weeks, "runs": runs, "threads": threads, "build": build }),
    );

    let model = config
        .staffing_model(start(), weeks, None)
        .map_err(anyhow::Error::msg)?;
    let rotation = model
        .slos
        .first()
        .map(|s| s.rotation.clone())
        .context("the staffing section has no SLOs to sweep")?;
    let spec = config
        .sweep_spec(&model, &rotation)
        .map_err(anyhow::Error::msg)?;
    let candidates: Vec<sweep::Candidate> = sweep::candidates(6).into_iter().take(20).collect();
    let t = Instant::now();
    let mut passing = 0;
    for c in &candidates {
        let prepared = Prepared::new(sweep::model_for(&model, &spec, *c));
        let stats = run_all(&prepared, runs, 1, threads);
        let report = muster_core::staffing::aggregate(&prepared, &stats, 1);
        passing += usize::from(sweep::judge(*c, &report, &rotation).passes);
    }
    let mut extra = ctx;
    if let Some(o) = extra.as_object_mut() {
        o.insert("candidates".into(), json!(candidates.len()));
        o.insert("rotation".into(), json!(rotation));
        o.insert("passing".into(), json!(passing));
    }
    emit(
        "staffing",
        "sweep_wall_s",
        t.elapsed().as_secs_f64(),
        "s",
        extra,
    );
    Ok(())
}
