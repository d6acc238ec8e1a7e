//! `muster bench brief`: briefings of an incident with 10,000 timeline events.
//!
//! - `brief_p50` / `brief_p99`: "brief me" since the middle of the incident, computed by the
//!   pure summariser from the loaded facts. Target: p99 < 10 ms.
//! - `review_draft_p50`: the review draft (a longer document) from the same facts.
//! - `api_brief_p50` / `api_brief_p99`: `GET /api/v1/incidents/{id}/brief` end to end on
//!   SQLite and (`--pg`) PostgreSQL: authentication, reading the 5,000 events since the
//!   middle, the live clock, the alerts, the summary and its JSON.
//! - `part_*_p50`: each read a brief makes, alone.
//! - `api_brief_since_last_look_p50` / `_p99`: `?reader=me` by readers whose last look was
//!   100 events ago: what a returning responder's "brief me" reads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use muster_core::brief::{self, Facts, PendingDeadline};
use muster_core::engine::{Action, PageTarget};
use muster_core::{
    Access, Change, Clock, Incident, IncidentNumber, Severity, SimulatedClock, Status,
    TimelineEvent,
};
use muster_server::AppState;
use muster_store::Store;
use serde_json::json;

use crate::bench::{BenchArgs, emit, emit_p50_p99, percentile};

const EVENTS: usize = 10_000;
const RUNS: usize = 200;

fn t0() -> Timestamp {
    "2026-03-29T03:12:00Z".parse().unwrap_or_default()
}

/// The changes of a long, busy incident after its declaration: chatter with Slack markup,
/// people coming and going, policy firings, escalations, deliveries, tasks and milestones.
fn changes(n: usize) -> Vec<Change> {
    let people = ["alice", "bob", "carol", "dave", "erin"];
    let milestones = [
        "acknowledged",
        "blast_radius_validated",
        "status_update_posted",
    ];
    (0..n)
        .map(|i| {
            let who = people[i % people.len()].to_string();
            match i % 10 {
                0 if i / 10 < milestones.len() => Change::MilestoneReached {
                    milestone: milestones[i / 10].into(),
                },
                0..=3 => Change::NoteAdded {
                    text: format!("update {i}: <@U0{i}|{who}> checked <https://grafana.example/d/{i}|dashboard> *p95* still high :fire:"),
                },
                4 => Change::ResponderJoined { person: who },
                5 => Change::ResponderLeft { person: who },
                6 => Change::PolicyFired {
                    policy: "sev1-status-updates".into(),
                    reason: format!("30 min since the last status update (firing {i})"),
                    actions: vec![Action::Page {
                        target: PageTarget::Schedule("platform-secondary".into()),
                    }],
                    recipients: vec![who],
                    late_by_ms: None,
                },
                7 => Change::EscalationStep {
                    escalation_policy: "platform-escalation".into(),
                    pass: (i / 100) as u32,
                    step: (i % 3) as u32,
                    paged: vec![who],
                    reason: "not acknowledged".into(),
                    late_by_ms: None,
                },
                8 => Change::NotificationSent {
                    key: format!("INC-1/k{i}"),
                    channel: "slack".into(),
                    to: who,
                    latency_ms: 120,
                },
                _ => Change::TaskAdded {
                    task_id: (i / 10 + 1) as u32,
                    title: format!("Follow up on finding {i}"),
                    assignee: Some(who),
                },
            }
        })
        .collect()
}

/// The incident and its timeline, built with the core's fold (one event per second).
pub(crate) fn timeline() -> anyhow::Result<(Incident, Vec<TimelineEvent>)> {
    let mut events = vec![TimelineEvent {
        seq: 1,
        at: t0(),
        actor: "alice".into(),
        change: Change::Declared {
            title: "Checkout <b>500s</b> | EU".into(),
            severity: Severity::Sev1,
            status: Status::Investigating,
            services: vec!["checkout".into()],
            incident_type: None,
            exercise: false,
        },
    }];
    for (i, change) in changes(EVENTS - 1).into_iter().enumerate() {
        events.push(TimelineEvent {
            seq: i as i64 + 2,
            at: t0() + SignedDuration::from_secs(i as i64 + 1),
            actor: "bob".into(),
            change,
        });
    }
    let incident = Incident::replay(IncidentNumber(1), &events)
        .ok_or_else(|| anyhow::anyhow!("the generated timeline must start with a declaration"))?;
    Ok((incident, events))
}

fn time(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    let mut out: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    out.sort();
    out
}

pub async fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let (incident, events) = timeline()?;
    let now = events.last().map_or(t0(), |e| e.at) + SignedDuration::from_mins(1);
    let pending = vec![PendingDeadline {
        policy: "sev1-status-updates".into(),
        kind: "cadence".into(),
        expect: None,
        due_at: now + SignedDuration::from_mins(20),
    }];
    let facts = Facts {
        incident: &incident,
        events: &events,
        pending: &pending,
        alerts: &[],
        similar: &[],
        now,
    };
    let since = t0() + SignedDuration::from_secs((EVENTS / 2) as i64);
    let mut lines = 0;
    let brief_times = time(RUNS, || {
        let b = brief::brief(&facts, since);
        lines = b.lines.len();
        std::hint::black_box(b.markdown());
    });
    let ctx = json!({"events": EVENTS, "runs": RUNS, "lines": lines});
    emit_p50_p99("brief", "brief", &brief_times, ctx);
    let review_times = time(RUNS / 4, || {
        std::hint::black_box(brief::review_draft(&facts).markdown());
    });
    emit(
        "brief",
        "review_draft_p50",
        percentile(&review_times, 0.5),
        "ms",
        json!({"events": EVENTS, "runs": RUNS / 4}),
    );
    api(args, &events, now).await
}

/// Stores `events` (a declaration first) as a new incident, a thousand changes a commit.
pub(crate) async fn store_timeline(
    store: &Store,
    events: &[TimelineEvent],
) -> anyhow::Result<Incident> {
    let declared: Vec<Change> = events.iter().take(1).map(|e| e.change.clone()).collect();
    let (inc, _) = store.declare("alice", t0(), declared).await?;
    for chunk in events[1..].chunks(1_000) {
        let changes: Vec<Change> = chunk.iter().map(|e| e.change.clone()).collect();
        store
            .update(inc.id, "bob", chunk[0].at, move |_| Ok(changes))
            .await?;
    }
    Ok(inc)
}

/// The brief and the incident through the HTTP API, on a fresh SQLite database and, with
/// `--pg`, on PostgreSQL; then where a brief's time goes, part by part.
async fn api(args: &BenchArgs, events: &[TimelineEvent], now: Timestamp) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = std::env::temp_dir().join(format!("muster-bench-brief-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    api_on(
        args,
        "sqlite",
        &format!("sqlite://{}/bench.db", dir.display()),
        events,
        now,
    )
    .await?;
    if let Some(pg) = &args.pg {
        api_on(args, "postgres", pg, events, now).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

const API_RUNS: usize = 200;

async fn api_on(
    args: &BenchArgs,
    backend: &str,
    db: &str,
    events: &[TimelineEvent],
    now: Timestamp,
) -> anyhow::Result<()> {
    let store = Store::connect(db).await?;
    let inc = store_timeline(&store, events).await?;
    let config = muster_config::load(&args.config).map_err(|d| {
        anyhow::anyhow!(
            "invalid config: {}",
            d.first().map(ToString::to_string).unwrap_or_default()
        )
    })?;
    let clock: Arc<dyn Clock> = Arc::new(SimulatedClock::new(now));
    let token = store.create_token("bench", Access::Viewer, now).await?;
    let app = muster_server::app(AppState::new(store.clone(), clock, config, None));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let since = t0() + SignedDuration::from_secs((EVENTS / 2) as i64);
    let pages = [
        (
            "api_brief",
            format!("{base}/api/v1/incidents/{}/brief?since={since}", inc.id),
        ),
        (
            "api_incident",
            format!("{base}/api/v1/incidents/{}", inc.id),
        ),
    ];
    // The first brief folds the full blocks' digests and keeps them; the timed ones combine.
    let (first, body) = timed_get(&http, &pages[0].1, &token).await?;
    let body: serde_json::Value = serde_json::from_slice(&body)?;
    // As stored: each commit of a thousand events is stamped with its first one's time.
    let unseen = store.timeline_since(inc.id, Some(since)).await?.len();
    anyhow::ensure!(
        body["summary"]["events_since"].as_u64() == Some(unseen as u64),
        "a brief since the middle counted {} events, not {unseen}",
        body["summary"]["events_since"]
    );
    let ms = first.as_secs_f64() * 1000.0;
    let ctx = json!({"events": EVENTS, "unseen": unseen, "backend": backend});
    emit("brief", "api_brief_first", ms, "ms", ctx);
    for (metric, url) in pages {
        let times = get_times(&http, &url, &token).await?;
        let ctx = json!({"events": EVENTS, "runs": times.len(), "backend": backend});
        emit_p50_p99("brief", metric, &times, ctx);
    }
    parts(&store, inc.id, since, backend).await?;
    if backend == "postgres" {
        rows_only(db, inc.id, since).await?;
    }
    let url = format!("{base}/api/v1/incidents/{}/brief?reader=me", inc.id);
    let times = since_last_look(&store, inc.id, &http, &url, now).await?;
    let ctx = json!({"events": EVENTS, "unseen": UNSEEN, "runs": times.len(), "backend": backend});
    emit_p50_p99("brief", "api_brief_since_last_look", &times, ctx);
    Ok(())
}

/// Events a returning reader has not seen, in `api_brief_since_last_look`.
const UNSEEN: usize = 100;

/// "Brief me" (`?reader=me`) by `API_RUNS` readers who each looked at the incident just
/// before [`UNSEEN`] more notes arrived: a look moves forward, so every timed request is a
/// reader of its own.
async fn since_last_look(
    store: &Store,
    id: IncidentNumber,
    http: &reqwest::Client,
    url: &str,
    now: Timestamp,
) -> anyhow::Result<Vec<Duration>> {
    let look = store
        .timeline_since(id, None)
        .await?
        .last()
        .map_or(t0(), |e| e.at);
    let notes: Vec<Change> = (0..UNSEEN)
        .map(|i| Change::NoteAdded {
            text: format!("unseen update {i}"),
        })
        .collect();
    store
        .update(id, "bob", look + SignedDuration::from_secs(1), move |_| {
            Ok(notes)
        })
        .await?;
    let mut tokens = Vec::with_capacity(API_RUNS);
    for i in 0..API_RUNS {
        let name = format!("reader-{id}-{i}");
        tokens.push(store.create_token(&name, Access::Viewer, now).await?);
        store.record_brief_look(&name, id, look).await?;
    }
    let mut times = Vec::with_capacity(API_RUNS);
    for token in &tokens {
        let (took, body) = timed_get(http, url, token).await?;
        times.push(took);
        let body: serde_json::Value = serde_json::from_slice(&body)?;
        let seen = body["summary"]["events_since"].as_u64();
        anyhow::ensure!(
            seen == Some(UNSEEN as u64),
            "a reader who last looked {UNSEEN} events ago was briefed on {seen:?}"
        );
    }
    times.sort();
    Ok(times)
}

/// `API_RUNS` sequential GETs of `url`, each timed to the last byte of its answer.
async fn get_times(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::with_capacity(API_RUNS);
    for _ in 0..API_RUNS {
        times.push(timed_get(http, url, token).await?.0);
    }
    times.sort();
    Ok(times)
}

/// One GET of `url` as `token`, timed to the last byte of its (successful) answer.
async fn timed_get(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> anyhow::Result<(Duration, Vec<u8>)> {
    let start = Instant::now();
    let resp = http.get(url).bearer_auth(token).send().await?;
    anyhow::ensure!(
        resp.status().is_success(),
        "{url} answered {}",
        resp.status()
    );
    let body = resp.bytes().await?;
    let took = start.elapsed();
    Ok((took, body.to_vec()))
}

/// On PostgreSQL, the timeline read without decoding the events: the same statement through
/// sqlx, rows as strings; and the database's own execution time of it. Together with
/// `part_events_since` they split the read into database, driver and decoding.
async fn rows_only(db: &str, id: IncidentNumber, since: Timestamp) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(db).await?;
    let sql = "SELECT seq, at, actor, kind, data FROM timeline WHERE incident = $1 AND at >= $2";
    let mut timed = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        let rows: Vec<(i64, i64, String, String, String)> = sqlx::query_as(sql)
            .bind(id.0)
            .bind(since.as_millisecond())
            .fetch_all(&pool)
            .await?;
        std::hint::black_box(rows);
        timed.push(start.elapsed());
    }
    timed.sort();
    let ctx = json!({"events": EVENTS, "runs": timed.len(), "backend": "postgres"});
    emit(
        "brief",
        "part_rows_only_p50",
        percentile(&timed, 0.5),
        "ms",
        ctx.clone(),
    );
    let explain = format!(
        "EXPLAIN ANALYZE SELECT seq, at, actor, kind, data FROM timeline \
         WHERE incident = {} AND at >= {}",
        id.0,
        since.as_millisecond()
    );
    let mut executions = Vec::new();
    for _ in 0..20 {
        // Two integers of this bench, formatted: EXPLAIN takes no bound parameters.
        let plan: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain.clone()))
            .fetch_all(&pool)
            .await?;
        let ms = plan.iter().find_map(|(line,)| {
            let rest = line.strip_prefix("Execution Time: ")?;
            rest.strip_suffix(" ms")?.parse::<f64>().ok()
        });
        if let Some(ms) = ms {
            executions.push(Duration::from_secs_f64(ms / 1000.0));
        }
    }
    executions.sort();
    if !executions.is_empty() {
        emit(
            "brief",
            "part_rows_in_database_p50",
            percentile(&executions, 0.5),
            "ms",
            ctx,
        );
    }
    pool.close().await;
    Ok(())
}

/// The p50 of each read a brief makes, alone: where its time goes.
async fn parts(
    store: &Store,
    id: IncidentNumber,
    since: Timestamp,
    backend: &str,
) -> anyhow::Result<()> {
    let mut out: Vec<(&str, Vec<Duration>)> = Vec::new();
    let mut timed = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        std::hint::black_box(store.incident(id).await?);
        timed.push(start.elapsed());
    }
    out.push(("part_incident_p50", timed));
    let mut timed = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        std::hint::black_box(store.timeline_since(id, Some(since)).await?);
        timed.push(start.elapsed());
    }
    out.push(("part_events_since_p50", timed));
    let last_seq = store.incident(id).await?.map_or(0, |i| i.last_seq);
    let mut timed = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        std::hint::black_box(store.brief_digest(id, Some(since), last_seq).await?);
        timed.push(start.elapsed());
    }
    out.push(("part_digest_since_p50", timed));
    let mut timed = Vec::new();
    for _ in 0..50 {
        let start = Instant::now();
        std::hint::black_box(store.similar_incidents(id, 3).await?);
        timed.push(start.elapsed());
    }
    out.push(("part_similar_p50", timed));
    for (metric, mut times) in out {
        times.sort();
        let ctx = json!({"events": EVENTS, "runs": times.len(), "backend": backend});
        emit("brief", metric, percentile(&times, 0.5), "ms", ctx);
    }
    Ok(())
}
