//! The chaos run: `muster serve` under a steady alert load (Alertmanager webhooks and
//! PagerDuty events) while faults strike in a loop, then everything counted. Two nodes on a private PostgreSQL cluster (`kill -9` of
//! either node, SIGSTOP/SIGCONT of either node, `pg_ctl restart` fast or immediate), and one
//! node on SQLite (`kill -9`). What must hold, with no exception: every alert answered 2xx is
//! stored exactly once, every due timer fires exactly once, every page is queued once.
//!
//! Each request opens its own SEV1 incident (a new alert group), on which two policies with
//! deadlines of 3 and 6 s page, so timers keep falling due while the faults strike. The load
//! is sent to the nodes in turn by clients that retry a failed request (refused connection,
//! timeout, 5xx, 429) on the other node, as Alertmanager and PagerDuty's clients retry; a 4xx
//! other than 429 would drop the alerts, and counts as a failure.
//!
//! `MUSTER_CHAOS_SECS` (default 30) is how long the faults go on (at least three of each kind
//! whatever it says), `MUSTER_CHAOS_SEED` the seed of their order, targets and pauses (printed
//! either way). `scripts/chaos.sh` runs the long form. The summary is one JSON line,
//! `chaos summary {…}`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use muster_core::staffing::rng::Rng;
use muster_core::{Change, IncidentNumber, Timestamp};
use muster_store::{Store, StoredAlert, TimerRecord, TimerState};
use serde_json::{Value, json};

use crate::pg_cluster::Cluster;
use crate::procs::{Nodes, stored_alerts};

/// The policies that page on every chaos incident, with their deadlines in seconds.
const POLICIES: [(&str, u64); 2] = [("chaos-a", 3), ("chaos-b", 6)];
const CLIENTS: usize = 4;
const ALERTS_PER_WEBHOOK: usize = 2;
/// Each client's pause between requests.
const PACE: Duration = Duration::from_millis(150);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client keeps retrying a request once the faults have stopped.
const RETRY_AFTER_FAULTS: Duration = Duration::from_secs(60);
/// The timers' lease (60 s) and a margin: a claim cut by `kill -9` is taken again after it.
const SETTLE: Duration = Duration::from_secs(150);
const MIN_FAULTS: usize = 3;
/// From this many seconds of faults on (the long form), every fourth SIGSTOP lasts longer
/// than the leases (60 s): the other node takes over the stopped one's claimed timers and
/// deliveries, and what the stopped one does when it resumes must be fenced off.
const LONG_FORM_SECS: u64 = 120;
const PAST_LEASE: (f64, f64) = (65.0, 70.0);

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    Kill9,
    SigStop,
    PgRestart,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::Kill9 => "kill_9",
            Fault::SigStop => "sigstop",
            Fault::PgRestart => "pg_restart",
        }
    }
}

fn config(dir: &Path) {
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), dir);
    let mut yaml = String::from("policies:\n");
    for (id, secs) in POLICIES {
        yaml.push_str(&format!(
            "  - id: {id}\n    description: chaos run\n    when: {{ severity: [SEV1] }}\n    \
             deadline: {{ within: {secs}s, of: declared, expect: mitigated }}\n    \
             on_missed:\n      - page: {{ schedule: platform-secondary }}\n"
        ));
    }
    std::fs::write(dir.join("policies/chaos.yaml"), yaml).expect("write policy");
}

/// What the load clients saw.
#[derive(Default)]
struct Tally {
    requests: usize,
    /// Alerts in them.
    sent: usize,
    attempts: usize,
    /// Refused connections, timeouts, 5xx and 429: retried.
    failed_attempts: usize,
    /// Other 4xx answers: Alertmanager would drop the group.
    rejected: Vec<u16>,
    /// Requests still unanswered when their client gave up.
    unanswered: usize,
    /// Fingerprints of the alerts answered 2xx.
    acked: Vec<String>,
}

/// Request `n` of client `c`: its path, body and the dedup keys of its alerts. Even clients
/// send Alertmanager webhooks (a group of two alerts with its own alert name: a new SEV1
/// incident of `checkout`), odd ones PagerDuty events (a new SEV1 incident of `payments-api`).
fn request(c: usize, n: usize) -> (&'static str, Value, Vec<String>) {
    let alertmanager = c.is_multiple_of(2);
    let keys: Vec<String> = (0..if alertmanager { ALERTS_PER_WEBHOOK } else { 1 })
        .map(|i| format!("chaos-{c}-{n}-{i}"))
        .collect();
    if !alertmanager {
        let body = json!({"routing_key": "demo-events-v2", "event_action": "trigger",
            "dedup_key": keys[0], "payload": {"summary": format!("chaos event {c}-{n}"),
            "source": "chaos", "severity": "critical"}});
        return ("/v2/enqueue", body, keys);
    }
    let name = format!("Chaos{c}x{n}");
    let alerts: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            json!({"status": "firing", "labels": {"alertname": name, "severity": "critical",
                "replica": i.to_string()}, "annotations": {"summary": "chaos load"},
                "startsAt": "2026-11-27T00:00:00Z", "fingerprint": key})
        })
        .collect();
    let body = json!({"version": "4", "groupKey": format!("chaos-{c}-{n}"), "status": "firing",
        "receiver": "muster", "alerts": alerts});
    (
        "/api/v1/integrations/demo-alertmanager/alertmanager",
        body,
        keys,
    )
}

/// Every stored alert of both integrations the load uses.
async fn all_alerts(store: &Store) -> Vec<StoredAlert> {
    let mut alerts = stored_alerts(store, "alertmanager").await;
    alerts.extend(stored_alerts(store, "events-v2").await);
    alerts
}

async fn client(
    c: usize,
    urls: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    tally: Arc<Mutex<Tally>>,
) {
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client");
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let (path, body, keys) = request(c, n);
        {
            let mut t = tally.lock().expect("tally");
            t.requests += 1;
            t.sent += keys.len();
        }
        let mut give_up_at = None;
        for attempt in 0.. {
            let url = {
                let urls = urls.lock().expect("urls");
                format!("{}{path}", urls[(c + n + attempt) % urls.len()])
            };
            let answer = http.post(&url).json(&body).send().await;
            {
                let mut t = tally.lock().expect("tally");
                t.attempts += 1;
                match answer {
                    Ok(r) if r.status().is_success() => {
                        t.acked.extend(keys);
                        break;
                    }
                    Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                        t.rejected.push(r.status().as_u16());
                        break;
                    }
                    _ => t.failed_attempts += 1,
                }
                if stop.load(Ordering::SeqCst)
                    && Instant::now()
                        > *give_up_at.get_or_insert(Instant::now() + RETRY_AFTER_FAULTS)
                {
                    t.unanswered += 1;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        n += 1;
        tokio::time::sleep(PACE).await;
    }
}

/// A pause of `from..to` seconds, drawn from `rng`.
async fn pause(rng: &mut Rng, from: f64, to: f64) {
    let secs = from + (to - from) * rng.uniform();
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

/// Strikes faults of `kinds`, each round all kinds in a random order, until `secs` have passed
/// and every kind struck at least [`MIN_FAULTS`] times. Faults by kind (SIGSTOPs past the
/// leases also apart, as `sigstop_past_lease`).
async fn strike(
    nodes: &mut Nodes,
    cluster: Option<&Cluster>,
    kinds: &[Fault],
    secs: u64,
    rng: &mut Rng,
) -> BTreeMap<&'static str, usize> {
    let start = Instant::now();
    let mut counts: BTreeMap<&'static str, usize> = kinds.iter().map(|k| (k.name(), 0)).collect();
    let count = nodes.servers.len();
    let mut past_lease_stops = 0;
    while start.elapsed() < Duration::from_secs(secs) || counts.values().any(|n| *n < MIN_FAULTS) {
        let mut round = kinds.to_vec();
        for i in (1..round.len()).rev() {
            round.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        for fault in round {
            pause(rng, 1.0, 3.0).await;
            let node = (rng.next_u64() % count as u64) as usize;
            let what = match fault {
                Fault::Kill9 => {
                    nodes.kill_9(node);
                    pause(rng, 0.2, 1.5).await;
                    nodes.start(node);
                    format!("node {node}")
                }
                Fault::SigStop => {
                    let past_lease = secs >= LONG_FORM_SECS && counts[fault.name()] % 4 == 3;
                    let (from, to) = if past_lease { PAST_LEASE } else { (1.0, 7.0) };
                    nodes.server(node).signal("STOP");
                    pause(rng, from, to).await;
                    nodes.server(node).signal("CONT");
                    if past_lease {
                        past_lease_stops += 1;
                        format!("node {node}, past the leases")
                    } else {
                        format!("node {node}")
                    }
                }
                Fault::PgRestart => {
                    let mode = if counts[fault.name()].is_multiple_of(2) {
                        "fast"
                    } else {
                        "immediate"
                    };
                    let cluster = cluster.expect("a PostgreSQL cluster to restart");
                    tokio::task::block_in_place(|| cluster.restart(mode));
                    format!("-m {mode}")
                }
            };
            *counts.entry(fault.name()).or_default() += 1;
            eprintln!(
                "{:>6.1} s  {} {what}",
                start.elapsed().as_secs_f64(),
                fault.name()
            );
        }
    }
    if past_lease_stops > 0 {
        counts.insert("sigstop_past_lease", past_lease_stops);
    }
    counts
}

fn due(t: &TimerRecord, cutoff: Timestamp) -> bool {
    t.due_at <= cutoff && t.state != TimerState::Cancelled
}

/// Waits until every timer of the incidents due by `cutoff` has fired (or `SETTLE` ends).
async fn settle(store: &Store, cutoff: Timestamp) {
    let deadline = Instant::now() + SETTLE;
    let mut settled: BTreeSet<i64> = BTreeSet::new();
    loop {
        let incidents: BTreeSet<i64> = all_alerts(store)
            .await
            .iter()
            .filter_map(|a| a.incident.map(|n| n.0))
            .collect();
        // Incidents settle in order; the first one with a due timer unfired ends the pass.
        let unsettled: Vec<i64> = incidents.difference(&settled).copied().collect();
        for n in &unsettled {
            let timers = store
                .timers_for_incident(IncidentNumber(*n))
                .await
                .expect("timers");
            if !timers
                .iter()
                .all(|t| !due(t, cutoff) || t.state == TimerState::Fired)
            {
                break;
            }
            settled.insert(*n);
        }
        let all_settled = incidents.iter().all(|n| settled.contains(n));
        if (all_settled && Timestamp::now() > cutoff) || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The counts of the run, read from the database.
async fn counts(store: &Store, tally: &Tally, cutoff: Timestamp) -> BTreeMap<&'static str, Value> {
    let alerts = all_alerts(store).await;
    let mut stored: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &alerts {
        *stored.entry(a.dedup_key.as_str()).or_default() += 1;
    }
    let lost = tally
        .acked
        .iter()
        .filter(|k| !stored.contains_key(k.as_str()))
        .count();
    let duplicated: usize = stored.values().map(|n| n - 1).sum();
    let incidents: BTreeSet<i64> = alerts
        .iter()
        .filter_map(|a| a.incident.map(|n| n.0))
        .collect();

    // Every timer row due by the cutoff fired; a row fires at most once by construction, so
    // a timer firing twice would show as a second firing or page of its policy below.
    let (mut due_rows, mut fired_rows) = (0, 0);
    let (mut fired_twice, mut missing, mut pages, mut pages_twice, mut pages_missing) =
        (0, 0, 0, 0, 0);
    for n in &incidents {
        let timers = store
            .timers_for_incident(IncidentNumber(*n))
            .await
            .expect("timers");
        for t in timers.iter().filter(|t| due(t, cutoff)) {
            due_rows += 1;
            fired_rows += usize::from(t.state == TimerState::Fired);
        }
        // Per chaos policy: one arming, fired; one firing on the timeline; one page queued.
        let events = store
            .timeline(IncidentNumber(*n), 0, 1000)
            .await
            .expect("timeline");
        let outbox = store
            .outbox_for_incident(IncidentNumber(*n))
            .await
            .expect("outbox");
        for (policy, _) in POLICIES {
            let timer_prefix = format!("INC-{n}/deadline:{policy}:");
            let armings = timers.iter().filter(|t| t.key.starts_with(&timer_prefix));
            let fired = armings.filter(|t| t.state == TimerState::Fired).count();
            let recorded = events
                .iter()
                .filter(
                    |e| matches!(&e.change, Change::PolicyFired { policy: p, .. } if p == policy),
                )
                .count();
            let page_prefix = format!("INC-{n}/{policy}:");
            let paged = outbox
                .iter()
                .filter(|o| o.effect == "page" && o.idempotency_key.starts_with(&page_prefix))
                .count();
            fired_twice += usize::from(fired > 1 || recorded > 1);
            missing += usize::from(fired == 0 || recorded == 0);
            pages += paged;
            pages_twice += usize::from(paged > 1);
            pages_missing += usize::from(paged == 0);
        }
    }
    BTreeMap::from([
        ("requests", json!(tally.requests)),
        ("sent", json!(tally.sent)),
        ("attempts", json!(tally.attempts)),
        ("failed_attempts", json!(tally.failed_attempts)),
        ("rejected_4xx", json!(tally.rejected.len())),
        ("unanswered", json!(tally.unanswered)),
        ("acked_2xx", json!(tally.acked.len())),
        ("stored", json!(alerts.len())),
        ("lost", json!(lost)),
        ("duplicated", json!(duplicated)),
        ("incidents", json!(incidents.len())),
        ("timers_due", json!(due_rows)),
        ("timers_fired_once", json!(fired_rows)),
        ("timers_unfired", json!(due_rows - fired_rows)),
        ("policy_timers_fired_twice", json!(fired_twice)),
        ("policy_timers_missing", json!(missing)),
        ("pages_queued", json!(pages)),
        ("pages_duplicated", json!(pages_twice)),
        ("pages_missing", json!(pages_missing)),
    ])
}

fn seed() -> u64 {
    std::env::var("MUSTER_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Timestamp::now().as_nanosecond() as u64)
}

fn secs() -> u64 {
    std::env::var("MUSTER_CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

/// The whole run: nodes on `db`, load, faults, settling, counts, assertions.
async fn chaos(
    backend: &str,
    db: &str,
    nodes_count: usize,
    cluster: Option<&Cluster>,
    kinds: &[Fault],
) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (seed, secs) = (seed(), secs());
    eprintln!("chaos {backend}: seed {seed}, {secs} s, {nodes_count} node(s)");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config");
    config(&cfg);
    let mut nodes = Nodes::new(nodes_count, &cfg, db, dir.path());

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Mutex::new(Tally::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(c, nodes.urls.clone(), stop.clone(), tally.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rng = Rng::new(seed);
    let faults = strike(&mut nodes, cluster, kinds, secs, &mut rng).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.expect("client");
    }
    // The last incidents' deadlines fall due within the longest one.
    let longest = POLICIES.iter().map(|(_, s)| *s).max().unwrap_or(0);
    let cutoff = Timestamp::now() + Duration::from_secs(longest + 1);

    let store = Store::connect(db).await.expect("store");
    let started = Instant::now();
    settle(&store, cutoff).await;
    eprintln!("settled in {:.1} s", started.elapsed().as_secs_f64());
    // The nodes stay up a moment longer: anything that would fire twice has its chance.
    tokio::time::sleep(Duration::from_secs(2)).await;
    nodes.kill_all();

    let tally = std::mem::take(&mut *tally.lock().expect("tally"));
    let mut summary = counts(&store, &tally, cutoff).await;
    store.close().await;
    summary.insert("backend", json!(backend));
    summary.insert("nodes", json!(nodes_count));
    summary.insert("seed", json!(seed));
    summary.insert("fault_secs", json!(secs));
    summary.insert("faults", json!(faults));
    println!("chaos summary {}", json!(summary));

    let n = |k: &str| summary[k].as_u64().unwrap_or(u64::MAX);
    let failed = [
        "lost",
        "duplicated",
        "rejected_4xx",
        "unanswered",
        "timers_unfired",
        "policy_timers_fired_twice",
        "policy_timers_missing",
        "pages_duplicated",
        "pages_missing",
    ]
    .into_iter()
    .filter(|k| n(k) != 0)
    .collect::<Vec<_>>();
    let logs = if failed.is_empty() {
        String::new()
    } else {
        format!("; node logs kept in {}", dir.keep().display())
    };
    assert!(
        failed.is_empty(),
        "chaos {backend} (seed {seed}): {failed:?} not zero{logs}"
    );
    assert!(
        n("acked_2xx") > 0 && n("incidents") > 0,
        "no load got through"
    );
    assert!(
        n("timers_due") >= n("incidents") * POLICIES.len() as u64,
        "the chaos policies' timers are not all due"
    );
    assert!(
        kinds.iter().all(|k| faults[k.name()] >= MIN_FAULTS),
        "{faults:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_two_nodes_on_postgres_lose_and_repeat_nothing() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let kinds = [Fault::Kill9, Fault::SigStop, Fault::PgRestart];
    chaos("postgres", &cluster.url(), 2, Some(&cluster), &kinds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_one_node_on_sqlite_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("muster.db").display());
    chaos("sqlite", &db, 1, None, &[Fault::Kill9]).await;
}
