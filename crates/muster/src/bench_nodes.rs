//! `muster bench nodes --pg URL`: what a second `muster serve` on the same PostgreSQL adds.
//!
//! One node, then two, each a separate `muster serve` process; the load comes from this
//! process (outside the nodes), `--clients` connections split evenly between the nodes, at 1
//! and at 64 alerts per request, every client with its own alert group. Per alert it reports
//! the CPU time of the nodes and of the database (every `postgres` process, from `/proc`), the
//! database's transactions and rows written (`pg_stat_database`), and how often a database
//! session was seen waiting on a lock (sampled every 20 ms from `pg_stat_activity`): where
//! the time goes, so that the ceiling for N nodes on a bigger database host can be reasoned
//! about rather than guessed.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use sqlx::postgres::PgPoolOptions;

use crate::bench::{BenchArgs, cpu_seconds, emit, machine_busy_seconds};
use crate::bench_ingest::{SHAPES, client, load, requests_per_client, run_id, webhook};

/// Node counts measured, in this order.
const NODES: [usize; 2] = [1, 2];
/// How often lock waits are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(20);

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let pg = args
        .pg
        .as_deref()
        .context("bench nodes needs --pg postgres://… (the nodes share one database)")?;
    let db = PgPoolOptions::new().max_connections(2).connect(pg).await?;
    for nodes in NODES {
        let mut children = Vec::new();
        for _ in 0..nodes {
            children.push(Node::start(args, pg).await?);
        }
        let bases: Vec<String> = children.iter().map(|n| n.base.clone()).collect();
        let pids: Vec<u32> = children.iter().filter_map(|n| n.child.id()).collect();
        for per in SHAPES {
            let before = Snapshot::take(&db, &pids).await?;
            let sampler = LockSampler::start(db.clone());
            let busy = machine_busy_seconds();
            let (elapsed, alerts, p99) = drive(args, &bases, per).await?;
            let busy = machine_busy_seconds() - busy;
            let (samples, waiting) = sampler.stop().await;
            // Idle backends publish their statistics about once a second.
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            let after = Snapshot::take(&db, &pids).await?;
            let per_alert = |d: f64| d / alerts as f64;
            let cpu_per_alert = per_alert(after.cpu() - before.cpu());
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
            let ctx = json!({"nodes": nodes, "alerts_per_request": per, "clients": args.clients,
                "alerts": alerts});
            let out = [
                ("alerts_per_second", alerts as f64 / elapsed, "alerts/s"),
                ("p99", p99, "ms"),
                (
                    "node_cpu_us_per_alert",
                    per_alert(after.nodes - before.nodes) * 1e6,
                    "us",
                ),
                (
                    "db_cpu_us_per_alert",
                    per_alert(after.db - before.db) * 1e6,
                    "us",
                ),
                (
                    "load_cpu_us_per_alert",
                    per_alert(after.load - before.load) * 1e6,
                    "us",
                ),
                ("machine_busy_cores", busy / elapsed, "cores"),
                // What this machine's cores could carry if node, database and load generator
                // did nothing but this: above the measured rate only by what is left idle.
                (
                    "cpu_ceiling_alerts_per_second",
                    cores / cpu_per_alert,
                    "alerts/s",
                ),
                (
                    "db_transactions_per_alert",
                    per_alert(after.xacts - before.xacts),
                    "x",
                ),
                (
                    "db_rows_written_per_alert",
                    per_alert(after.rows - before.rows),
                    "rows",
                ),
                (
                    "lock_wait_share",
                    waiting as f64 / samples.max(1) as f64,
                    "sessions",
                ),
            ];
            for (metric, value, unit) in out {
                emit("nodes", metric, value, unit, ctx.clone());
            }
        }
        for node in children {
            node.stop().await;
        }
    }
    db.close().await;
    Ok(())
}

/// Drives `args.clients` clients split evenly across `bases`; (elapsed s, alerts, p99 ms).
async fn drive(
    args: &BenchArgs,
    bases: &[String],
    per: usize,
) -> anyhow::Result<(f64, usize, f64)> {
    let http = client()?;
    let run = run_id()?;
    let each = (args.clients / bases.len()).max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, base) in bases.iter().enumerate() {
        let url = format!("{base}/api/v1/integrations/demo-alertmanager/alertmanager");
        let http = http.clone();
        // Each node's clients get groups of their own: client numbers never repeat.
        let offset = i * each;
        tasks.push(tokio::spawn(async move {
            load(&http, &url, each, requests_per_client(per), move |c, n| {
                webhook(run, per, offset + c, n)
            })
            .await
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??.1);
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    Ok((
        elapsed,
        lat.len() * per,
        crate::bench::percentile(&lat, 0.99),
    ))
}

/// One `muster serve` process on the shared database.
struct Node {
    child: tokio::process::Child,
    base: String,
    _dir: TempDir,
}

impl Node {
    async fn start(args: &BenchArgs, pg: &str) -> anyhow::Result<Node> {
        let dir = TempDir::new()?;
        let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = probe.local_addr()?;
        drop(probe);
        // The node runs in a folder of its own, so the configuration is named absolutely.
        let config = std::fs::canonicalize(&args.config)
            .with_context(|| format!("{}", args.config.display()))?;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .arg("--db")
            .arg(pg)
            .arg("--listen")
            .arg(addr.to_string())
            .current_dir(&dir.0)
            .env("MUSTER_LOG", "warn")
            .kill_on_drop(true)
            .spawn()?;
        let base = format!("http://{addr}");
        let http = client()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while http.get(format!("{base}/healthz")).send().await.is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("a node exited before answering /healthz: {status}");
            }
            if Instant::now() > deadline {
                bail!("a node did not answer /healthz within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Node {
            child,
            base,
            _dir: dir,
        })
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A folder of the node's own, removed when the node goes.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> anyhow::Result<TempDir> {
        let dir = std::env::temp_dir().join(format!(
            "muster-bench-node-{}-{}",
            std::process::id(),
            run_id()?
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(TempDir(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Counters read before and after a run.
struct Snapshot {
    /// CPU seconds of the node processes.
    nodes: f64,
    /// CPU seconds of every `postgres` process on this machine.
    db: f64,
    /// CPU seconds of this process: the load generator.
    load: f64,

    xacts: f64,
    rows: f64,
}

impl Snapshot {
    async fn take(db: &sqlx::PgPool, nodes: &[u32]) -> anyhow::Result<Snapshot> {
        let (xacts, rows): (i64, i64) = sqlx::query_as(
            "SELECT (xact_commit + xact_rollback)::int8, \
                    (tup_inserted + tup_updated + tup_deleted)::int8 \
             FROM pg_stat_database WHERE datname = current_database()",
        )
        .fetch_one(db)
        .await?;
        Ok(Snapshot {
            nodes: nodes.iter().map(|&pid| cpu_seconds(pid)).sum(),
            db: postgres_pids().into_iter().map(cpu_seconds).sum(),
            load: cpu_seconds(std::process::id()),
            xacts: xacts as f64,
            rows: rows as f64,
        })
    }
}

impl Snapshot {
    /// The CPU seconds spent on intake: nodes, database and load generator.
    fn cpu(&self) -> f64 {
        self.nodes + self.db + self.load
    }
}

fn postgres_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .collect()
}

/// Counts, every [`SAMPLE_EVERY`], the database sessions waiting on a lock.
struct LockSampler {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<(u64, u64)>,
}

impl LockSampler {
    fn start(db: sqlx::PgPool) -> LockSampler {
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let (mut samples, mut waiting) = (0u64, 0u64);
            loop {
                tokio::select! {
                    _ = &mut stopped => return (samples, waiting),
                    _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                }
                let n: Result<i64, _> = sqlx::query_scalar(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                )
                .fetch_one(&db)
                .await;
                if let Ok(n) = n {
                    samples += 1;
                    waiting += n as u64;
                }
            }
        });
        LockSampler { stop, task }
    }

    /// (samples, lock waits seen in all of them).
    async fn stop(self) -> (u64, u64) {
        let _ = self.stop.send(());
        self.task.await.unwrap_or((0, 0))
    }
}
