//! `muster bench similar`: "similar past incidents" over a corpus of 100,000 incidents
//! (target: under 50 ms a query), on SQLite and, with `--pg`, PostgreSQL.
//!
//! The corpus is synthetic but shaped like real history: titles combine a service, a symptom
//! and sometimes a cause; each incident has one or two services, an incident commander and a
//! note. It is written with `Store::import_incidents` (2,000 a transaction, the full-text
//! index kept by the same triggers as live writes). A database that already holds incidents
//! (a reused PostgreSQL one) is only topped up to the corpus size; give `--pg` a database of
//! its own.
//!
//! Two passes: `limit 5` (the API's default; most answers come from the strict tier, every
//! title word) and `limit 50`, which needs the broad tier (any word, ORed) nearly every time:
//! its latencies are the worst case.

use std::time::Instant;

use anyhow::Context;
use jiff::Timestamp;
use muster_core::{
    Change, IncidentNumber, Severity, TimelineEvent, Vocabulary, declare as declare_changes,
};
use muster_store::Store;
use serde_json::json;

use crate::bench::{BenchArgs, emit};

const CORPUS: usize = 100_000;
const IMPORT_CHUNK: usize = 2_000;
/// Queries timed per backend (after a few warm-up ones).
const QUERIES: usize = 200;
const WARMUP: usize = 10;
const LIMIT: u32 = 5;
/// The second pass's limit: more than the strict tier finds, so the broad tier runs.
const BROAD_LIMIT: u32 = 50;

const SERVICES: &[&str] = &[
    "checkout",
    "payments-api",
    "fraud-detection",
    "postgres",
    "redis",
    "kafka",
    "kubernetes",
    "cdn",
    "web-frontend",
    "search",
    "login",
    "ledger",
    "notifications",
    "billing",
    "inventory",
    "shipping",
    "recommendations",
    "dns",
    "gateway",
    "reporting",
];
const SYMPTOMS: &[&str] = &[
    "latency high",
    "returns 500s",
    "timeouts",
    "slow responses",
    "error rate spike",
    "unavailable",
    "degraded",
    "consumer lag",
    "evictions",
    "queue backlog",
    "failed jobs",
    "certificate expiring",
    "disk full",
    "memory pressure",
    "crash looping",
    "stale data",
];
const CAUSES: &[&str] = &[
    "after deploy",
    "after config change",
    "during failover",
    "under peak load",
    "in eu-west",
    "in us-east",
    "for mobile users",
    "for some merchants",
    "after migration",
    "during maintenance",
];
const NOTES: &[&str] = &[
    "connection pool exhausted on the primary",
    "rolled back the release and errors dropped",
    "maxmemory reached, keys evicted",
    "one broker lost its disk, partitions reassigned",
    "TLS certificate renewed by hand",
    "autoscaler hit its node limit",
    "retry storm from the mobile client",
    "slow query on the orders table, index added",
    "upstream provider had an outage",
    "feature flag turned off to stop the bleeding",
    "DNS TTL too long delayed the failover",
    "GC pauses after the JVM upgrade",
];
const PEOPLE: usize = 40;

/// A small deterministic generator (xorshift64*), so every run builds the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, list: &'a [&'a str]) -> &'a str {
        list[(self.next() % list.len() as u64) as usize]
    }
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("muster-bench-similar-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}/similar.db", dir.display());
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
    let existing: i64 = store.incident_counts().await?.iter().map(|c| c.count).sum();
    let missing = CORPUS.saturating_sub(usize::try_from(existing).unwrap_or(0));
    let started = Instant::now();
    seed(&store, missing).await?;
    let seed_secs = started.elapsed().as_secs_f64();
    let total = existing as usize + missing;
    emit(
        "similar",
        "seed_seconds",
        seed_secs,
        "s",
        json!({ "backend": backend, "seeded": missing }),
    );

    for (limit, prefix) in [(LIMIT, "query"), (BROAD_LIMIT, "broad_query")] {
        let ctx = json!({ "backend": backend, "incidents": total, "limit": limit });
        let (samples, matches) = time_queries(&store, total, limit).await?;
        let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
        emit(
            "similar",
            &format!("{prefix}_p50_ms"),
            pct(0.50),
            "ms",
            ctx.clone(),
        );
        emit(
            "similar",
            &format!("{prefix}_p95_ms"),
            pct(0.95),
            "ms",
            ctx.clone(),
        );
        emit(
            "similar",
            &format!("{prefix}_max_ms"),
            pct(1.0),
            "ms",
            ctx.clone(),
        );
        emit(
            "similar",
            &format!("{prefix}_matches"),
            matches,
            "count",
            ctx,
        );
    }
    store.close().await;
    Ok(())
}

/// Sorted latencies (ms) of [`QUERIES`] queries on random incidents, and the mean matches.
async fn time_queries(store: &Store, total: usize, limit: u32) -> anyhow::Result<(Vec<f64>, f64)> {
    let mut rng = Rng(0x005E_ED0F_5151);
    let mut samples = Vec::with_capacity(QUERIES);
    let mut matches = 0usize;
    for i in 0..QUERIES + WARMUP {
        let number = IncidentNumber(1 + (rng.next() % total.max(1) as u64) as i64);
        let started = Instant::now();
        let found = store.similar_incidents(number, limit).await?;
        if i >= WARMUP {
            samples.push(started.elapsed().as_secs_f64() * 1000.0);
            matches += found.len();
        }
    }
    samples.sort_by(f64::total_cmp);
    Ok((samples, matches as f64 / QUERIES as f64))
}

async fn seed(store: &Store, count: usize) -> anyhow::Result<()> {
    let people: Vec<String> = (0..PEOPLE).map(|i| format!("person-{i}")).collect();
    let vocab = Vocabulary::builtin(
        SERVICES.iter().map(|s| s.to_string()),
        people.iter().cloned(),
    );
    let mut rng = Rng(0xC0FF_EE00_1234);
    let start = Timestamp::from_second(1_700_000_000)?;
    let mut done = 0;
    while done < count {
        let n = IMPORT_CHUNK.min(count - done);
        let batch = (0..n)
            .map(|i| past_incident(&mut rng, &vocab, &people, start, done + i))
            .collect::<anyhow::Result<Vec<_>>>()?;
        store.import_incidents(batch).await?;
        done += n;
    }
    Ok(())
}

fn past_incident(
    rng: &mut Rng,
    vocab: &Vocabulary,
    people: &[String],
    start: Timestamp,
    i: usize,
) -> anyhow::Result<Vec<TimelineEvent>> {
    let service = rng.pick(SERVICES);
    let mut title = format!("{service} {}", rng.pick(SYMPTOMS));
    if rng.next().is_multiple_of(2) {
        title = format!("{title} {}", rng.pick(CAUSES));
    }
    let mut services = vec![service.to_string()];
    if rng.next().is_multiple_of(3) {
        let other = rng.pick(SERVICES);
        if other != service {
            services.push(other.to_string());
        }
    }
    let severity = Severity::ALL[(rng.next() % 4) as usize];
    let at = start.checked_add(jiff::SignedDuration::from_mins(i as i64 * 7))?;
    let mut changes = declare_changes(&title, severity, &services, vocab)?;
    changes.push(Change::RoleAssigned {
        role: "incident_commander".into(),
        person: people[(rng.next() % people.len() as u64) as usize].clone(),
        previous: None,
    });
    changes.push(Change::NoteAdded {
        text: rng.pick(NOTES).to_string(),
    });
    Ok(changes
        .into_iter()
        .map(|change| TimelineEvent {
            seq: 0,
            at,
            actor: "import".into(),
            change,
        })
        .collect())
}
