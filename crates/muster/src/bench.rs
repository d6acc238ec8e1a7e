//! `muster bench NAME`: built-in benchmarks printing one JSON object per line
//! (`{"bench":…,"metric":…,"value":…,"unit":…}` plus context fields).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use muster_core::{Access, Clock};
use muster_server::{AppState, SystemClock};
use muster_store::Store;
use serde_json::json;
use tokio::net::TcpListener;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Which benchmark: `api`, `replay`, `schedules`, `timers`, `notify`, `ingest`, `brief`,
    /// `similar`, `drills`, `staffing`, `ui`, `rss` (idle memory of `muster serve`), `nodes`
    /// (one and two `muster serve` on one PostgreSQL), `paging` (page decided → SMS, call,
    /// push; answer → escalation stopped).
    pub name: String,
    /// Output JSON lines (the only format; accepted for scripts that pass it).
    #[arg(long)]
    pub json: bool,
    /// Configuration directory to serve.
    #[arg(long, default_value = "examples/demo")]
    pub config: PathBuf,
    /// PostgreSQL database to benchmark against as well (its tables are created if missing).
    #[arg(long, env = "MUSTER_BENCH_PG")]
    pub pg: Option<String>,
    /// With `--pg`: measure PostgreSQL only (ingest, paging).
    #[arg(long)]
    pub skip_sqlite: bool,
    /// `ingest`: run only this phase, `throughput` (with Alertmanager's), `page` or `commit`.
    #[arg(long)]
    pub only: Option<String>,
    /// `ingest`: rounds of Muster and Alertmanager turn about, reporting the median ratio.
    #[arg(long, default_value_t = 1)]
    pub rounds: usize,
    /// Concurrent clients for the throughput phase.
    #[arg(long, default_value_t = 32)]
    pub clients: usize,
    /// Incidents each client declares in the throughput phase (each gets 10 timeline writes).
    #[arg(long, default_value_t = 20)]
    pub incidents_per_client: usize,
    /// Seconds of the fixed-rate latency phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests per second of the fixed-rate latency phase.
    #[arg(long, default_value_t = 200)]
    pub rate: u64,
}

pub(crate) fn emit(bench: &str, metric: &str, value: f64, unit: &str, extra: serde_json::Value) {
    let mut line = json!({ "bench": bench, "metric": metric, "value": (value * 1000.0).round() / 1000.0, "unit": unit });
    if let (Some(obj), serde_json::Value::Object(more)) = (line.as_object_mut(), extra) {
        obj.extend(more);
    }
    println!("{line}");
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    // Every bench's HTTP client speaks rustls; one provider for them all.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match args.name.as_str() {
        "api" => api(&args).await,
        "replay" => crate::bench_replay::run(&args.config),
        "schedules" => crate::bench_schedules::run(),
        "timers" => crate::bench_timers::run(&args).await,
        "notify" => crate::bench_notify::run(&args).await,
        "ingest" => crate::bench_ingest::run(&args).await,
        "brief" => crate::bench_brief::run(&args).await,
        "similar" => crate::bench_similar::run(&args).await,
        "drills" => crate::bench_drills::run(&args.config),
        "staffing" => crate::bench_staffing::run(&args.config),
        "ui" => crate::bench_ui::run(&args).await,
        "rss" => idle_rss(&args).await,
        "nodes" => crate::bench_nodes::run(&args).await,
        "paging" => crate::bench_paging::run(&args).await,
        other => {
            bail!(
                "unknown benchmark `{other}`; available: api, replay, schedules, timers, notify, ingest, brief, similar, drills, staffing, ui, rss, nodes, paging"
            )
        }
    }
}

async fn api(args: &BenchArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile_dir()?;
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    api_on(args, "sqlite", &sqlite).await?;
    if let Some(pg) = &args.pg {
        api_on(args, "postgres", pg).await?;
    }
    idle_rss(args).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("muster-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

struct Target {
    base: String,
    token: String,
    http: reqwest::Client,
}

async fn start(args: &BenchArgs, db: &str) -> anyhow::Result<Target> {
    let config = muster_config::load(&args.config).map_err(|d| {
        anyhow::anyhow!(
            "invalid config: {}",
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let store = Store::connect(db).await.context("bench database")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let token = store
        .create_token("bench", Access::Responder, clock.now())
        .await?;
    let state = AppState::new(store, clock, config, None);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(muster_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?;
    Ok(Target { base, token, http })
}

impl Target {
    async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await?;
        if !status.is_success() {
            bail!("{status}: {v}");
        }
        Ok(v)
    }

    /// Declare one incident and append 10 notes: 11 requests, 12 timeline writes.
    async fn incident_session(&self, latencies: &mut Vec<Duration>) -> anyhow::Result<()> {
        let t = Instant::now();
        let inc = self
            .post(
                "/api/v1/incidents",
                &json!({"title": "bench", "severity": "SEV3"}),
            )
            .await?;
        latencies.push(t.elapsed());
        let id = inc["id"].as_str().unwrap_or("INC-0").to_string();
        for n in 0..10 {
            let t = Instant::now();
            self.post(
                &format!("/api/v1/incidents/{id}/notes"),
                &json!({"text": format!("note {n}")}),
            )
            .await?;
            latencies.push(t.elapsed());
        }
        Ok(())
    }
}

/// The `p` quantile of `sorted` durations, in ms (0 when there are none).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return 0.0;
    };
    let idx = ((last as f64) * p).round() as usize;
    sorted[idx.min(last)].as_secs_f64() * 1000.0
}

/// `{metric}_p50` and `{metric}_p99` of `sorted` durations, in ms.
pub(crate) fn emit_p50_p99(bench: &str, metric: &str, sorted: &[Duration], ctx: serde_json::Value) {
    let p50 = format!("{metric}_p50");
    emit(bench, &p50, percentile(sorted, 0.5), "ms", ctx.clone());
    emit(
        bench,
        &format!("{metric}_p99"),
        percentile(sorted, 0.99),
        "ms",
        ctx,
    );
}

async fn api_on(args: &BenchArgs, backend: &str, db: &str) -> anyhow::Result<()> {
    let target = Arc::new(start(args, db).await?);
    // Warm up connections and caches.
    target.incident_session(&mut Vec::new()).await?;

    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..args.clients {
        let target = target.clone();
        let n = args.incidents_per_client;
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n * 11);
            for _ in 0..n {
                target.incident_session(&mut lat).await?;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.await??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    let requests = lat.len() as f64;
    let writes = (args.clients * args.incidents_per_client * 12) as f64;
    let ctx = json!({ "backend": backend, "clients": args.clients });
    emit(
        "api",
        "requests_per_second",
        requests / elapsed,
        "req/s",
        ctx.clone(),
    );
    emit(
        "api",
        "timeline_writes_per_second",
        writes / elapsed,
        "writes/s",
        ctx.clone(),
    );
    emit_p50_p99("api", "saturated", &lat, ctx);

    fixed_rate(&target, args, backend).await
}

/// Open-loop load at a fixed rate: latency measured from each request's scheduled start,
/// so a stalled server cannot hide its queueing (no coordinated omission).
async fn fixed_rate(target: &Arc<Target>, args: &BenchArgs, backend: &str) -> anyhow::Result<()> {
    let inc = target
        .post(
            "/api/v1/incidents",
            &json!({"title": "rate", "severity": "SEV4"}),
        )
        .await?;
    let id = inc["id"].as_str().unwrap_or("INC-0").to_string();
    let total = args.rate * args.seconds;
    let interval = Duration::from_secs_f64(1.0 / args.rate as f64);
    let start = tokio::time::Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = start + interval * n as u32;
        tokio::time::sleep_until(due).await;
        let target = target.clone();
        let path = format!("/api/v1/incidents/{id}/notes");
        handles.push(tokio::spawn(async move {
            target
                .post(&path, &json!({"text": format!("r{n}")}))
                .await?;
            Ok::<_, anyhow::Error>(due.elapsed())
        }));
    }
    let mut lat = Vec::with_capacity(handles.len());
    for h in handles {
        lat.push(h.await??);
    }
    lat.sort();
    let ctx = json!({ "backend": backend, "rate": args.rate, "seconds": args.seconds });
    emit(
        "api",
        "p50_at_rate",
        percentile(&lat, 0.50),
        "ms",
        ctx.clone(),
    );
    emit("api", "p99_at_rate", percentile(&lat, 0.99), "ms", ctx);
    Ok(())
}

/// Resident memory of an idle `muster serve` with the given config on a fresh SQLite file.
/// Emits `metric` (VmRSS) of process `pid`, and its anonymous and file-backed parts.
fn emit_rss(pid: u32, metric: &str, ctx: &serde_json::Value) -> anyhow::Result<()> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Option<f64> {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    let kb = field("VmRSS:").context("VmRSS")?;
    emit("api", metric, kb / 1024.0, "MiB", ctx.clone());
    // Where it is: heap and stacks (anonymous) against the binary's and libraries' pages.
    for (name, part) in [("RssAnon:", "anon"), ("RssFile:", "file")] {
        if let Some(kb) = field(name) {
            emit(
                "api",
                &format!("{metric}_{part}"),
                kb / 1024.0,
                "MiB",
                ctx.clone(),
            );
        }
    }
    if let Some(threads) = field("Threads:") {
        emit(
            "api",
            &format!("{metric}_threads"),
            threads,
            "threads",
            ctx.clone(),
        );
    }
    Ok(())
}

async fn idle_rss(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = tempfile_dir()?.join("rss");
    std::fs::create_dir_all(&dir)?;
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = probe.local_addr()?;
    drop(probe);
    // The server runs from its own copy of the executable: pages this bench process also maps
    // would be shared, and the kernel keeps shared pages resident whatever the server advises
    // (a `muster serve` in production maps its executable alone).
    let exe = dir.join("muster-serve");
    std::fs::copy(std::env::current_exe()?, &exe)?;
    // Written back before it runs: the kernel does not page out dirty pages.
    std::fs::File::open(&exe)?.sync_all()?;
    let mut child = tokio::process::Command::new(&exe)
        .arg("serve")
        .arg("--config")
        .arg(&args.config)
        .arg("--db")
        .arg(format!("sqlite://{}/idle.db", dir.display()))
        .arg("--listen")
        .arg(addr.to_string())
        .env("MUSTER_LOG", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("server for the RSS probe did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let start-up allocations settle before reading.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = child.id().context("child pid")?;
    let ctx = json!({ "config": args.config.display().to_string() });
    emit_rss(pid, "idle_rss", &ctx)?;
    // The same server once it has answered: the pages requests bring back in (start-up's
    // code was handed back to the kernel; serving code is faulted in again as it runs).
    for _ in 0..100 {
        for path in [
            "/healthz",
            "/status",
            "/login",
            "/openapi.json",
            "/api/v1/incidents",
        ] {
            http.get(format!("http://{addr}{path}")).send().await?;
        }
    }
    emit_rss(pid, "rss_after_requests", &ctx)?;
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The unit of `/proc/PID/stat` times: fixed at 100 per second by Linux's ABI (sysconf
/// would say so too, but only through the `unsafe` this crate keeps to `sigpipe.rs`).
const USER_HZ: f64 = 100.0;

/// Busy CPU seconds of the machine since boot, all cores: every field of `/proc/stat`'s
/// `cpu` line but idle and iowait (guest time is counted in user already).
pub(crate) fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    busy / USER_HZ
}

/// utime + stime of `pid`, in seconds (0 for a process gone).
pub(crate) fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The command name may hold spaces; the fields after it are fixed: utime and stime are
    // the 14th and 15th of the line, the 12th and 13th after the name.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        (Some(u), Some(s)) => (u + s) / USER_HZ,
        _ => 0.0,
    }
}
