//! `muster bench notify`: 10,000 notifications through the outbox and the deliverer to a
//! local webhook sink; throughput and enqueue→delivered latency (p50/p99). Then a steady
//! 100 notifications/s for 10 s, each queued by its own commit as a declaration's would be:
//! enqueue→delivered p50/p99 when the deliverer is not behind (target p99 < 50 ms).
//!
//! The items are queued as `delivery` items (one webhook message each, no incident), the
//! path every notification ends on, so this measures claiming, sending (signed webhook over
//! HTTP/1.1 to a local axum sink, up to 64 in flight) and settling (group-committed).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use muster_core::Clock;
use muster_notify::{Secret, Webhook};
use muster_server::deliver::{Channels, Deliverer, Delivery, Hop, Via};
use muster_server::{AppState, SystemClock};
use muster_store::{Effects, Store};
use serde_json::json;

use crate::bench::{BenchArgs, emit};

const N: usize = 10_000;
const ENQUEUE_BATCH: usize = 500;

type Received = Arc<Mutex<HashMap<String, Instant>>>;

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("muster-bench-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}/bench.db", dir.display());
    let result = on(args, "sqlite", &sqlite).await;
    let result = match (&args.pg, result) {
        (Some(pg), Ok(())) => on(args, "postgres", pg).await,
        (_, r) => r,
    };
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn on(args: &BenchArgs, backend: &'static str, db: &str) -> anyhow::Result<()> {
    let store = Store::connect(db).await?;
    let config = muster_config::load(&args.config)
        .map_err(|_| anyhow::anyhow!("{}: invalid configuration", args.config.display()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let state = AppState::new(store.clone(), clock.clone(), config, None);
    let (url, received) = sink().await?;
    let http = muster_notify::http_client().map_err(anyhow::Error::msg)?;
    let channels = Channels {
        webhook: Some(Webhook::new(http, Secret::new("bench-secret"))),
        ..Channels::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let deliverer = tokio::spawn(Deliverer::new(state, channels).run(async {
        let _ = stopped.await;
    }));
    let start = Instant::now();
    let enqueued = enqueue(&store, clock.as_ref(), &url).await?;
    let done = wait_all(&received, N, Duration::from_secs(300)).await;
    let elapsed = start.elapsed();
    if !done {
        bail!("not every notification reached the sink within 300 s");
    }
    report(backend, &enqueued, &received, elapsed)?;
    received.lock().unwrap_or_else(|e| e.into_inner()).clear();
    let steady = steady(&store, clock.as_ref(), &url).await?;
    let done = wait_all(&received, steady.len(), Duration::from_secs(60)).await;
    let _ = stop.send(());
    let _ = deliverer.await;
    store.close().await;
    if !done {
        bail!("not every steady notification reached the sink within 60 s");
    }
    report_steady(backend, &steady, &received)
}

const STEADY_RATE: u64 = 100;
const STEADY_SECONDS: u64 = 10;

/// One webhook delivery item for the sink at `url`.
fn delivery(i: usize, url: &str, queued_at: i64) -> Delivery {
    Delivery {
        parent: format!("bench/{i}"),
        to: "sink".into(),
        chain: vec![Hop {
            channel: Via::Webhook,
            address: url.to_string(),
        }],
        step: 0,
        subject: "bench".into(),
        text: format!("notification {i}"),
        queued_at,
        not_before: None,
        blocks: None,
        copy: false,
        last_error: None,
        link: None,
    }
}

/// Open loop at `STEADY_RATE`: item i is queued at start + i / rate by a commit of its own,
/// timed from just before that commit, so a slow commit or a late tick is not hidden.
async fn steady(
    store: &Store,
    clock: &dyn Clock,
    url: &str,
) -> anyhow::Result<HashMap<String, Instant>> {
    let total = (STEADY_RATE * STEADY_SECONDS) as usize;
    let mut at = HashMap::with_capacity(total);
    let start = tokio::time::Instant::now();
    for i in 0..total {
        let due = start + Duration::from_micros(i as u64 * 1_000_000 / STEADY_RATE);
        tokio::time::sleep_until(due).await;
        let mut effects = Effects::default();
        let d = delivery(N + i, url, clock.now().as_millisecond());
        effects.outbox.push(d.item(None));
        let queued = Instant::now();
        store
            .apply_effects(clock.now(), &effects)
            .await
            .context("enqueue")?;
        for item in &effects.outbox {
            at.insert(item.idempotency_key.clone(), queued);
        }
    }
    Ok(at)
}

/// Queues N delivery items in batches; returns when each key was queued.
async fn enqueue(
    store: &Store,
    clock: &dyn Clock,
    url: &str,
) -> anyhow::Result<HashMap<String, Instant>> {
    let mut at = HashMap::with_capacity(N);
    let queued_at = clock.now().as_millisecond();
    for batch in 0..N.div_ceil(ENQUEUE_BATCH) {
        let mut effects = Effects::default();
        for i in batch * ENQUEUE_BATCH..((batch + 1) * ENQUEUE_BATCH).min(N) {
            effects.outbox.push(delivery(i, url, queued_at).item(None));
        }
        let now = Instant::now();
        store
            .apply_effects(clock.now(), &effects)
            .await
            .context("enqueue")?;
        for item in &effects.outbox {
            at.insert(item.idempotency_key.clone(), now);
        }
    }
    Ok(at)
}

async fn sink() -> anyhow::Result<(String, Received)> {
    let received: Received = Arc::default();
    let rec = received.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
        let rec = rec.clone();
        async move {
            if let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
                rec.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(key.to_string())
                    .or_insert_with(Instant::now);
            }
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((url, received))
}

async fn wait_all(received: &Received, n: usize, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if received.lock().unwrap_or_else(|e| e.into_inner()).len() >= n {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Enqueue→delivered of each key, in ms, sorted.
fn latencies(enqueued: &HashMap<String, Instant>, received: &Received) -> Vec<f64> {
    let received = received.lock().unwrap_or_else(|e| e.into_inner());
    let mut latencies: Vec<f64> = enqueued
        .iter()
        .filter_map(|(k, t)| {
            received
                .get(k)
                .map(|r| r.duration_since(*t).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    latencies
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted
        .get(((sorted.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

fn report_steady(
    backend: &str,
    enqueued: &HashMap<String, Instant>,
    received: &Received,
) -> anyhow::Result<()> {
    let latencies = latencies(enqueued, received);
    let ctx = json!({ "backend": backend, "notifications": latencies.len(), "channel": "webhook",
        "rate": STEADY_RATE, "seconds": STEADY_SECONDS });
    emit(
        "notify",
        "steady_enqueue_to_delivered_p50",
        pct(&latencies, 0.5),
        "ms",
        ctx.clone(),
    );
    emit(
        "notify",
        "steady_enqueue_to_delivered_p99",
        pct(&latencies, 0.99),
        "ms",
        ctx,
    );
    Ok(())
}

fn report(
    backend: &str,
    enqueued: &HashMap<String, Instant>,
    received: &Received,
    elapsed: Duration,
) -> anyhow::Result<()> {
    let latencies = latencies(enqueued, received);
    let pct = |p: f64| pct(&latencies, p);
    let ctx = json!({ "backend": backend, "notifications": N, "channel": "webhook" });
    emit(
        "notify",
        "throughput",
        N as f64 / elapsed.as_secs_f64(),
        "notifications/s",
        ctx.clone(),
    );
    emit(
        "notify",
        "enqueue_to_delivered_p50",
        pct(0.50),
        "ms",
        ctx.clone(),
    );
    emit("notify", "enqueue_to_delivered_p99", pct(0.99), "ms", ctx);
    Ok(())
}
