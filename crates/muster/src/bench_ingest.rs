//! `muster bench ingest`: durable alert intake over loopback HTTP.
//!
//! - `alerts_per_second`, `p50`/`p99`: `--clients` concurrent connections posting Alertmanager
//!   webhooks of new alerts — one alert per request, then [`BATCH`] per request as
//!   Alertmanager sends a group (the first alert of each client's group opens an incident,
//!   the rest join it); every answer is a committed transaction.
//! - `alert_to_page_p50`/`_p99`: PagerDuty triggers that each open an incident; the page is
//!   in the outbox when the 202 arrives, so the answer time bounds alert → page.
//! - `commit_alerts_per_second` (`--only commit`): the group commit alone, without HTTP —
//!   [`COMMIT_JOBS`] requests of [`BATCH`] parsed and routed alerts queued at once, round
//!   after round; the serial step of intake, and a stable figure to compare builds by.
//! - `alertmanager_alerts_per_second`: Alertmanager's own `POST /api/v2/alerts` with the same
//!   clients and the same alerts per request in the same run, when its binary is installed
//!   (in-memory, no fsync).
//! - `machine_busy_cores`, `cpu_us_per_alert` (and `alertmanager_…` for the peer): the
//!   machine's busy cores over each throughput phase, and the CPU time per alert of the
//!   serving process and the load generator together (Muster serves in this process).
//! - `ratio_to_alertmanager` / `_median` (`--rounds N`, N > 1): Muster and Alertmanager
//!   measured turn about N times (throughput only); each round's ratio and their median.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_core::Clock;
use muster_server::{AppState, SystemClock};
use muster_store::Store;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::bench::{BenchArgs, cpu_seconds, emit, emit_p50_p99, machine_busy_seconds, percentile};

/// Requests per client: one-alert requests, then batched ones. 1,000 one-alert requests per
/// client make that phase last seconds, not half of one: at 200, connection set-up and the
/// first group's incident weighed on it, and two runs of one build differed by half.
const PER_CLIENT: usize = 1000;
const PER_CLIENT_BATCHED: usize = 50;
/// Alerts per request in the batched shape.
const BATCH: usize = 64;
/// The request shapes measured: alerts per request.
pub(crate) const SHAPES: [usize; 2] = [1, BATCH];

/// `bench ingest` sends this many times [`requests_per_client`]: on an idle machine of
/// 2026-12 one pass took about one second per phase, and five-round medians of one build
/// still moved by a tenth from run to run.
const INGEST_PASSES: usize = 3;

pub(crate) fn requests_per_client(per: usize) -> usize {
    if per == 1 {
        PER_CLIENT
    } else {
        PER_CLIENT_BATCHED
    }
}
const PAGE_SAMPLES: usize = 300;
/// `--only commit`: requests queued together per round (one group commit), and rounds.
const COMMIT_JOBS: usize = 32;
const COMMIT_ROUNDS: usize = 60;

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if let Some(only) = args.only.as_deref()
        && !matches!(only, "page" | "throughput" | "commit")
    {
        bail!("--only {only}: the ingest phases are `throughput`, `page` and `commit`");
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("muster-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    if args.rounds > 1 {
        let result = rounds(args, &dir).await;
        let _ = std::fs::remove_dir_all(&dir);
        return result;
    }
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    if !(args.skip_sqlite && args.pg.is_some()) {
        on_backend(args, "sqlite", &sqlite).await?;
    }
    if let Some(pg) = &args.pg {
        on_backend(args, "postgres", pg).await?;
    }
    alertmanager(args, &dir).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn state(args: &BenchArgs, db: &str) -> anyhow::Result<AppState> {
    let config = muster_config::load(&args.config).map_err(|d| {
        anyhow::anyhow!(
            "invalid config: {}",
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let store = Store::connect(db).await.context("bench database")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Ok(AppState::new(store, clock, config, None))
}

async fn start(args: &BenchArgs, db: &str) -> anyhow::Result<String> {
    let state = state(args, db).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(muster_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    Ok(base)
}

/// Request `n` of `client`: `per` new alerts of the client's group.
pub(crate) fn webhook(run: u128, per: usize, client: usize, n: usize) -> Value {
    let alerts: Vec<Value> = (0..per)
        .map(|i| {
            json!({"status": "firing",
                "labels": {"alertname": format!("Bench{run}x{per}x{client}"), "severity": "warning",
                    "n": format!("{n}-{i}")},
                "annotations": {"summary": "bench"}, "startsAt": "2026-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph",
                "fingerprint": format!("{run}-{per}-{client}-{n}-{i}")})
        })
        .collect();
    json!({"version": "4", "groupKey": format!("bench-{run}-{per}-{client}"), "status": "firing",
        "receiver": "bench", "groupLabels": {"alertname": format!("Bench{run}x{per}x{client}")},
        "alerts": alerts})
}

/// Posts `bodies(client, n)` from `clients` concurrent tasks; returns (elapsed, sorted latencies).
pub(crate) async fn load(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    per_client: usize,
    body: impl Fn(usize, usize) -> Value + Send + Sync + 'static,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    let body = Arc::new(body);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (http, url, body) = (http.clone(), url.to_string(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let t = Instant::now();
                let resp = http.post(&url).json(&body(c, n)).send().await?;
                if !resp.status().is_success() {
                    bail!(
                        "{}: {}",
                        resp.status(),
                        resp.text().await.unwrap_or_default()
                    );
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await??);
    }
    lat.sort();
    Ok((started.elapsed().as_secs_f64(), lat))
}

/// The group commit alone: every round queues [`COMMIT_JOBS`] requests of [`BATCH`] new
/// alerts at once (parsed and routed beforehand, as the handlers do) and waits for them all.
async fn commit_only(args: &BenchArgs, backend: &str, db: &str) -> anyhow::Result<()> {
    let state = state(args, db).await?;
    let cfg = state.config();
    let integration = cfg
        .config
        .integrations
        .values()
        .find(|i| i.id == "alertmanager")
        .context("the config has no `alertmanager` integration")?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let mut rounds = Vec::with_capacity(COMMIT_ROUNDS);
    for n in 0..COMMIT_ROUNDS {
        let mut jobs = Vec::with_capacity(COMMIT_JOBS);
        for c in 0..COMMIT_JOBS {
            let body = serde_json::to_vec(&webhook(run, BATCH, c, n))?;
            let raws =
                muster_server::intake::alertmanager::parse(&body).map_err(anyhow::Error::msg)?;
            let signals: Vec<_> = raws
                .into_iter()
                .map(|raw| muster_server::intake::signal(integration, raw))
                .collect::<Result<_, _>>()
                .map_err(anyhow::Error::msg)?;
            jobs.push(signals);
        }
        rounds.push(jobs);
    }
    let intake = state.intake();
    let started = Instant::now();
    for jobs in rounds {
        let mut waiting = Vec::with_capacity(jobs.len());
        for signals in jobs {
            let intake = intake.clone();
            waiting.push(tokio::spawn(async move {
                let actor = "integration:alertmanager".to_string();
                intake.submit(actor, signals, Default::default()).await.1
            }));
        }
        for w in waiting {
            w.await??;
        }
    }
    let alerts = COMMIT_ROUNDS * COMMIT_JOBS * BATCH;
    let elapsed = started.elapsed().as_secs_f64();
    let ctx = json!({"backend": backend, "requests_per_commit": COMMIT_JOBS,
        "alerts_per_request": BATCH, "alerts": alerts});
    emit(
        "ingest",
        "commit_alerts_per_second",
        alerts as f64 / elapsed,
        "alerts/s",
        ctx.clone(),
    );
    emit(
        "ingest",
        "commit_us_per_alert",
        elapsed * 1e6 / alerts as f64,
        "us",
        ctx,
    );
    Ok(())
}

async fn on_backend(args: &BenchArgs, backend: &str, db: &str) -> anyhow::Result<()> {
    if args.only.as_deref() == Some("commit") {
        return commit_only(args, backend, db).await;
    }
    let base = start(args, db).await?;
    let http = client()?;
    let run = run_id()?;
    if args.only.as_deref() != Some("page") {
        throughput(args, &http, &base, backend, run).await?;
    }
    if args.only.as_deref() == Some("throughput") {
        return Ok(());
    }
    let url = format!("{base}/v2/enqueue");
    let (_, lat) = load(&http, &url, 1, PAGE_SAMPLES, move |_, n| {
        json!({"routing_key": "demo-events-v2", "event_action": "trigger", "dedup_key": format!("{run}-page-{n}"),
            "payload": {"summary": "bench page", "source": "bench", "severity": "critical"}})
    })
    .await?;
    let ctx =
        json!({"backend": backend, "samples": lat.len(), "target_p50_ms": 5, "target_p99_ms": 50});
    emit_p50_p99("ingest", "alert_to_page", &lat, ctx);
    Ok(())
}

pub(crate) fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(1024)
        .build()?)
}

/// Distinct per run, so that alerts of earlier runs on the same database stay apart.
pub(crate) fn run_id() -> anyhow::Result<u128> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos())
}

/// Alerts per second into Muster at `base`, per request shape (alerts per request).
async fn throughput(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    backend: &str,
    run: u128,
) -> anyhow::Result<()> {
    for per in SHAPES {
        muster_pass(args, http, base, backend, Pass::whole(run, per)).await?;
    }
    Ok(())
}

/// Which requests one measured stretch sends: `passes` times [`requests_per_client`] from each
/// client, numbered from `first` so that a later pass of the same run sends new alerts of the
/// same groups.
#[derive(Clone, Copy)]
struct Pass {
    run: u128,
    per: usize,
    first: usize,
    passes: usize,
}

impl Pass {
    fn whole(run: u128, per: usize) -> Pass {
        Pass {
            run,
            per,
            first: 0,
            passes: INGEST_PASSES,
        }
    }

    fn requests(self) -> usize {
        requests_per_client(self.per) * self.passes
    }
}

/// One stretch into Muster; emits its lines and answers (alerts, seconds).
async fn muster_pass(
    args: &BenchArgs,
    http: &reqwest::Client,
    base: &str,
    backend: &str,
    pass: Pass,
) -> anyhow::Result<(usize, f64)> {
    let url = format!("{base}/api/v1/integrations/demo-alertmanager/alertmanager");
    let Pass {
        run, per, first, ..
    } = pass;
    // Muster serves in this process, beside the load generator.
    let spent = Spent::start(&[std::process::id()]);
    let (elapsed, lat) = load(http, &url, args.clients, pass.requests(), move |c, n| {
        webhook(run, per, c, first + n)
    })
    .await?;
    let alerts = lat.len() * per;
    let ctx = json!({"backend": backend, "clients": args.clients, "alerts_per_request": per,
        "alerts": alerts});
    emit(
        "ingest",
        "alerts_per_second",
        alerts as f64 / elapsed,
        "alerts/s",
        ctx.clone(),
    );
    spent.emit("", elapsed, alerts, &ctx);
    emit("ingest", "p50", percentile(&lat, 0.5), "ms", ctx.clone());
    emit("ingest", "p99", percentile(&lat, 0.99), "ms", ctx);
    Ok((alerts, elapsed))
}

fn find_alertmanager() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("alertmanager"), d.join("prometheus-alertmanager")])
        .find(|p| p.is_file())
}

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running Alertmanager, killed on drop.
struct Peer {
    _child: Kill,
    pid: u32,
    url: String,
}

/// What a load cost in CPU: the machine's busy cores over it, and the CPU time of the
/// processes that served it and generated it, per alert. Both sides are measured the same
/// way, so their costs per alert compare, and a side short of busy cores is waiting, not
/// computing.
struct Spent {
    pids: Vec<u32>,
    busy: f64,
    cpu: f64,
}

impl Spent {
    fn start(pids: &[u32]) -> Spent {
        Spent {
            pids: pids.to_vec(),
            busy: machine_busy_seconds(),
            cpu: pids.iter().map(|&p| cpu_seconds(p)).sum(),
        }
    }

    /// `{prefix}machine_busy_cores` and `{prefix}cpu_us_per_alert` (server and load
    /// generator together).
    fn emit(self, prefix: &str, elapsed: f64, alerts: usize, ctx: &Value) {
        let busy = machine_busy_seconds() - self.busy;
        let cpu = self.pids.iter().map(|&p| cpu_seconds(p)).sum::<f64>() - self.cpu;
        let metric = |m: &str| format!("{prefix}{m}");
        emit(
            "ingest",
            &metric("machine_busy_cores"),
            busy / elapsed,
            "cores",
            ctx.clone(),
        );
        let per_alert = cpu / alerts.max(1) as f64 * 1e6;
        emit(
            "ingest",
            &metric("cpu_us_per_alert"),
            per_alert,
            "us",
            ctx.clone(),
        );
    }
}

/// Starts Debian's Alertmanager with an empty route on a free port, storing under `dir`;
/// `None` when it is not installed.
async fn start_alertmanager(dir: &std::path::Path) -> anyhow::Result<Option<Peer>> {
    let Some(bin) = find_alertmanager() else {
        eprintln!("alertmanager not installed: its comparison is skipped");
        return Ok(None);
    };
    std::fs::create_dir_all(dir)?;
    let cfg = dir.join("am.yml");
    std::fs::write(
        &cfg,
        "route:\n  receiver: none\nreceivers:\n  - name: none\n",
    )?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Kill(
        Command::new(bin)
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address={listen}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        if Instant::now() > deadline {
            bail!("alertmanager did not start");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Ok(Some(Peer {
        pid: child.0.id(),
        _child: child,
        url: format!("http://{listen}/api/v2/alerts"),
    }))
}

async fn alertmanager(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    if matches!(args.only.as_deref(), Some("page" | "commit")) {
        return Ok(());
    }
    if let Some(peer) = start_alertmanager(dir).await? {
        alertmanager_throughput(args, &client()?, &peer).await?;
    }
    Ok(())
}

/// Alerts per second into Alertmanager's own API, per request shape, with the same clients
/// and alerts per request as Muster's run.
async fn alertmanager_throughput(
    args: &BenchArgs,
    http: &reqwest::Client,
    peer: &Peer,
) -> anyhow::Result<()> {
    for per in SHAPES {
        peer_pass(args, http, peer, Pass::whole(0, per)).await?;
    }
    Ok(())
}

/// One stretch into Alertmanager; emits its lines and answers (alerts, seconds).
async fn peer_pass(
    args: &BenchArgs,
    http: &reqwest::Client,
    peer: &Peer,
    pass: Pass,
) -> anyhow::Result<(usize, f64)> {
    let Pass { per, first, .. } = pass;
    let spent = Spent::start(&[std::process::id(), peer.pid]);
    let (elapsed, lat) = load(
        http,
        &peer.url,
        args.clients,
        pass.requests(),
        move |c, n| {
            let n = first + n;
            let alerts: Vec<Value> = (0..per)
                .map(|i| {
                    json!({"labels": {"alertname": format!("Bench{per}x{c}"), "severity": "warning",
                    "n": format!("{n}-{i}")},
                "annotations": {"summary": "bench"}, "startsAt": "2026-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.local/graph"})
                })
                .collect();
            Value::Array(alerts)
        },
    )
    .await?;
    let alerts = lat.len() * per;
    let ctx = json!({"clients": args.clients, "alerts_per_request": per, "alerts": alerts,
        "durable": false});
    emit(
        "ingest",
        "alertmanager_alerts_per_second",
        alerts as f64 / elapsed,
        "alerts/s",
        ctx.clone(),
    );
    spent.emit("alertmanager_", elapsed, alerts, &ctx);
    emit_p50_p99("ingest", "alertmanager", &lat, ctx);
    Ok((alerts, elapsed))
}

/// `--rounds N`: Muster (each backend) and Alertmanager measured turn about, N times. Within a
/// round each shape is sent in [`INGEST_PASSES`] passes, and each pass goes to each side in
/// turn, the order swapped every pass and every round: this machine speeds up and slows down
/// for tens of seconds at a time, longer than a pass, so both sides are measured in the same
/// stretches. A round's ratio per backend and shape is of the passes' sums; then the median of
/// the rounds.
async fn rounds(args: &BenchArgs, dir: &std::path::Path) -> anyhow::Result<()> {
    let peer = start_alertmanager(&dir.join("peer"))
        .await?
        .context("--rounds compares with Alertmanager, which is not installed")?;
    let http = client()?;
    let mut backends = Vec::new();
    if !(args.skip_sqlite && args.pg.is_some()) {
        let db = format!("sqlite://{}/rounds.db", dir.display());
        backends.push(("sqlite", start(args, &db).await?));
    }
    if let Some(pg) = &args.pg {
        backends.push(("postgres", start(args, pg).await?));
    }
    // (backend, alerts per request) → each round's ratio
    let mut ratios: std::collections::BTreeMap<(&str, usize), Vec<f64>> = Default::default();
    for round in 0..args.rounds {
        for per in SHAPES {
            let runs = backends
                .iter()
                .map(|_| run_id())
                .collect::<anyhow::Result<Vec<_>>>()?;
            // (alerts, seconds) per backend, and Alertmanager's
            let mut ours = vec![(0, 0.0); backends.len()];
            let mut theirs = (0, 0.0);
            for pass in 0..INGEST_PASSES {
                let first = pass * requests_per_client(per);
                let one = |run| Pass {
                    run,
                    per,
                    first,
                    passes: 1,
                };
                let peer_first = (round + pass) % 2 == 1;
                if peer_first {
                    add(&mut theirs, peer_pass(args, &http, &peer, one(0)).await?);
                }
                for (((backend, base), run), sum) in backends.iter().zip(&runs).zip(&mut ours) {
                    add(
                        sum,
                        muster_pass(args, &http, base, backend, one(*run)).await?,
                    );
                }
                if !peer_first {
                    add(&mut theirs, peer_pass(args, &http, &peer, one(0)).await?);
                }
            }
            let peer_rate = theirs.0 as f64 / theirs.1;
            for ((backend, _), (alerts, seconds)) in backends.iter().zip(&ours) {
                let ratio = *alerts as f64 / seconds / peer_rate;
                ratios.entry((backend, per)).or_default().push(ratio);
                emit(
                    "ingest",
                    "ratio_to_alertmanager",
                    ratio,
                    "x",
                    json!({"backend": backend, "alerts_per_request": per, "round": round + 1}),
                );
            }
        }
    }
    for ((backend, per), mut r) in ratios {
        r.sort_by(f64::total_cmp);
        emit(
            "ingest",
            "ratio_to_alertmanager_median",
            r[r.len() / 2],
            "x",
            json!({"backend": backend, "alerts_per_request": per, "rounds": r.len(),
                "min": r[0], "max": r[r.len() - 1]}),
        );
    }
    Ok(())
}

fn add(sum: &mut (usize, f64), (alerts, seconds): (usize, f64)) {
    sum.0 += alerts;
    sum.1 += seconds;
}
