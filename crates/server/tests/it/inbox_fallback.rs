//! The inbox always delivers: the demo with no provider configured puts a SEV1's
//! notifications in the recipients' inboxes and says so on the timeline (nothing "gave up");
//! with `notifications: { inbox: all }` every notification is also copied there.

use muster_server::AppState;
use muster_server::deliver::{Channels, Deliverer};
use muster_store::InboxFilter;
use serde_json::Value;

use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with};

struct Demo {
    app: TestApp,
    state: AppState,
    _dir: tempfile::TempDir,
}

async fn demo(backend: Backend, extra: Option<&str>) -> Option<Demo> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    if let Some(yaml) = extra {
        std::fs::write(dir.path().join("extra.yaml"), yaml).expect("extra.yaml");
    }
    let mut state: Option<AppState> = None;
    let app = spawn_app_with(backend, dir.path(), |s| {
        state = Some(s.clone());
        s
    })
    .await?;
    Some(Demo {
        app,
        state: state?,
        _dir: dir,
    })
}

/// Delivers with `channels` until nothing is left to do now.
async fn deliver_all(state: &AppState, channels: Channels) {
    let deliverer = Deliverer::new(state.clone(), channels).with_owner("inbox-test");
    for _ in 0..50 {
        if deliverer.tick().await.expect("deliver") == 0 {
            return;
        }
    }
    panic!("the deliverer never ran out of work");
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

async fn timeline(app: &TestApp, id: &str) -> Vec<Value> {
    let (s, v) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

async fn with_no_provider_a_sev1_lands_in_the_inbox(backend: Backend) {
    let Some(demo) = demo(backend, None).await else {
        return;
    };
    let id = demo.app.declare("Checkout is failing").await;
    deliver_all(&demo.state, Channels::default()).await;
    let events = timeline(&demo.app, &id).await;
    let queued = of_kind(&events, "notification_queued");
    assert!(!queued.is_empty(), "{events:#?}");
    let recipients: Vec<String> = queued
        .iter()
        .flat_map(|q| q["data"]["to"].as_array().cloned().unwrap_or_default())
        .map(|t| t.as_str().map(String::from).unwrap_or_default())
        .collect();
    assert!(
        !recipients.is_empty() && recipients.iter().all(|t| t.ends_with(" via inbox")),
        "{recipients:?}"
    );
    assert!(
        of_kind(&events, "notification_failed").is_empty(),
        "nothing gave up: {events:#?}"
    );
    let sent = of_kind(&events, "notification_sent");
    assert_eq!(sent.len(), recipients.len(), "{events:#?}");
    assert!(sent.iter().all(|e| e["data"]["channel"] == "inbox"));

    let inbox = demo
        .state
        .store
        .inbox(&InboxFilter::default())
        .await
        .expect("inbox");
    assert_eq!(inbox.len(), sent.len(), "{inbox:#?}");
    assert!(
        inbox
            .iter()
            .all(|e| e.reason == "no configured provider reaches them"
                && e.incident.map(|n| n.to_string()).as_deref() == Some(id.as_str())),
        "{inbox:#?}"
    );
    // People's entries are theirs to find; the subject names the incident.
    let person = inbox
        .iter()
        .find(|e| e.person.is_some())
        .expect("a person was told");
    assert_eq!(
        Some(person.recipient.as_str()),
        person
            .person
            .as_ref()
            .map(|p| format!("person:{p}"))
            .as_deref()
    );
    assert!(person.subject.contains(&id), "{person:?}");
    // The brief reads the timeline in plain words: nothing says it gave up.
    let (s, brief) = demo
        .app
        .get(&format!(
            "/api/v1/incidents/{id}/review-draft?format=markdown"
        ))
        .await;
    assert_eq!(s, 200);
    assert!(!brief.to_string().contains("gave up"), "{brief}");
}

async fn with_inbox_all_every_notification_is_copied(backend: Backend) {
    let yaml = "notifications:\n  inbox: all\n";
    let Some(rig) = crate::notify::rig_with(backend, |dir| {
        std::fs::write(dir.join("inbox.yaml"), yaml).expect("inbox.yaml");
    })
    .await
    else {
        return;
    };
    let id = rig.app.declare("Checkout is failing").await;
    rig.drain_without_advancing().await;
    let events = rig.timeline(&id).await;
    let by_provider: Vec<&Value> = of_kind(&events, "notification_sent")
        .into_iter()
        .filter(|e| e["data"]["channel"] != "inbox")
        .collect();
    assert!(!by_provider.is_empty(), "{events:#?}");
    assert!(!rig.slack.requests().is_empty());
    let copies: Vec<_> = rig
        .store
        .inbox(&InboxFilter::default())
        .await
        .expect("inbox")
        .into_iter()
        .filter(|e| e.reason.starts_with("copy of every notification"))
        .collect();
    // Each recipient a provider reached has one copy (not one per channel).
    let reached: std::collections::BTreeSet<&str> = by_provider
        .iter()
        .map(|e| e["data"]["to"].as_str().unwrap_or_default())
        .collect();
    let copied: std::collections::BTreeSet<&str> =
        copies.iter().map(|c| c.recipient.as_str()).collect();
    assert_eq!(copied, reached);
    assert_eq!(copies.len(), copied.len(), "{copies:#?}");
}

mod with_no_provider_a_sev1_lands_in_the_inbox {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::with_no_provider_a_sev1_lands_in_the_inbox(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::with_no_provider_a_sev1_lands_in_the_inbox(Backend::Postgres).await
    }
}

mod with_inbox_all_every_notification_is_copied {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::with_inbox_all_every_notification_is_copied(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::with_inbox_all_every_notification_is_copied(Backend::Postgres).await
    }
}

/// An outbox item whose effect cannot be decoded is never dropped: it is a dead letter that
/// says what is wrong with it.
async fn an_undecodable_effect_is_a_dead_letter_with_its_reason(backend: Backend) {
    let Some(demo) = demo(backend, None).await else {
        return;
    };
    let item = muster_store::OutboxItem {
        idempotency_key: "stray/fax".into(),
        incident: None,
        effect: "fax".into(),
        payload: serde_json::json!({"to": "+15550100"}),
    };
    let effects = muster_store::Effects {
        outbox: vec![item],
        ..Default::default()
    };
    let now = muster_core::Clock::now(demo.app.clock.as_ref());
    demo.state
        .store
        .apply_effects(now, &effects)
        .await
        .expect("queued");
    deliver_all(&demo.state, Channels::default()).await;
    let (s, dead) = demo.app.get("/api/v1/outbox/dead-letters").await;
    assert_eq!(s, 200, "{dead}");
    let letters = dead.as_array().cloned().unwrap_or_default();
    assert_eq!(letters.len(), 1, "{dead}");
    assert_eq!(letters[0]["key"], "stray/fax");
    assert!(
        letters[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("undecodable `fax` effect: unknown variant `fax`"),
        "{dead}"
    );
}

mod an_undecodable_effect_is_a_dead_letter_with_its_reason {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::an_undecodable_effect_is_a_dead_letter_with_its_reason(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::an_undecodable_effect_is_a_dead_letter_with_its_reason(Backend::Postgres).await
    }
}
