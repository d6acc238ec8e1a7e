//! `muster bench ui`: the web UI over HTTP on a real listener, as a browser asks for it (a
//! signed-in session's cookie), on SQLite and, with `--pg`, PostgreSQL.
//!
//! - `incident_page_p50` / `_p99`: `GET /incidents/{id}` of an incident with 10,000 timeline
//!   events (the page shows the newest 100 and links to older ones). Target: p99 < 50 ms.
//! - `oncall_month_p50` / `_p99`: `GET /oncall?span=month`, every schedule of the
//!   configuration over four weeks with its layers. Target: < 20 ms.
//! - `sse_fanout_p50` / `_p99` / `_max`: 1,000 subscribers of the incident's event stream; a
//!   note is committed through the reactions; the time from the start of the commit to each
//!   subscriber reading its `changed` event, over several commits. Target: p99 < 100 ms.
//!
//! The subscribers all connect from 127.0.0.1, so the bench raises the per-address
//! connection cap (a deployment's browsers come from many addresses).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_core::{Access, Clock, Command, IncidentNumber, SimulatedClock};
use muster_server::AppState;
use muster_store::Store;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Barrier, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::bench::{BenchArgs, emit};
use crate::bench_brief::{store_timeline, timeline};

const PAGE_RUNS: usize = 200;
const SUBSCRIBERS: usize = 1_000;
const COMMITS: usize = 10;
/// Subscribers connecting at once: browsers arrive over time, and a burst of 1,000 at the
/// same instant would be shed by the API's in-flight budget (`limits.in_flight.api`).
const CONNECTING: usize = 100;

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("muster-bench-ui-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    let result = run_on(args, "sqlite", &sqlite).await;
    let result = match (&args.pg, result) {
        (Some(pg), Ok(())) => run_on(args, "postgres", pg).await,
        (_, r) => r,
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// A server of the configuration and the web UI, signed in.
struct Site {
    base: String,
    addr: std::net::SocketAddr,
    cookie: String,
    state: AppState,
    http: reqwest::Client,
    /// Dropping it would end the event streams.
    _stop: tokio::sync::watch::Sender<bool>,
}

async fn start(args: &BenchArgs, db: &str) -> anyhow::Result<(Site, IncidentNumber)> {
    let config = muster_config::load(&args.config).map_err(|d| {
        anyhow::anyhow!(
            "invalid config: {}",
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let store = Store::connect(db).await.context("bench database")?;
    let (_, events) = timeline()?;
    let incident = store_timeline(&store, &events).await?;
    let now = events.last().map_or(incident.declared_at, |e| e.at);
    let clock: Arc<dyn Clock> = Arc::new(SimulatedClock::new(now));
    let token = store.create_token("bench", Access::Responder, now).await?;
    let session = store
        .create_web_session(&token, now)
        .await?
        .context("a session for the bench token")?;
    let state =
        AppState::new(store, clock, config, None).with_connections_per_address(SUBSCRIBERS * 2);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let served = state.clone();
    tokio::spawn(async move {
        muster_server::serve_with(
            listener,
            served,
            muster_web::router_until(stopped),
            std::future::pending(),
        )
        .await
    });
    let site = Site {
        base: format!("http://{addr}"),
        addr,
        cookie: format!("{}={}", muster_web::SESSION_COOKIE, session.id),
        state,
        http: reqwest::Client::new(),
        _stop: stop,
    };
    Ok((site, incident.id))
}

impl Site {
    /// Times `runs` GETs of `path` (each answer read whole and checked for `expect`).
    async fn time_page(&self, path: &str, expect: &str) -> anyhow::Result<Vec<Duration>> {
        let url = format!("{}{path}", self.base);
        let mut times = Vec::with_capacity(PAGE_RUNS);
        for _ in 0..PAGE_RUNS {
            let start = Instant::now();
            let resp = self
                .http
                .get(&url)
                .header("cookie", &self.cookie)
                .send()
                .await?;
            let status = resp.status();
            let body = resp.text().await?;
            times.push(start.elapsed());
            if !status.is_success() || !body.contains(expect) {
                bail!("{path} answered {status} without `{expect}`");
            }
        }
        times.sort();
        Ok(times)
    }
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn report(metric: &str, sorted: &[Duration], ctx: serde_json::Value) {
    emit(
        "ui",
        &format!("{metric}_p50"),
        ms(sorted, 0.5),
        "ms",
        ctx.clone(),
    );
    emit("ui", &format!("{metric}_p99"), ms(sorted, 0.99), "ms", ctx);
}

async fn run_on(args: &BenchArgs, backend: &str, db: &str) -> anyhow::Result<()> {
    let (site, id) = start(args, db).await?;
    let events = site
        .state
        .store
        .incident(id)
        .await?
        .map_or(0, |i| i.last_seq);
    let page = site
        .time_page(&format!("/incidents/{id}"), "Older events")
        .await?;
    report(
        "incident_page",
        &page,
        json!({"backend": backend, "events": events, "runs": PAGE_RUNS}),
    );
    let schedules = site.state.config().config.schedules.len();
    let month = site
        .time_page("/oncall?span=month", "class=\"schedule\"")
        .await?;
    report(
        "oncall_month",
        &month,
        json!({"backend": backend, "schedules": schedules, "days": 28, "runs": PAGE_RUNS}),
    );
    let fanout = sse_fanout(&site, id).await?;
    let ctx = json!({"backend": backend, "subscribers": SUBSCRIBERS, "commits": COMMITS, "samples": fanout.len()});
    report("sse_fanout", &fanout, ctx.clone());
    emit("ui", "sse_fanout_max", ms(&fanout, 1.0), "ms", ctx);
    Ok(())
}

/// Opens the subscribers, commits notes one at a time, and collects, per commit and
/// subscriber, the delay from the commit's return to the `changed` event's arrival.
async fn sse_fanout(site: &Site, id: IncidentNumber) -> anyhow::Result<Vec<Duration>> {
    let ready = Arc::new(Barrier::new(SUBSCRIBERS + 1));
    let (heard_tx, mut heard_rx) = mpsc::unbounded_channel::<Instant>();
    let request = format!(
        "GET /incidents/{id}/events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nAccept: text/event-stream\r\n\r\n",
        site.addr, site.cookie
    );
    let opening = Arc::new(Semaphore::new(CONNECTING));
    let mut tasks = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        let (ready, heard, request, addr) =
            (ready.clone(), heard_tx.clone(), request.clone(), site.addr);
        let opening = opening.clone();
        tasks.push(tokio::spawn(async move {
            let slot = opening.acquire_owned().await?;
            subscriber(addr, &request, slot, &ready, &heard).await
        }));
    }
    drop(heard_tx);
    // Every stream has said `ready`: each subscription is in place before the first commit.
    if tokio::time::timeout(Duration::from_secs(60), ready.wait())
        .await
        .is_err()
    {
        for t in tasks {
            if t.is_finished()
                && let Ok(Err(e)) = t.await
            {
                bail!("a subscriber failed: {e:#}");
            }
        }
        bail!("the subscribers were not all in place within 60 s");
    }
    let mut delays = Vec::with_capacity(SUBSCRIBERS * COMMITS);
    for n in 0..COMMITS {
        let text = format!("fan-out probe {n}");
        // Counted from before the commit (its own time included): an upper bound.
        let committed = Instant::now();
        muster_server::reactions::apply(&site.state, "bench", id, Command::AddNote { text })
            .await?;
        for _ in 0..SUBSCRIBERS {
            let at = tokio::time::timeout(Duration::from_secs(10), heard_rx.recv())
                .await
                .context("a subscriber did not hear the commit within 10 s")?
                .context("the subscribers ended early")?;
            delays.push(at.saturating_duration_since(committed));
        }
    }
    for t in tasks {
        t.abort();
    }
    delays.sort();
    Ok(delays)
}

/// One browser's event stream over a plain socket: the time of each `changed` event.
async fn subscriber(
    addr: std::net::SocketAddr,
    request: &str,
    slot: OwnedSemaphorePermit,
    ready: &Barrier,
    heard: &mpsc::UnboundedSender<Instant>,
) -> anyhow::Result<()> {
    let mut socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    socket.write_all(request.as_bytes()).await?;
    let mut lines = BufReader::new(socket).lines();
    // Held until this stream is in place.
    let mut slot = Some(slot);
    while let Some(line) = lines.next_line().await? {
        if line.starts_with("HTTP/1.1 ") && !line.starts_with("HTTP/1.1 200") {
            bail!("the event stream answered {line}");
        }
        if line == "event: ready" && slot.take().is_some() {
            ready.wait().await;
        } else if line == "event: changed" {
            let _ = heard.send(Instant::now());
        }
    }
    Ok(())
}
