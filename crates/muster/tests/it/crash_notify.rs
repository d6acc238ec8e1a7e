//! Crash test for notifications: `muster serve` is killed with SIGKILL while its Slack
//! deliveries are failing and being retried; after a restart (Slack healthy again) every
//! notification is delivered, and none twice.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use muster_core::IncidentNumber;
use muster_store::{OutboxState, Store};
use muster_testkit::fakes::{self, Reply};

use crate::procs::{Server, token};

/// Deliveries of incident 1 by state.
fn serve(config: &Path, db: &str, slack: &str) -> Server {
    Server::start_with(config, db, |cmd| {
        cmd.env("MUSTER_SLACK_API_URL", slack)
            .env("MUSTER_SLACK_BOT_TOKEN", "xoxb-crash-test")
            .env_remove("MUSTER_SMTP_URL")
            .env_remove("MUSTER_SMS_API_URL");
    })
}

async fn delivery_states(store: &Store) -> Vec<OutboxState> {
    store
        .outbox_for_incident(IncidentNumber(1))
        .await
        .expect("outbox")
        .into_iter()
        .filter(|r| r.effect == "delivery")
        .map(|r| r.state)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_notification_is_delivered_once_after_kill_9_and_restart() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), &config);
    let db = format!("sqlite://{}", dir.path().join("muster.db").display());
    let token = token(&db, "crash", "responder");
    let slack = fakes::slack().await;
    slack.always(Reply::Status(503));

    let server = serve(&config, &db, &slack.url);
    let base = server.url.clone();
    let http = reqwest::Client::new();
    let declared = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Checkout down", "severity": "SEV1", "services": ["checkout"]}))
        .send()
        .await
        .expect("declare");
    assert_eq!(declared.status().as_u16(), 201);
    // Every first attempt fails (503) and is being retried when the process dies.
    let failing = slack.wait_for(6, Duration::from_secs(20)).await.len();
    assert!(failing >= 6, "only {failing} Slack attempts");
    server.kill_9();

    slack.always(Reply::Ok);
    let before = slack.requests().len();
    let server = serve(&config, &db, &slack.url);
    let store = Store::connect(&db).await.expect("store");
    // A claim cut by the kill is claimable again once its lease (60 s) ends.
    let deadline = Instant::now() + Duration::from_secs(100);
    loop {
        let states = delivery_states(&store).await;
        if !states.is_empty() && states.iter().all(|s| *s == OutboxState::Delivered) {
            break;
        }
        assert!(Instant::now() < deadline, "not all delivered: {states:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Slack's deliveries (a recipient no provider reaches goes to the inbox, not Slack).
    let delivered = store
        .outbox_for_incident(IncidentNumber(1))
        .await
        .expect("outbox")
        .into_iter()
        .filter(|r| r.effect == "delivery")
        .filter(|r| {
            let step = r.payload["step"].as_u64().unwrap_or(0) as usize;
            r.payload["chain"][step]["channel"] == "slack"
        })
        .count();
    let mut per_channel: BTreeMap<String, usize> = BTreeMap::new();
    for r in &slack.requests()[before..] {
        *per_channel
            .entry(r.json()["channel"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    assert_eq!(per_channel.len(), delivered, "{per_channel:?}");
    assert!(
        per_channel.values().all(|n| *n == 1),
        "sent twice: {per_channel:?}"
    );
    assert!(per_channel.contains_key("U0ALICE") && per_channel.contains_key("#payments"));
    server.kill_9();
    store.close().await;
}
