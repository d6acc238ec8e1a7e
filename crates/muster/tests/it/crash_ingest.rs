//! Crash test for alert intake: `muster serve` is killed with SIGKILL while concurrent clients
//! post Alertmanager webhooks; after a restart every alert that was answered 2xx is stored,
//! once. On SQLite and on PostgreSQL.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use muster_store::Store;
use muster_testkit::{Backend, TestDb};
use serde_json::{Value, json};

use crate::procs::{Server, stored_alerts};

const CLIENTS: usize = 16;
const ALERTS_PER_WEBHOOK: usize = 4;
/// Answered webhooks before the kill: enough that the kill lands in the middle of the load.
const ACKED_BEFORE_KILL: usize = 150;

fn webhook(client: usize, n: usize) -> Value {
    let alerts: Vec<Value> = (0..ALERTS_PER_WEBHOOK)
        .map(|i| {
            json!({"status": "firing", "labels": {"alertname": format!("Crash{client}"),
                "severity": "critical", "n": format!("{n}-{i}")},
                "annotations": {"summary": "crash under load"},
                "startsAt": "2026-11-27T00:00:00Z", "fingerprint": format!("c{client}-{n}-{i}")})
        })
        .collect();
    json!({"version": "4", "groupKey": format!("crash-{client}"), "status": "firing",
        "receiver": "muster", "alerts": alerts})
}

/// Posts webhooks until the server stops answering; returns the fingerprints answered 2xx
/// and whether a request failed (it was in flight when the server died).
async fn client(url: String, c: usize, acked: Arc<Mutex<Vec<String>>>) -> bool {
    let http = reqwest::Client::new();
    for n in 0.. {
        let sent = http
            .post(&url)
            .json(&webhook(c, n))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => {
                let keys = (0..ALERTS_PER_WEBHOOK).map(|i| format!("c{c}-{n}-{i}"));
                acked.lock().expect("lock").extend(keys);
            }
            Ok(r) => panic!("answered {} before the kill", r.status()),
            Err(_) => return true,
        }
    }
    false
}

async fn crash_under_load(db: &str, config: &Path) {
    let server = Server::start(config, db, &[]);
    let url = format!(
        "{}/api/v1/integrations/demo-alertmanager/alertmanager",
        server.url
    );
    let acked = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(client(url.clone(), c, acked.clone())))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < ACKED_BEFORE_KILL * ALERTS_PER_WEBHOOK {
        assert!(Instant::now() < deadline, "the load never got going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill_9();
    let mut cut = 0;
    for c in clients {
        cut += usize::from(c.await.expect("client"));
    }
    assert_eq!(
        cut, CLIENTS,
        "every client was sending when the server died"
    );

    // Restart (migrations, recovery), then read what is stored.
    let _again = Server::start(config, db, &[]);
    let store = Store::connect(db).await.expect("store");
    let stored: Vec<String> = stored_alerts(&store, "alertmanager")
        .await
        .into_iter()
        .map(|a| a.dedup_key)
        .collect();
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an alert stored twice");
    let acked = acked.lock().expect("lock").clone();
    let lost: Vec<&String> = acked.iter().filter(|k| !unique.contains(k)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered alerts lost: {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    store.close().await;
}

async fn on(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Some(db) = TestDb::fresh(backend).await {
        crash_under_load(&db.url(), &muster_testkit::demo_dir()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_alert_survives_kill_9_under_load_sqlite() {
    on(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_alert_survives_kill_9_under_load_postgres() {
    on(Backend::Postgres).await;
}
