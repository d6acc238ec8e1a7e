//! The bounded ingest queue and group commit.
//!
//! Intake requests queue their signals here; a worker takes whatever is queued (up to
//! [`MAX_BATCH`] requests) and commits it in one transaction, so concurrent requests share a
//! commit (and its fsync) instead of queueing for the single writer one by one. Each request
//! is answered only after its batch committed. On PostgreSQL [`PG_WORKERS`] workers take
//! turns at the queue, so one batch is gathered and decided while another waits for its
//! commit: the database's row and advisory locks order them exactly as they order two nodes.
//! SQLite has one writer, so one worker. A full queue answers 503 +
//! Retry-After at once (Alertmanager retries 5xx). If a batch fails, its requests are retried
//! one by one so a bad one cannot fail the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use muster_core::Clock;
use muster_core::alert::AlertSignal;
use muster_store::{Effects, EncodedAlert, Ingested, Store, StoreError};
use tokio::sync::{Mutex, Notify, mpsc, oneshot};

use crate::LoadedConfig;
use crate::reactions::AlertReactions;

/// Requests waiting for a commit at most; beyond, 503.
pub const QUEUE_CAPACITY: usize = 4096;
/// Requests committed together at most.
pub const MAX_BATCH: usize = 256;
/// Batches in flight at once on PostgreSQL. Requests answered before another is sent keep
/// their order whatever the count: a batch holds only requests that were waiting together.
pub const PG_WORKERS: usize = 3;
/// Signals a batch gathers before it is sent alongside another batch in flight.
pub const FULL_BATCH: usize = 64;
/// How long a batch gathers at most while another is in flight: a batch held up (say, by a
/// lock that another node's stalled transaction holds) delays unrelated alerts by no more.
pub const GATHER_FOR: std::time::Duration = std::time::Duration::from_millis(5);

pub type Reply = Result<Vec<Ingested>, StoreError>;

struct Job {
    actor: String,
    signals: Vec<AlertSignal>,
    /// The signals' JSON columns, encoded by the request's handler: off the serial path.
    encoded: Vec<EncodedAlert>,
    extra: Effects,
    /// The signals come back with the answer, so nobody copies them.
    reply: oneshot::Sender<(Vec<AlertSignal>, Reply)>,
}

/// The sending side; cheap to clone. The worker stops when every sender is gone.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Job>,
}

/// What the worker needs; not the whole `AppState`, so the state owning the sender can drop.
pub struct Worker {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<RwLock<Arc<LoadedConfig>>>,
    /// Where committed incident changes are announced.
    pub changes: crate::live::Changes,
}

impl Batcher {
    /// Starts the workers on the current tokio runtime.
    pub fn start(worker: Worker) -> Batcher {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let workers = match worker.store.backend() {
            "postgres" => PG_WORKERS,
            _ => 1,
        };
        let worker = Arc::new(worker);
        let rx = Arc::new(Mutex::new(rx));
        let flight = Arc::new(Flight::default());
        for _ in 0..workers {
            tokio::spawn(run(worker.clone(), rx.clone(), flight.clone()));
        }
        Batcher { tx }
    }

    /// Queues the signals and waits for their commit; `Unavailable` when the queue is full.
    /// Gives the signals back with the answer.
    pub async fn submit(
        &self,
        actor: String,
        signals: Vec<AlertSignal>,
        extra: Effects,
    ) -> (Vec<AlertSignal>, Reply) {
        let encoded = match signals.iter().map(muster_store::encode_alert).collect() {
            Ok(encoded) => encoded,
            Err(e) => return (signals, Err(e)),
        };
        let (reply, answer) = oneshot::channel();
        let job = Job {
            actor,
            signals,
            encoded,
            extra,
            reply,
        };
        if let Err(full) = self.tx.try_send(job) {
            metrics::counter!("muster_alerts_shed_total").increment(1);
            let signals = full.into_inner().signals;
            return (
                signals,
                Err(StoreError::Unavailable("alert intake queue is full".into())),
            );
        }
        answer.await.unwrap_or_else(|_| {
            let stopped = StoreError::Unavailable("alert intake worker stopped".into());
            (Vec::new(), Err(stopped))
        })
    }
}

/// The batches being committed, and a wake-up each time one lands.
#[derive(Default)]
struct Flight {
    batches: AtomicUsize,
    landed: Notify,
}

/// Takes the queue, waits for requests, lets go of the queue, commits them.
async fn run(worker: Arc<Worker>, rx: Arc<Mutex<mpsc::Receiver<Job>>>, flight: Arc<Flight>) {
    loop {
        let mut jobs = Vec::with_capacity(MAX_BATCH);
        {
            let mut rx = rx.lock().await;
            if rx.recv_many(&mut jobs, MAX_BATCH).await == 0 {
                return;
            }
            gather(&mut rx, &mut jobs, &flight).await;
        }
        flight.batches.fetch_add(1, Ordering::SeqCst);
        commit(&worker, jobs).await;
        flight.batches.fetch_sub(1, Ordering::SeqCst);
        flight.landed.notify_waiters();
    }
}

/// While another batch is in flight, keeps taking requests until it lands, this batch holds
/// [`FULL_BATCH`] signals or [`GATHER_FOR`] has passed. A batch's cost in the database is mostly per statement, not
/// per row, and on a busy database a second small batch only queues for the same cores: one
/// alert per request, 32 clients, three batches in flight averaged six alerts each. Big
/// requests still fill a batch at once and go out side by side.
async fn gather(rx: &mut mpsc::Receiver<Job>, jobs: &mut Vec<Job>, flight: &Flight) {
    let deadline = tokio::time::sleep(GATHER_FOR);
    tokio::pin!(deadline);
    loop {
        // Registered before the count is read, so a landing in between is not missed.
        let landed = flight.landed.notified();
        tokio::pin!(landed);
        landed.as_mut().enable();
        let signals: usize = jobs.iter().map(|j| j.signals.len()).sum();
        if flight.batches.load(Ordering::SeqCst) == 0
            || signals >= FULL_BATCH
            || jobs.len() >= MAX_BATCH
        {
            return;
        }
        tokio::select! {
            biased;
            () = &mut landed => return,
            () = &mut deadline => return,
            n = rx.recv_many(jobs, MAX_BATCH - jobs.len()) => if n == 0 { return },
        }
    }
}

async fn commit(worker: &Worker, jobs: Vec<Job>) {
    let cfg = worker
        .config
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let now = worker.clock.now();
    let reactor = AlertReactions::new(&cfg, "integration".into(), now);
    let batch: Vec<(&[AlertSignal], &Effects, &str, &[EncodedAlert])> = jobs
        .iter()
        .map(|j| {
            let encoded = j.encoded.as_slice();
            (j.signals.as_slice(), &j.extra, j.actor.as_str(), encoded)
        })
        .collect();
    let result = worker.store.ingest_alert_batch(&batch, now, &reactor).await;
    drop(batch);
    match result {
        Ok(all) => {
            announce(worker, &all);
            for (job, done) in jobs.into_iter().zip(all) {
                let _ = job.reply.send((job.signals, Ok(done)));
            }
        }
        Err(_) if jobs.len() > 1 => {
            for job in jobs {
                let one = [(
                    job.signals.as_slice(),
                    &job.extra,
                    job.actor.as_str(),
                    job.encoded.as_slice(),
                )];
                let r = worker.store.ingest_alert_batch(&one, now, &reactor).await;
                if let Ok(done) = &r {
                    announce(worker, done);
                }
                let _ = job
                    .reply
                    .send((job.signals, r.map(|mut v| v.pop().unwrap_or_default())));
            }
        }
        Err(e) => fail_all(jobs, &e),
    }
}

/// Announces the incidents a committed batch opened or changed.
fn announce(worker: &Worker, done: &[Vec<Ingested>]) {
    let mut seen = std::collections::BTreeSet::new();
    for alert in done.iter().flatten().filter_map(|i| i.alert.as_ref()) {
        if let Some(number) = alert.incident
            && seen.insert(number)
        {
            worker.changes.publish(Some(number));
        }
    }
}

fn fail_all(jobs: Vec<Job>, e: &StoreError) {
    for job in jobs {
        let copy = match e {
            StoreError::Domain(d) => StoreError::Domain(d.clone()),
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            other => StoreError::Internal(other.to_string()),
        };
        let _ = job.reply.send((job.signals, Err(copy)));
    }
}
