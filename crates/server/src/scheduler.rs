//! The timer scheduler: claims due timers and hands them to a [`TimerHandler`], then sleeps
//! until the next one is due, a commit wakes it, or at most [`MAX_SLEEP`].
//!
//! "Due" is always judged by the injected [`Clock`]; real time is used only to wait. Tests
//! drive [`Scheduler::tick`] with a `SimulatedClock`. Several schedulers (in one process or
//! many, on one database) may run at once: the store's claims and leases make each timer fire
//! exactly once (see `muster_store::Store::fire_timer`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use muster_core::{Clock, Timestamp};
use muster_store::{ClaimedTimer, FireOutcome, Store, StoreError};

/// The longest the scheduler sleeps without looking, so a lost wake-up only delays.
pub const MAX_SLEEP: Duration = Duration::from_secs(5);
/// How long a claim is held before another scheduler may take the timer over.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Timers claimed per round trip.
pub const DEFAULT_BATCH: u32 = 100;
/// Batches one tick handles at most, so a handler that keeps arming due timers cannot hold
/// a tick forever (`run` ticks again at once).
const MAX_BATCHES_PER_TICK: usize = 16;
/// The shortest pause between ticks, so "due but held by someone else" is not a busy loop.
const MIN_SLEEP: Duration = Duration::from_millis(10);

/// A boxed, sendable future (what [`TimerHandler::fire`] returns).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What to do with a claimed timer. Implementations call
/// [`Store::fire_timer`](muster_store::Store::fire_timer) with `now`, which checks the claim
/// and writes the outcome in one transaction.
pub trait TimerHandler: Send + Sync {
    fn fire<'a>(
        &'a self,
        store: &'a Store,
        timer: &'a ClaimedTimer,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<FireOutcome, StoreError>>;
}

/// Claims and fires due timers for one process.
pub struct Scheduler {
    store: Store,
    clock: Arc<dyn Clock>,
    owner: String,
    lease: Duration,
    batch: u32,
}

impl Scheduler {
    /// A scheduler with a fresh [`default_owner`], [`DEFAULT_LEASE`] and [`DEFAULT_BATCH`].
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Scheduler {
        Scheduler {
            store,
            clock,
            owner: default_owner(),
            lease: DEFAULT_LEASE,
            batch: DEFAULT_BATCH,
        }
    }

    /// Claims in this name; it must be unique among the schedulers sharing a database.
    pub fn with_owner(mut self, owner: impl Into<String>) -> Scheduler {
        self.owner = owner.into();
        self
    }

    pub fn with_lease(mut self, lease: Duration) -> Scheduler {
        self.lease = lease;
        self
    }

    /// Timers claimed per round trip (at least 1).
    pub fn with_batch(mut self, batch: u32) -> Scheduler {
        self.batch = batch.max(1);
        self
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims every timer due by the clock and hands each to `handler`. Returns how many
    /// fired (`Fired` or `Refused`: consumed). A handler error is logged and leaves the
    /// timer claimed until its lease ends; a claim error is returned.
    pub async fn tick(&self, handler: &dyn TimerHandler) -> Result<usize, StoreError> {
        let mut fired = 0;
        for _ in 0..MAX_BATCHES_PER_TICK {
            let claimed = self
                .store
                .claim_due_timers(&self.owner, self.clock.now(), self.lease, self.batch)
                .await?;
            let full = claimed.len() >= self.batch as usize;
            for timer in &claimed {
                let now = self.clock.now();
                match handler.fire(&self.store, timer, now).await {
                    Ok(FireOutcome::Fired { lateness, .. }) => {
                        fired += 1;
                        tracing::debug!(key = %timer.key, lateness_ms = lateness.as_millis() as u64, "timer fired");
                    }
                    Ok(FireOutcome::Refused { error, .. }) => {
                        fired += 1;
                        tracing::info!(key = %timer.key, %error, "timer handler refused; timer consumed");
                    }
                    Ok(outcome) => {
                        tracing::debug!(key = %timer.key, ?outcome, "timer not fired");
                    }
                    Err(e) => {
                        tracing::warn!(
                            key = %timer.key,
                            error = %e,
                            "firing a timer failed; it is retried when its lease ends"
                        );
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(fired)
    }

    /// How long to wait before the next tick: until the next timer is due by the clock,
    /// at most [`MAX_SLEEP`], at least [`MIN_SLEEP`].
    async fn wait(&self) -> Duration {
        let next = match self.store.next_timer_due().await {
            Ok(next) => next,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the next timer; sleeping the maximum");
                None
            }
        };
        let Some(next) = next else {
            return MAX_SLEEP;
        };
        let until = next.as_millisecond() - self.clock.now().as_millisecond();
        Duration::from_millis(u64::try_from(until).unwrap_or(0)).clamp(MIN_SLEEP, MAX_SLEEP)
    }

    /// Ticks until `shutdown` completes, sleeping between ticks until the next timer is due,
    /// a commit wakes it (see `Store::wakeups`), or [`MAX_SLEEP`]. Storage errors back off
    /// and retry; they never end the loop. Stopping mid-tick is safe: an unfinished fire
    /// rolls back and its timer is claimed again when the lease ends.
    pub async fn run(
        self,
        handler: Arc<dyn TimerHandler>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        tokio::pin!(shutdown);
        let wakeups = tokio::select! {
            biased;
            _ = &mut shutdown => return,
            wakeups = self.store.wakeups() => wakeups,
        };
        tracing::info!(owner = %self.owner, "timer scheduler started");
        let mut backoff = MIN_SLEEP;
        loop {
            let ticked = tokio::select! {
                biased;
                _ = &mut shutdown => break,
                ticked = self.tick(handler.as_ref()) => ticked,
            };
            let wait = match ticked {
                Ok(_) => {
                    backoff = MIN_SLEEP;
                    self.wait().await
                }
                Err(e) => {
                    backoff = (backoff * 2).min(MAX_SLEEP);
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "claiming timers failed");
                    backoff
                }
            };
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                _ = wakeups.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(owner = %self.owner, "timer scheduler stopped");
    }
}

/// `hostname-pid-random`: unique per process, and readable in the timers' `fired_by`.
pub fn default_owner() -> String {
    use std::hash::{BuildHasher, RandomState};
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    // RandomState is seeded randomly per process and per instance.
    let random = RandomState::new().hash_one(std::time::SystemTime::now());
    format!("{host}-{}-{:08x}", std::process::id(), random as u32)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use jiff::SignedDuration;
    use muster_core::SimulatedClock;
    use muster_store::{Effects, OutboxItem, TimerChange, TimerSpec};
    use tokio::sync::Notify;

    use super::*;

    fn t0() -> Timestamp {
        "2026-03-29T03:12:00Z".parse().unwrap()
    }

    /// Fires through the store, queuing one outbox item per timer, and records the keys.
    #[derive(Default)]
    struct Recorder {
        fired: Mutex<Vec<String>>,
        changed: Notify,
    }

    impl Recorder {
        fn fired(&self) -> Vec<String> {
            self.fired.lock().unwrap().clone()
        }

        async fn wait_for(&self, n: usize) {
            loop {
                let changed = self.changed.notified();
                if self.fired().len() >= n {
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
                let key = timer.key.clone();
                let outcome = store
                    .fire_timer(
                        timer,
                        now,
                        move |_| {
                            Ok((
                                vec![],
                                Effects {
                                    timers: vec![],
                                    outbox: vec![OutboxItem {
                                        idempotency_key: format!("out/{key}"),
                                        incident: None,
                                        effect: "notify".into(),
                                        payload: serde_json::Value::Null,
                                    }],
                                    ..Default::default()
                                },
                            ))
                        },
                        "scheduler-test",
                    )
                    .await?;
                if matches!(outcome, FireOutcome::Fired { .. }) {
                    self.fired.lock().unwrap().push(timer.key.clone());
                    self.changed.notify_waiters();
                }
                Ok(outcome)
            })
        }
    }

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("muster.db").display());
        (Store::connect(&url).await.unwrap(), dir)
    }

    async fn arm(store: &Store, key: &str, due_at: Timestamp) {
        let effects = Effects {
            timers: vec![TimerChange::Set(TimerSpec {
                key: key.into(),
                incident: None,
                due_at,
                payload: serde_json::Value::Null,
            })],
            outbox: vec![],
            ..Default::default()
        };
        store.apply_effects(due_at, &effects).await.unwrap();
    }

    #[tokio::test]
    async fn tick_fires_what_the_clock_says_is_due_once() {
        let (store, _dir) = store().await;
        let clock = Arc::new(SimulatedClock::new(t0()));
        arm(&store, "a", t0() + SignedDuration::from_secs(60)).await;
        arm(&store, "b", t0() + SignedDuration::from_secs(120)).await;
        for i in 0..250 {
            arm(
                &store,
                &format!("bulk-{i:03}"),
                t0() + SignedDuration::from_secs(300),
            )
            .await;
        }
        let scheduler = Scheduler::new(store.clone(), clock.clone()).with_batch(100);
        let recorder = Recorder::default();

        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 0);
        clock.advance(SignedDuration::from_secs(59));
        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 0);
        clock.advance(SignedDuration::from_secs(1));
        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 1);
        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 0);
        clock.advance(SignedDuration::from_secs(3600));
        // Several batches in one tick.
        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 251);
        assert_eq!(scheduler.tick(&recorder).await.unwrap(), 0);
        let fired = recorder.fired();
        assert_eq!(fired.len(), 252);
        assert_eq!(&fired[..2], ["a", "b"]);
        assert!(store.outbox_by_key("out/bulk-249").await.unwrap().is_some());
        assert_eq!(store.next_timer_due().await.unwrap(), None);
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_is_woken_by_a_commit_and_stops_on_shutdown() {
        let (store, _dir) = store().await;
        let clock = Arc::new(SimulatedClock::new(t0()));
        let recorder = Arc::new(Recorder::default());
        let scheduler = Scheduler::new(store.clone(), clock.clone()).with_owner("proc-1");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(scheduler.run(recorder.clone(), async {
            let _ = stopped.await;
        }));
        // Nothing armed: the scheduler sleeps the maximum (5 s) unless woken. A timer due now
        // fires well before that only if the commit wakes it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        arm(&store, "now", clock.now()).await;
        tokio::time::timeout(Duration::from_secs(3), recorder.wait_for(1))
            .await
            .expect("fired after the wake-up, before the capped sleep ended");
        let record = &store.timers_by_key("now").await.unwrap()[0];
        assert_eq!(record.fired_by.as_deref(), Some("proc-1"));

        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), running)
            .await
            .expect("run returns on shutdown")
            .unwrap();
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn run_sleeps_until_the_next_due_time_not_the_cap() {
        let (store, _dir) = store().await;
        let clock = Arc::new(SimulatedClock::new(t0()));
        // Armed before the scheduler starts: no wake-up will come for it.
        arm(&store, "soon", t0() + SignedDuration::from_millis(300)).await;
        let recorder = Arc::new(Recorder::default());
        let scheduler = Scheduler::new(store.clone(), clock.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(scheduler.run(recorder.clone(), async {
            let _ = stopped.await;
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(recorder.fired().is_empty(), "fired before it was due");
        clock.advance(SignedDuration::from_millis(300));
        tokio::time::timeout(Duration::from_secs(3), recorder.wait_for(1))
            .await
            .expect("fired when due, before the capped sleep ended");
        let _ = stop.send(());
        tokio::time::timeout(Duration::from_secs(3), running)
            .await
            .unwrap()
            .unwrap();
        store.close().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_schedulers_on_one_store_fire_each_timer_once() {
        let (store, _dir) = store().await;
        let clock = Arc::new(SimulatedClock::new(t0()));
        for i in 0..200 {
            arm(&store, &format!("t{i:03}"), t0()).await;
        }
        let recorder = Recorder::default();
        let a = Scheduler::new(store.clone(), clock.clone()).with_batch(7);
        let b = Scheduler::new(store.clone(), clock.clone()).with_batch(7);
        assert_ne!(a.owner(), b.owner());
        let (fa, fb) = tokio::join!(a.tick(&recorder), b.tick(&recorder));
        let (fa, fb) = (fa.unwrap(), fb.unwrap());
        // A tick handles at most 16 batches; tick again until nothing is left.
        let mut total = fa + fb;
        while total < 200 {
            let more = a.tick(&recorder).await.unwrap();
            assert!(more > 0, "timers left unfired");
            total += more;
        }
        let mut fired = recorder.fired();
        fired.sort();
        fired.dedup();
        assert_eq!((total, fired.len()), (200, 200));
        store.close().await;
    }

    #[test]
    fn owners_name_the_host_and_process_and_differ() {
        let (a, b) = (default_owner(), default_owner());
        assert_ne!(a, b);
        assert!(a.contains(&format!("-{}-", std::process::id())), "{a}");
    }
}
