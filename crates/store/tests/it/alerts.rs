//! Alerts: dedup, grouping, auto-resolution and concurrent deliveries, each with its incident
//! and outbox items in one transaction.

use muster_core::alert::SignedDuration;
use muster_core::alert::{AlertAction, AlertSignal, AlertStatus};
use muster_core::{Change, Command, Incident, Severity, Status, decide, declare};
use muster_store::{
    AlertFilter, AlertReactor, Effects, IncidentAction, IngestKind, OutboxItem, StoreError,
};
use serde_json::{Value, json};

use crate::harness::{assert_consistent, at, vocab};

/// Declares with the test vocabulary and queues one page per new incident.
struct TestReactor;

/// A reactor whose declarations panic, as a bug in a policy might.
struct PanickingReactor;

impl AlertReactor for PanickingReactor {
    fn declare(&self, _: &AlertSignal) -> Result<Vec<Change>, StoreError> {
        panic!("a bug while declaring");
    }

    fn declared(&self, i: &Incident, state: &mut Value, c: &[Change]) -> (Vec<Change>, Effects) {
        TestReactor.declared(i, state, c)
    }

    fn update(&self, i: &Incident, state: &mut Value, a: IncidentAction) -> (Vec<Change>, Effects) {
        TestReactor.update(i, state, a)
    }
}

/// The test reactor, counting how often the store handed it the run-time overrides.
#[derive(Default)]
struct LazyReactor {
    prepared: std::sync::atomic::AtomicUsize,
}

impl AlertReactor for LazyReactor {
    fn needs_overrides(&self) -> bool {
        self.prepared.load(std::sync::atomic::Ordering::SeqCst) == 0
    }

    fn prepare(&self, _: Vec<muster_store::ScheduleOverride>) {
        self.prepared
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }

    fn declare(&self, s: &AlertSignal) -> Result<Vec<Change>, StoreError> {
        TestReactor.declare(s)
    }

    fn declared(&self, i: &Incident, state: &mut Value, c: &[Change]) -> (Vec<Change>, Effects) {
        assert!(
            !self.needs_overrides(),
            "declared before the overrides were read"
        );
        TestReactor.declared(i, state, c)
    }

    fn update(&self, i: &Incident, state: &mut Value, a: IncidentAction) -> (Vec<Change>, Effects) {
        assert!(
            !self.needs_overrides(),
            "updated before the overrides were read"
        );
        TestReactor.update(i, state, a)
    }
}

impl AlertReactor for TestReactor {
    fn declare(&self, s: &AlertSignal) -> Result<Vec<Change>, StoreError> {
        declare(
            &s.summary,
            s.severity,
            std::slice::from_ref(&s.service),
            &vocab(),
        )
        .map_err(StoreError::Domain)
    }

    fn declared(&self, i: &Incident, state: &mut Value, _: &[Change]) -> (Vec<Change>, Effects) {
        *state = json!({"paged": true});
        let page = OutboxItem {
            idempotency_key: format!("{}/page", i.id),
            incident: Some(i.id),
            effect: "page".into(),
            payload: json!({}),
        };
        (
            Vec::new(),
            Effects {
                timers: Vec::new(),
                outbox: vec![page],
                ..Default::default()
            },
        )
    }

    fn update(&self, i: &Incident, _: &mut Value, a: IncidentAction) -> (Vec<Change>, Effects) {
        let cmd = match a {
            IncidentAction::Acknowledge => Command::Acknowledge,
            IncidentAction::Resolve => Command::Update {
                title: None,
                severity: None,
                status: Some(Status::Resolved),
                services: None,
            },
        };
        (
            decide(i, &cmd, &vocab()).unwrap_or_default(),
            Effects::default(),
        )
    }
}

fn signal(action: AlertAction, key: &str, group: &str) -> AlertSignal {
    AlertSignal {
        integration: "am".into(),
        action,
        dedup_key: key.into(),
        group_key: group.into(),
        service: "checkout".into(),
        severity: Severity::Sev2,
        summary: "Checkout errors".into(),
        labels: Default::default(),
        annotations: Default::default(),
        payload: json!({"k": key}),
        group_window: Some(SignedDuration::from_mins(5)),
        auto_resolve: true,
    }
}

backend_tests! {
    async fn alerts_dedup_group_and_auto_resolve(db) {
        let store = &db.store;
        let r = TestReactor;
        let none = Effects::default();
        let fire = |k: &str| signal(AlertAction::Trigger, k, "g");
        let done = store.ingest_alerts(&[fire("a"), fire("a"), fire("b")], &none, "am", at(0), &r).await.unwrap();
        let kinds: Vec<_> = done.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, [IngestKind::Opened, IngestKind::Repeated, IngestKind::Joined]);
        let incident = done[0].alert.as_ref().and_then(|a| a.incident).expect("incident");
        assert_eq!(done[2].alert.as_ref().and_then(|a| a.incident), Some(incident));
        assert_eq!(done[1].alert.as_ref().map(|a| a.count), Some(2));
        let outbox = store.outbox_for_incident(incident).await.unwrap();
        assert_eq!(outbox.len(), 1, "one page for the incident, in the same transaction");
        assert_eq!(store.policy_state(incident).await.unwrap(), json!({"paged": true}));

        // Past the window, the same group opens a new incident.
        let late = store.ingest_alerts(&[fire("c")], &none, "am", at(301), &r).await.unwrap();
        assert_eq!(late[0].kind, IngestKind::Opened);
        assert_ne!(late[0].alert.as_ref().and_then(|a| a.incident), Some(incident));

        let resolve = |k: &str| signal(AlertAction::Resolve, k, "g");
        store.ingest_alerts(&[resolve("a")], &none, "am", at(400), &r).await.unwrap();
        assert_eq!(store.incident(incident).await.unwrap().unwrap().status, Status::Triage, "b still fires");
        let last = store.ingest_alerts(&[resolve("b"), resolve("zzz")], &none, "am", at(401), &r).await.unwrap();
        assert_eq!(last[1].kind, IngestKind::NoOpenAlert);
        let inc = assert_consistent(store, incident).await;
        assert_eq!(inc.status, Status::Resolved);

        // A resolved key fires again as a new alert, joining the group's open incident.
        let again = store.ingest_alerts(&[fire("a")], &none, "am", at(500), &r).await.unwrap();
        assert_eq!(again[0].kind, IngestKind::Joined);
        assert_eq!(again[0].alert.as_ref().and_then(|a| a.incident), late[0].alert.as_ref().and_then(|a| a.incident));
        let all = store.alerts(&AlertFilter::default()).await.unwrap();
        assert_eq!(all.len(), 4, "a, b, c and a again");
        let resolved = AlertFilter { status: Some(AlertStatus::Resolved), ..Default::default() };
        assert_eq!(store.alerts(&resolved).await.unwrap().len(), 2);
    }

    async fn concurrent_deliveries_of_one_alert_open_one_incident(db) {
        let store = &db.store;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let s = signal(AlertAction::Trigger, "same", "g");
                store.ingest_alerts(&[s], &Effects::default(), "am", at(0), &TestReactor).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let all = store.alerts(&AlertFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].count, 8);
        let incidents = store.list_incidents(&Default::default()).await.unwrap();
        assert_eq!(incidents.len(), 1);
    }

    async fn firing_again_after_a_manual_resolve_opens_a_new_incident(db) {
        let store = &db.store;
        let r = TestReactor;
        let none = Effects::default();
        let fire = signal(AlertAction::Trigger, "k", "g");
        let first = store.ingest_alerts(std::slice::from_ref(&fire), &none, "am", at(0), &r).await.unwrap();
        let incident = first[0].alert.as_ref().and_then(|a| a.incident).expect("incident");
        store
            .update(incident, "alice", at(10), |i| {
                decide(i, &Command::Update { title: None, severity: None, status: Some(Status::Resolved), services: None }, &vocab())
            })
            .await
            .unwrap();
        let again = store.ingest_alerts(std::slice::from_ref(&fire), &none, "am", at(20), &r).await.unwrap();
        assert_eq!(again[0].kind, IngestKind::Opened);
        assert_ne!(again[0].alert.as_ref().and_then(|a| a.incident), Some(incident));
        let resolved = AlertFilter { status: Some(AlertStatus::Resolved), ..Default::default() };
        assert_eq!(store.alerts(&resolved).await.unwrap().len(), 1, "the old occurrence is closed");
    }

    async fn a_failed_batch_stores_nothing(db) {
        let store = &db.store;
        let mut bad = signal(AlertAction::Trigger, "x", "g2");
        bad.service = "no-such-service".into();
        let err = store
            .ingest_alerts(&[signal(AlertAction::Trigger, "ok", "g1"), bad], &Effects::default(), "am", at(0), &TestReactor)
            .await;
        assert!(matches!(err, Err(StoreError::Domain(_))), "{err:?}");
        assert!(store.alerts(&AlertFilter::default()).await.unwrap().is_empty());
        assert!(store.list_incidents(&Default::default()).await.unwrap().is_empty());
    }

    async fn one_batch_settles_what_it_opened_and_reopens_after(db) {
        let store = &db.store;
        let fire = |k: &str| signal(AlertAction::Trigger, k, "g");
        let resolve = |k: &str| signal(AlertAction::Resolve, k, "g");
        let ack = |k: &str| signal(AlertAction::Acknowledge, k, "g");
        let batch = [
            fire("a"), fire("a"), fire("b"), ack("b"), resolve("a"), fire("a"),
            resolve("a"), resolve("b"), fire("c"), fire("c"),
        ];
        let done = store.ingest_alerts(&batch, &Effects::default(), "am", at(0), &TestReactor).await.unwrap();
        let kinds: Vec<_> = done.iter().map(|d| d.kind).collect();
        use IngestKind::*;
        assert_eq!(kinds, [Opened, Repeated, Joined, Updated, Updated, Joined, Updated, Updated, Opened, Repeated]);
        let first = done[0].alert.as_ref().and_then(|a| a.incident).expect("incident");
        let second = done[8].alert.as_ref().and_then(|a| a.incident).expect("incident");
        assert_ne!(first, second, "the group's incident auto-resolved inside the batch");
        assert_eq!(assert_consistent(store, first).await.status, Status::Resolved);
        assert_eq!(store.incident(second).await.unwrap().unwrap().status, Status::Triage);
        // Every answer names the stored row, with the count at that point.
        let ids: Vec<i64> = done.iter().filter_map(|d| d.alert.as_ref().map(|a| a.id)).collect();
        assert!(ids.iter().all(|id| *id > 0), "{ids:?}");
        assert_eq!(done[0].alert.as_ref().map(|a| a.id), done[1].alert.as_ref().map(|a| a.id));
        assert_ne!(done[0].alert.as_ref().map(|a| a.id), done[5].alert.as_ref().map(|a| a.id));
        assert_eq!(done[9].alert.as_ref().map(|a| a.count), Some(2));
        let all = store.alerts(&AlertFilter::default()).await.unwrap();
        let mut rows: Vec<_> = all.iter().map(|a| (a.dedup_key.as_str(), a.count, a.status)).collect();
        rows.sort_by_key(|r| (r.0, r.1));
        assert_eq!(rows, [
            ("a", 1, AlertStatus::Resolved), ("a", 2, AlertStatus::Resolved),
            ("b", 1, AlertStatus::Resolved), ("c", 2, AlertStatus::Firing),
        ]);
        assert_eq!(store.outbox_for_incident(second).await.unwrap().len(), 1);
    }

    async fn a_batch_that_panics_mid_transaction_leaves_nothing_and_the_writer_usable(db) {
        // Buffered writes first (a repeat, a join), then a declaration that panics: nothing of
        // the batch is stored, and the next batch finds no transaction left open.
        let store = db.store.clone();
        let none = Effects::default();
        let fire = |k: &str, g: &str| signal(AlertAction::Trigger, k, g);
        store.ingest_alerts(&[fire("a", "g1")], &none, "am", at(0), &TestReactor).await.unwrap();
        let panicking = store.clone();
        let crashed = tokio::spawn(async move {
            let signals = [fire("a", "g1"), fire("b", "g1"), fire("x", "g2")];
            let none = Effects::default();
            panicking.ingest_alerts(&signals, &none, "am", at(10), &PanickingReactor).await
        })
        .await;
        assert!(crashed.is_err_and(|e| e.is_panic()));
        let done = store.ingest_alerts(&[fire("a", "g1"), fire("c", "g1")], &none, "am", at(20), &TestReactor).await.unwrap();
        assert_eq!(done.iter().map(|d| d.kind).collect::<Vec<_>>(), [IngestKind::Repeated, IngestKind::Joined]);
        let all = store.alerts(&AlertFilter::default()).await.unwrap();
        let mut keys: Vec<(&str, i64)> = all.iter().map(|a| (a.dedup_key.as_str(), a.count)).collect();
        keys.sort();
        assert_eq!(keys, [("a", 2), ("c", 1)]);
    }

    async fn a_batch_reads_overrides_only_to_react_and_applies_signals_in_order(db) {
        // A batch that only stores alerts never reads the overrides; one whose later signals
        // open and settle incidents reads them once, in its transaction.
        let store = &db.store;
        let none = Effects::default();
        let fire = |k: &str, g: &str| signal(AlertAction::Trigger, k, g);
        let first = LazyReactor::default();
        store.ingest_alerts(&[fire("a", "g1")], &none, "am", at(0), &first).await.unwrap();
        assert_eq!(first.prepared.load(std::sync::atomic::Ordering::SeqCst), 1);
        let quiet = LazyReactor::default();
        let done = store.ingest_alerts(&[fire("a", "g1"), fire("b", "g1")], &none, "am", at(10), &quiet).await.unwrap();
        assert_eq!(done.iter().map(|d| d.kind).collect::<Vec<_>>(), [IngestKind::Repeated, IngestKind::Joined]);
        assert_eq!(quiet.prepared.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Buffered signals first (a repeat, a join), then a new group's declaration, then
        // signals that depend on it and on the buffered ones, then a resolve.
        let mixed = LazyReactor::default();
        let signals = [
            fire("a", "g1"), fire("c", "g1"), fire("x", "g2"), fire("y", "g2"), fire("c", "g1"),
            fire("x", "g2"), signal(AlertAction::Resolve, "y", "g2"), fire("z", "g2"),
        ];
        let jobs: Vec<(&[AlertSignal], &Effects, &str, &[muster_store::EncodedAlert])> =
            signals.chunks(3).map(|c| (c, &none, "am", &[][..])).collect();
        let done = store.ingest_alert_batch(&jobs, at(20), &mixed).await.unwrap();
        let kinds: Vec<IngestKind> = done.iter().flatten().map(|d| d.kind).collect();
        assert_eq!(kinds, [
            IngestKind::Repeated, IngestKind::Joined, IngestKind::Opened, IngestKind::Joined,
            IngestKind::Repeated, IngestKind::Repeated, IngestKind::Updated, IngestKind::Joined,
        ]);
        assert_eq!(mixed.prepared.load(std::sync::atomic::Ordering::SeqCst), 1);
        let all = store.alerts(&AlertFilter::default()).await.unwrap();
        let row = |k: &str| all.iter().find(|a| a.dedup_key == k).map(|a| (a.count, a.status)).unwrap();
        assert_eq!(row("a"), (3, AlertStatus::Firing));
        assert_eq!(row("c"), (2, AlertStatus::Firing));
        assert_eq!(row("x"), (2, AlertStatus::Firing));
        assert_eq!(row("y"), (1, AlertStatus::Resolved));
        let incident = |k: &str| all.iter().find(|a| a.dedup_key == k).and_then(|a| a.incident);
        assert_eq!(incident("c"), incident("a"));
        assert_eq!(incident("z"), incident("x"));
        assert_ne!(incident("x"), incident("a"));
        // Every answer names the id its row got.
        for (d, s) in done.iter().flatten().zip(&signals) {
            let a = d.alert.as_ref().expect("alert");
            assert_eq!(a.dedup_key, s.dedup_key);
            assert!(all.iter().any(|r| r.id == a.id && r.dedup_key == a.dedup_key), "{}", a.dedup_key);
        }
    }

    async fn a_group_commit_of_many_requests_stores_each_alert_once(db) {
        // 300 new alerts: past PostgreSQL's switch to one JSON-fed insert; on SQLite one
        // prepared insert stepped per row.
        let store = &db.store;
        let none = Effects::default();
        let one = |j: usize, n: usize| {
            let key = format!("k{}", (j * 60 + n) % 300);
            let mut s = signal(AlertAction::Trigger, &key, "big");
            s.labels.insert("from".into(), format!("{j}-{n}"));
            s.payload = json!({"k": key, "from": format!("{j}-{n}")});
            s
        };
        let jobs: Vec<Vec<AlertSignal>> = (0..4).map(|j| (0..120).map(|n| one(j, n)).collect()).collect();
        // Jobs 1 and 3 come with their JSON columns encoded by the caller, as intake does.
        let encoded: Vec<Vec<muster_store::EncodedAlert>> = jobs
            .iter()
            .enumerate()
            .map(|(j, s)| if j % 2 == 1 { s.iter().map(|s| muster_store::encode_alert(s).unwrap()).collect() } else { Vec::new() })
            .collect();
        let refs: Vec<(&[AlertSignal], &Effects, &str, &[muster_store::EncodedAlert])> =
            jobs.iter().zip(&encoded).map(|(j, e)| (j.as_slice(), &none, "am", e.as_slice())).collect();
        let done = store.ingest_alert_batch(&refs, at(0), &TestReactor).await.unwrap();
        assert_eq!(done.len(), 4);
        let kinds: Vec<IngestKind> = done.iter().flatten().map(|d| d.kind).collect();
        assert_eq!(kinds.iter().filter(|k| **k == IngestKind::Opened).count(), 1);
        assert_eq!(kinds.iter().filter(|k| **k == IngestKind::Joined).count(), 299);
        assert_eq!(kinds.iter().filter(|k| **k == IngestKind::Repeated).count(), 180);
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let page = store.alerts(&AlertFilter { limit: Some(500), before, ..Default::default() }).await.unwrap();
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page);
        }
        assert_eq!(all.len(), 300);
        assert_eq!(all.iter().map(|a| a.count).sum::<i64>(), 480);
        let incidents: std::collections::HashSet<_> = all.iter().map(|a| a.incident).collect();
        assert_eq!(incidents.len(), 1);
        // Labels from each key's first signal, the payload from its last.
        for a in &all {
            let sent: Vec<&AlertSignal> = jobs.iter().flatten().filter(|s| s.dedup_key == a.dedup_key).collect();
            assert_eq!(a.labels, sent[0].labels, "{}", a.dedup_key);
            assert_eq!(a.payload, sent[sent.len() - 1].payload, "{}", a.dedup_key);
        }
        // The answers carry the ids and counts the rows have.
        for d in done.iter().flatten() {
            let a = d.alert.as_ref().expect("alert");
            assert!(all.iter().any(|s| s.id == a.id && s.dedup_key == a.dedup_key && s.count >= a.count));
        }
        // Repeats of stored alerts in a later batch replace the payload, not the labels.
        let again: Vec<AlertSignal> = (0..2).map(|n| {
            let mut s = one(9, n);
            s.dedup_key = format!("k{n}");
            s.payload = json!({"again": n});
            s
        }).collect();
        let again_encoded = [muster_store::encode_alert(&again[1]).unwrap()];
        let refs = [(&again[..1], &none, "am", &[][..]), (&again[1..], &none, "am", &again_encoded[..])];
        let done = store.ingest_alert_batch(&refs, at(60), &TestReactor).await.unwrap();
        for (n, d) in done.iter().flatten().enumerate() {
            assert_eq!(d.kind, IngestKind::Repeated);
            let stored = store.alert(d.alert.as_ref().unwrap().id).await.unwrap().unwrap();
            assert_eq!(stored.payload, json!({"again": n}));
            let first = all.iter().find(|a| a.dedup_key == format!("k{n}")).unwrap();
            assert_eq!(stored.labels, first.labels);
        }
        // A later webhook of the same group (within its window) joins by one lookup.
        let later = store.ingest_alerts(&[signal(AlertAction::Trigger, "late", "big")], &none, "am", at(120), &TestReactor).await.unwrap();
        assert_eq!(later[0].kind, IngestKind::Joined);
    }

    async fn concurrent_batches_of_one_new_group_open_one_incident(db) {
        let store = &db.store;
        let mut tasks = Vec::new();
        for t in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let s: Vec<_> = (0..5).map(|n| signal(AlertAction::Trigger, &format!("t{t}-{n}"), "storm")).collect();
                store.ingest_alerts(&s, &Effects::default(), "am", at(0), &TestReactor).await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let incidents = store.list_incidents(&Default::default()).await.unwrap();
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        let all = store.alerts(&AlertFilter { limit: Some(100), ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 40);
    }
}

/// Intake's prefetch (migration 24) reads through indexes even when its plans are made
/// against empty tables, the case in which a plan kept for the session could otherwise be a
/// sequential scan that lasts while the tables grow. Counted by the database itself, in the
/// transaction that ran it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_intake_prefetch_reads_by_index_when_planned_on_empty_tables() {
    crate::harness::with_pg(|db| async move {
        use sqlx::Connection;
        let url = db.pg_url().expect("postgres").to_string();
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        let mut tx = conn.begin().await.unwrap();
        for n in 0..8 {
            let rows: Vec<(String,)> = sqlx::query_as(
                "SELECT kind FROM muster_intake_prefetch(ARRAY['alert-key:am:k'], \
                 ARRAY['am', 'am', 'am'], ARRAY['k1', 'k2', $1], ARRAY['am'], ARRAY['g'], 0)",
            )
            .bind(format!("k{n}"))
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            assert!(rows.is_empty(), "empty tables, yet {rows:?}");
        }
        let (seq, idx): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(sum(seq_scan), 0)::int8, coalesce(sum(idx_scan), 0)::int8 \
             FROM pg_stat_xact_user_tables WHERE relname IN ('alerts', 'alert_groups')",
        )
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        assert_eq!(seq, 0, "sequential scans of alerts or alert_groups");
        // 8 calls × (3 keys + 1 group) index lookups.
        assert_eq!(idx, 32, "index scans of alerts and alert_groups");
    })
    .await
}

/// SQLite's group commit begins its transaction under the connection's lock only when the
/// write lock is free at once. While another process holds it, the batch begins on sqlx's
/// thread and waits there, as any other write does, instead of failing.
#[tokio::test]
async fn sqlite_intake_waits_for_another_process_holding_the_write_lock() {
    use sqlx::Connection;
    crate::harness::with_sqlite(|db| async move {
        let path = db.url.trim_start_matches("sqlite://").to_string();
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        let mut other = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .unwrap();
        let store = db.store.clone();
        let batch = tokio::spawn(async move {
            let signals = [signal(AlertAction::Trigger, "held", "g")];
            let none = Effects::default();
            store
                .ingest_alerts(&signals, &none, "am", at(0), &TestReactor)
                .await
        });
        // The window in which the batch meets the lock taken: it cannot commit before the
        // other connection does.
        let window = std::time::Instant::now() + std::time::Duration::from_millis(300);
        while std::time::Instant::now() < window {
            assert!(
                !batch.is_finished(),
                "the batch ended while the write lock was held"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
        let done = batch
            .await
            .unwrap()
            .expect("the batch waits for the lock, then commits");
        assert_eq!(done[0].kind, IngestKind::Opened);
        assert_eq!(db.raw_i64("SELECT count(*) FROM alerts").await, 1);
        other.close().await.unwrap();
    })
    .await;
}
