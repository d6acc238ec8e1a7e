//! `muster bench timers`: 100,000 pending timers, fired by the real scheduler on the real
//! clock; reports firing lateness (commit time minus due time) p50/p99/max and throughput.
//!
//! Of the 100,000, [`DUE`] come due uniformly over [`WINDOW`] (1,000 a second, once all are
//! armed); the rest stay pending a day later, so every claim works against the full table.
//! Each firing is one transaction that queues one outbox item, as a policy action does. For
//! comparison: GoAlert's engine processes escalations on a fixed 5 s cycle.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use jiff::{SignedDuration, Timestamp};
use muster_core::Clock;
use muster_server::SystemClock;
use muster_server::scheduler::{BoxFuture, Scheduler, TimerHandler};
use muster_store::{ClaimedTimer, Effects, FireOutcome, OutboxItem, Store, StoreError};
use muster_store::{TimerChange, TimerSpec};
use serde_json::json;
use tokio::sync::Notify;

use crate::bench::{BenchArgs, emit};

const TIMERS: usize = 100_000;
/// Timers that come due during the run; the others wait a day.
const DUE: usize = 20_000;
/// The due ones are spread over this window.
const WINDOW: Duration = Duration::from_secs(20);
/// Timers armed per transaction while setting up.
const ARM_CHUNK: usize = 2_000;

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("muster-bench-timers-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}/timers.db", dir.display());
    let result = on("sqlite", &sqlite).await;
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    if let Some(pg) = &args.pg {
        on("postgres", pg).await?;
    }
    Ok(())
}

async fn on(backend: &str, url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url)
        .await
        .context("cannot open the database")?;
    // A unique prefix, so a reused PostgreSQL database does not collide with earlier runs.
    let prefix = format!(
        "bench-{}-{}",
        std::process::id(),
        SystemClock.now().as_millisecond()
    );
    let started = std::time::Instant::now();
    let first_due = arm(&store, &prefix).await?;
    let arm_secs = started.elapsed().as_secs_f64();
    let recorder = Arc::new(Recorder::default());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let scheduler = Scheduler::new(store.clone(), Arc::new(SystemClock));
    let running = tokio::spawn(scheduler.run(recorder.clone(), async {
        let _ = stopped.await;
    }));
    let limit = WINDOW + Duration::from_secs(120);
    let done = tokio::time::timeout(limit, recorder.wait_for(DUE)).await;
    let fire_secs = (SystemClock.now().duration_since(first_due)).as_secs_f64();
    let _ = stop.send(());
    let _ = running.await;
    let mut late = recorder.lateness();
    let ctx = json!({ "backend": backend, "timers": TIMERS, "due": DUE, "window_s": WINDOW.as_secs(),
        "fired": late.len(), "completed": done.is_ok(),
        "comparison": "GoAlert engine cycle: 5 s" });
    late.sort_unstable_by(f64::total_cmp);
    emit("timers", "arm_seconds", arm_secs, "s", ctx.clone());
    emit(
        "timers",
        "lateness_p50",
        percentile(&late, 0.50),
        "ms",
        ctx.clone(),
    );
    emit(
        "timers",
        "lateness_p99",
        percentile(&late, 0.99),
        "ms",
        ctx.clone(),
    );
    emit(
        "timers",
        "lateness_max",
        percentile(&late, 1.0),
        "ms",
        ctx.clone(),
    );
    let rate = late.len() as f64 / fire_secs.max(f64::EPSILON);
    emit("timers", "fired_per_second", rate, "1/s", ctx);
    store.close().await;
    Ok(())
}

/// Arms the timers, due uniformly over `WINDOW` from a moment after arming ends; returns
/// the first due time.
async fn arm(store: &Store, prefix: &str) -> anyhow::Result<Timestamp> {
    // Arming 100,000 rows takes a few seconds; start the window after it, or the first
    // timers would be late before the scheduler even starts.
    let first_due = SystemClock.now() + SignedDuration::from_secs(40);
    let later = first_due + SignedDuration::from_hours(24);
    let step_ns = WINDOW.as_nanos() as i64 / DUE as i64;
    for chunk in (0..TIMERS).collect::<Vec<_>>().chunks(ARM_CHUNK) {
        let timers = chunk
            .iter()
            .map(|&i| {
                TimerChange::Set(TimerSpec {
                    key: format!("{prefix}/{i}"),
                    incident: None,
                    due_at: if i < DUE {
                        first_due + SignedDuration::from_nanos(step_ns * i as i64)
                    } else {
                        later + SignedDuration::from_millis(i as i64)
                    },
                    payload: serde_json::Value::Null,
                })
            })
            .collect();
        let effects = Effects {
            timers,
            outbox: vec![],
            ..Default::default()
        };
        store.apply_effects(SystemClock.now(), &effects).await?;
    }
    anyhow::ensure!(
        SystemClock.now() < first_due,
        "arming took longer than the head start; timers were due before the scheduler ran"
    );
    Ok(first_due)
}

/// Fires each timer with one outbox item, and records how late it fired.
#[derive(Default)]
struct Recorder {
    late_ms: Mutex<Vec<f64>>,
    changed: Notify,
}

impl Recorder {
    fn lateness(&self) -> Vec<f64> {
        self.late_ms.lock().map(|v| v.clone()).unwrap_or_default()
    }

    async fn wait_for(&self, n: usize) {
        loop {
            let changed = self.changed.notified();
            if self.late_ms.lock().map(|v| v.len()).unwrap_or(0) >= n {
                return;
            }
            changed.await;
        }
    }
}

impl TimerHandler for Recorder {
    fn fire<'a>(
        &'a self,
        store: &'a Store,
        timer: &'a ClaimedTimer,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<FireOutcome, StoreError>> {
        Box::pin(async move {
            let item = OutboxItem {
                idempotency_key: format!("{}/page", timer.key),
                incident: None,
                effect: "page".into(),
                payload: serde_json::Value::Null,
            };
            let outcome = store
                .fire_timer(
                    timer,
                    now,
                    move |_| {
                        Ok((
                            vec![],
                            Effects {
                                timers: vec![],
                                outbox: vec![item],
                                ..Default::default()
                            },
                        ))
                    },
                    "bench",
                )
                .await?;
            if let FireOutcome::Fired { .. } = &outcome {
                // Measured after the commit: the firing is only real once it is durable.
                let late = SystemClock.now().duration_since(timer.due_at);
                if let Ok(mut v) = self.late_ms.lock() {
                    v.push((late.as_secs_f64() * 1000.0).max(0.0));
                }
                self.changed.notify_waiters();
            }
            Ok(outcome)
        })
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
