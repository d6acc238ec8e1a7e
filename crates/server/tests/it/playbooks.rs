//! Playbooks at declaration, on both backends: the matching playbook's checklist tasks are
//! on the incident and its aliases' notifications are queued, in the declaring transaction,
//! whether the incident is declared through the API or opened by an alert.

use muster_core::IncidentNumber;
use muster_store::Store;
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

const SEV1_PAYMENTS_TASKS: [&str; 3] = [
    "Open a status page incident",
    "Page the database on-call if p99 > 2s",
    "Check the payment provider's status page",
];

/// The incident's tasks (titles), its `task_added` events, and its playbook notify items.
async fn checklist(app: &TestApp, id: &str) -> (Vec<String>, usize, Vec<String>) {
    let (s, inc) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(s, 200, "{inc}");
    let tasks: Vec<String> = inc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["title"].as_str().unwrap_or("").to_string())
        .collect();
    let ids: std::collections::BTreeSet<u64> = inc["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_u64())
        .collect();
    assert_eq!(ids.len(), tasks.len(), "task ids are distinct: {inc}");
    let (_, timeline) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
    let events = timeline
        .as_array()
        .cloned()
        .or_else(|| timeline["events"].as_array().cloned())
        .unwrap_or_default();
    let added = events.iter().filter(|e| e["kind"] == "task_added").count();
    let store = Store::connect(&app.db.url()).await.expect("store");
    let n = IncidentNumber(id.trim_start_matches("INC-").parse().expect("number"));
    let notify = store
        .outbox_for_incident(n)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.effect == "notify" && o.idempotency_key.contains("/playbook:"))
        .map(|o| o.idempotency_key)
        .collect();
    store.close().await;
    (tasks, added, notify)
}

fn assert_playbook_applied(id: &str, tasks: &[String], added: usize, notify: &[String]) {
    for title in SEV1_PAYMENTS_TASKS {
        assert_eq!(
            tasks.iter().filter(|t| *t == title).count(),
            1,
            "{id}: `{title}` once in {tasks:?}"
        );
    }
    assert_eq!(added, tasks.len(), "each task has its timeline event");
    assert_eq!(
        notify,
        [
            format!("{id}/playbook:sev1-payments:comms-leads"),
            format!("{id}/playbook:sev1-payments:payments-leads"),
        ]
    );
}

both!(declared_through_the_api, |app| async move {
    let id = app.declare("Checkout is failing").await;
    let (tasks, added, notify) = checklist(&app, &id).await;
    assert_playbook_applied(&id, &tasks, added, &notify);

    // A SEV3 on checkout matches no playbook: no tasks from it, nothing queued.
    let (s, v) = app
        .post(
            "/api/v1/incidents",
            json!({"title": "Slow receipts", "severity": "SEV3", "services": ["checkout"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let (tasks, _, notify) = checklist(&app, &id).await;
    assert!(
        SEV1_PAYMENTS_TASKS
            .iter()
            .all(|t| !tasks.iter().any(|x| x == t)),
        "{tasks:?}"
    );
    assert!(notify.is_empty(), "{notify:?}");
});

fn firing() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"CheckoutDown\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "muster",
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": "a"},
            "annotations": {"summary": "Checkout is down"},
            "startsAt": "2026-03-29T03:10:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": "fp1",
        }],
    })
}

both!(opened_by_an_alert, |app| async move {
    let r = app
        .http
        .post(format!(
            "{}/api/v1/integrations/demo-alertmanager/alertmanager",
            app.base
        ))
        .json(&firing())
        .send()
        .await
        .expect("post");
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.expect("json");
    let id = v["alerts"][0]["incident"]
        .as_str()
        .expect("incident")
        .to_string();
    let (tasks, added, notify) = checklist(&app, &id).await;
    assert_playbook_applied(&id, &tasks, added, &notify);
});
