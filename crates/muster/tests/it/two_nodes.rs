//! Two `muster serve` processes on one PostgreSQL database share the policy timers: 1,000
//! timers fall due, and each fires exactly once, on one node or the other.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use muster_core::{Change, IncidentNumber};
use muster_store::Store;
use muster_testkit::{Backend, TestDb};

use crate::procs::Server;

const INCIDENTS: i64 = 500;
/// Two short deadlines per SEV1: 2 × 500 = 1,000 timers that fall due during the test.
const POLICIES: [(&str, u64); 2] = [("two-node-a", 3), ("two-node-b", 4)];

fn config(dir: &Path) {
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), dir);
    let mut yaml = String::from("policies:\n");
    for (id, secs) in POLICIES {
        yaml.push_str(&format!(
            "  - id: {id}\n    description: two-node test\n    when: {{ severity: [SEV1] }}\n    \
             deadline: {{ within: {secs}s, of: declared, expect: mitigated }}\n    \
             on_missed:\n      - page: {{ schedule: platform-secondary }}\n"
        ));
    }
    std::fs::write(dir.join("policies/two-node.yaml"), yaml).expect("write policy");
}

async fn fired_records(store: &Store, n: i64) -> usize {
    let events = store
        .timeline(IncidentNumber(n), 0, 1000)
        .await
        .expect("timeline");
    events
        .iter()
        .filter(|e| matches!(&e.change, Change::PolicyFired { policy, .. } if policy.starts_with("two-node")))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_fire_each_of_1000_timers_exactly_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(db) = TestDb::fresh(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    config(dir.path());
    let store = Store::connect(&db.url()).await.expect("store");
    let token = store
        .create_token(
            "ops",
            muster_core::Access::Responder,
            muster_core::Timestamp::now(),
        )
        .await
        .expect("token");
    let a = Server::start(dir.path(), &db.url(), &[]);
    let b = Server::start(dir.path(), &db.url(), &[]);
    let (url_a, url_b) = (a.url.clone(), b.url.clone());

    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for n in 0..INCIDENTS {
        let url = if n % 2 == 0 {
            url_a.clone()
        } else {
            url_b.clone()
        };
        let (http, token) = (http.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/api/v1/incidents"))
                .bearer_auth(&token)
                .json(&serde_json::json!({"title": format!("load {n}"), "severity": "SEV1", "services": ["checkout"]}))
                .send()
                .await
                .expect("declare");
            assert_eq!(r.status().as_u16(), 201);
        }));
        if tasks.len() == 16 {
            for t in tasks.drain(..) {
                t.await.expect("task");
            }
        }
    }
    for t in tasks {
        t.await.expect("task");
    }

    // Wait for all 1,000 to fire (the last ones are due 4 s after their declaration).
    let expected = (INCIDENTS as usize) * POLICIES.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fired_keys: BTreeMap<String, (usize, String)> = BTreeMap::new();
    loop {
        fired_keys.clear();
        for n in 1..=INCIDENTS {
            for t in store
                .timers_for_incident(IncidentNumber(n))
                .await
                .expect("timers")
            {
                if t.key.contains(":two-node-") && t.fired_at.is_some() {
                    let owner = t.fired_by.clone().unwrap_or_default();
                    fired_keys.entry(t.key.clone()).or_insert((0, owner)).0 += 1;
                }
            }
        }
        if fired_keys.len() >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Both nodes stay up a moment longer: anything that would fire twice has had its chance.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.kill_9();
    b.kill_9();

    assert_eq!(fired_keys.len(), expected, "every timer fired");
    assert!(
        fired_keys.values().all(|(count, _)| *count == 1),
        "no timer fired twice"
    );
    let mut by_owner: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, owner) in fired_keys.values() {
        *by_owner.entry(owner.as_str()).or_default() += 1;
    }
    eprintln!("firings per node: {by_owner:?}");

    let mut pages = 0;
    for n in 1..=INCIDENTS {
        assert_eq!(
            fired_records(&store, n).await,
            POLICIES.len(),
            "INC-{n}: one record per policy"
        );
        pages += store
            .outbox_for_incident(IncidentNumber(n))
            .await
            .expect("outbox")
            .iter()
            .filter(|o| o.idempotency_key.contains("two-node-") && o.effect == "page")
            .count();
    }
    assert_eq!(pages, expected, "every page queued exactly once");
    store.close().await;
}
