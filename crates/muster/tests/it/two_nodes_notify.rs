//! Two `muster serve` processes on one PostgreSQL database share the outbox: hundreds of
//! notifications (webhook deliveries queued straight into the outbox, and the Slack messages
//! of SEV1 declarations made on either node) are each delivered exactly once, and both nodes
//! deliver.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use muster_core::{IncidentNumber, Timestamp};
use muster_server::deliver::{Delivery, Hop, Via};
use muster_store::{Effects, OutboxRecord, OutboxState, Store};
use muster_testkit::fakes::{self, Fake};
use muster_testkit::{Backend, TestDb};

use crate::procs::Server;

/// Webhook notifications queued into the outbox while both nodes run.
const WEBHOOKS: usize = 600;
const BATCH: usize = 50;
/// SEV1 declarations on `checkout`, alternating between the nodes: each notifies the
/// playbook's aliases on Slack.
const INCIDENTS: i64 = 20;

fn serve(config: &Path, db: &str, slack: &Fake) -> Server {
    Server::start_with(config, db, |cmd| {
        cmd.env("MUSTER_SLACK_API_URL", &slack.url)
            .env("MUSTER_SLACK_BOT_TOKEN", "xoxb-two-nodes")
            .env("MUSTER_WEBHOOK_SECRET", "two-nodes")
            .env_remove("MUSTER_SMTP_URL")
            .env_remove("MUSTER_SMS_API_URL");
    })
}

fn webhook(i: usize, sink: &str) -> Delivery {
    Delivery {
        parent: format!("two-nodes/{i}"),
        to: format!("hook-{i}"),
        chain: vec![Hop {
            channel: Via::Webhook,
            address: format!("{sink}/hooks/{i}"),
        }],
        step: 0,
        subject: "two nodes".into(),
        text: format!("notification {i}"),
        queued_at: Timestamp::now().as_millisecond(),
        not_before: None,
        blocks: None,
        copy: false,
        last_error: None,
        link: None,
    }
}

/// Queues the webhook notifications in batches, as decisions on the nodes would.
async fn enqueue(store: &Store, sink: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for start in (0..WEBHOOKS).step_by(BATCH) {
        let mut effects = Effects::default();
        for i in start..(start + BATCH).min(WEBHOOKS) {
            let item = webhook(i, sink).item(None);
            keys.push(item.idempotency_key.clone());
            effects.outbox.push(item);
        }
        store
            .apply_effects(Timestamp::now(), &effects)
            .await
            .expect("enqueue");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    keys
}

async fn declare(urls: [&str; 2], token: &str) {
    let http = reqwest::Client::new();
    for n in 0..INCIDENTS {
        let r = http
            .post(format!("{}/api/v1/incidents", urls[(n % 2) as usize]))
            .bearer_auth(token)
            .json(&serde_json::json!({"title": format!("Checkout down {n}"), "severity": "SEV1", "services": ["checkout"]}))
            .send()
            .await
            .expect("declare");
        assert_eq!(r.status().as_u16(), 201);
    }
}

/// The `delivery` rows of the declared incidents.
async fn incident_deliveries(store: &Store) -> Vec<OutboxRecord> {
    let mut rows = Vec::new();
    for n in 1..=INCIDENTS {
        let outbox = store
            .outbox_for_incident(IncidentNumber(n))
            .await
            .expect("outbox");
        rows.extend(outbox.into_iter().filter(|r| r.effect == "delivery"));
    }
    rows
}

async fn webhook_rows(store: &Store, keys: &[String]) -> Vec<OutboxRecord> {
    let mut rows = Vec::new();
    for k in keys {
        rows.push(store.outbox_by_key(k).await.expect("row").expect("queued"));
    }
    rows
}

fn all_delivered(rows: &[OutboxRecord]) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r.state == OutboxState::Delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_deliver_every_notification_exactly_once() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Some(db) = TestDb::fresh(Backend::Postgres).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), dir.path());
    let store = Store::connect(&db.url()).await.expect("store");
    let token = store
        .create_token("ops", muster_core::Access::Responder, Timestamp::now())
        .await
        .expect("token");
    let slack = fakes::slack().await;
    let sink = fakes::webhook_sink().await;
    let a = serve(dir.path(), &db.url(), &slack);
    let b = serve(dir.path(), &db.url(), &slack);
    let (url_a, url_b) = (a.url.clone(), b.url.clone());

    let (keys, ()) = tokio::join!(
        enqueue(&store, &sink.url),
        declare([&url_a, &url_b], &token)
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let (hooks, incident_rows) = loop {
        let hooks = webhook_rows(&store, &keys).await;
        let incident_rows = incident_deliveries(&store).await;
        if (all_delivered(&hooks) && all_delivered(&incident_rows)) || Instant::now() > deadline {
            break (hooks, incident_rows);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // Both nodes stay up a moment longer: anything that would be sent twice has its chance.
    tokio::time::sleep(Duration::from_secs(1)).await;
    a.kill_9();
    b.kill_9();

    assert!(all_delivered(&hooks), "webhooks not all delivered");
    assert!(
        all_delivered(&incident_rows),
        "Slack messages not all delivered"
    );
    // Each webhook reached the sink exactly once, named by its idempotency key.
    let mut received: BTreeMap<String, usize> = BTreeMap::new();
    for r in sink.requests() {
        *received
            .entry(r.header("idempotency-key").unwrap_or_default())
            .or_default() += 1;
    }
    let expected: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(received.keys().collect::<BTreeSet<_>>(), expected);
    let twice: Vec<_> = received.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    // Slack never failed: one request per Slack delivery, no more.
    let slack_rows = incident_rows
        .iter()
        .filter(|r| {
            r.payload["chain"][r.payload["step"].as_u64().unwrap_or(0) as usize]["channel"]
                == "slack"
        })
        .count();
    assert!(
        slack_rows >= INCIDENTS as usize,
        "{slack_rows} Slack deliveries"
    );
    assert_eq!(
        slack.requests().len(),
        slack_rows,
        "Slack messages sent twice"
    );
    // Both processes delivered.
    let mut by_owner: BTreeMap<String, usize> = BTreeMap::new();
    for r in hooks.iter().chain(&incident_rows) {
        *by_owner
            .entry(r.lease_owner.clone().unwrap_or_default())
            .or_default() += 1;
    }
    eprintln!("deliveries per node: {by_owner:?}");
    assert_eq!(by_owner.len(), 2, "both nodes delivered: {by_owner:?}");
    store.close().await;
}
