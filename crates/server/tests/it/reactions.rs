//! One reactions path for every origin: an incident opened through the API, by a Slack
//! command, a PagerDuty Events v2 trigger, an Alertmanager webhook or a generic event gets the
//! same channel, header, refresh timer and policy and playbook reactions; acknowledging and
//! resolving its alerts refreshes the header. Each origin runs on a fresh server with the fake
//! Slack Web API, on both backends.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::slack::{Rig, SLACK_YAML, minutes, rig_in};
use crate::support::{Backend, copy_dir, demo_dir};

/// A generic integration beside the demo's, on the same service as the others.
const GENERIC_YAML: &str = "integrations:\n  - id: reactions-generic\n    type: generic\n    key: reactions-generic-key-0123456789\n    service: payments-api\n    severity_map: { critical: SEV1 }\n    auto_resolve: true\n";

#[derive(Debug, Clone, Copy)]
enum Origin {
    Api,
    SlackCommand,
    PagerDuty,
    Alertmanager,
    Generic,
}

const ORIGINS: [Origin; 5] = [
    Origin::Api,
    Origin::SlackCommand,
    Origin::PagerDuty,
    Origin::Alertmanager,
    Origin::Generic,
];

impl Origin {
    fn is_alert(self) -> bool {
        matches!(
            self,
            Origin::PagerDuty | Origin::Alertmanager | Origin::Generic
        )
    }

    /// Opens a SEV1 on payments-api the way this origin does.
    async fn open(self, rig: &Rig) {
        let (status, body) = match self {
            Origin::Api => {
                rig.app
                    .post(
                        "/api/v1/incidents",
                        json!({"title": "Payments failing", "severity": "SEV1",
                            "services": ["payments-api"]}),
                    )
                    .await
            }
            Origin::SlackCommand => {
                rig.command("U0ALICE", "C0GENERAL", "declare sev1 payments-api failing")
                    .await
            }
            Origin::PagerDuty => {
                rig.app
                    .post(
                        "/v2/enqueue",
                        json!({"routing_key": "demo-events-v2", "event_action": "trigger",
                            "dedup_key": "payments-1",
                            "payload": {"summary": "Payments failing", "source": "api-1",
                                "severity": "critical"}}),
                    )
                    .await
            }
            Origin::Alertmanager => {
                rig.app
                    .post(
                        "/api/v1/integrations/demo-alertmanager/alertmanager",
                        alertmanager("firing"),
                    )
                    .await
            }
            Origin::Generic => {
                rig.app
                    .post(
                        "/api/v1/integrations/reactions-generic-key-0123456789/events",
                        json!({"summary": "Payments failing", "dedup_key": "payments-1",
                            "severity": "critical"}),
                    )
                    .await
            }
        };
        let expected = match self {
            Origin::Api => 201,
            Origin::PagerDuty => 202,
            _ => 200,
        };
        assert_eq!(status, expected, "{self:?}: {body}");
    }

    /// Resolves the incident's alert at its source (the API and Slack have none).
    async fn resolve_at_source(self, rig: &Rig) {
        let (status, body) = match self {
            Origin::PagerDuty => {
                rig.app
                    .post(
                        "/v2/enqueue",
                        json!({"routing_key": "demo-events-v2", "event_action": "resolve",
                            "dedup_key": "payments-1"}),
                    )
                    .await
            }
            Origin::Alertmanager => {
                rig.app
                    .post(
                        "/api/v1/integrations/demo-alertmanager/alertmanager",
                        alertmanager("resolved"),
                    )
                    .await
            }
            Origin::Generic => {
                rig.app
                    .post(
                        "/api/v1/integrations/reactions-generic-key-0123456789/events",
                        json!({"action": "resolve", "dedup_key": "payments-1"}),
                    )
                    .await
            }
            Origin::Api | Origin::SlackCommand => return,
        };
        assert!(matches!(status, 200 | 202), "{self:?}: {status} {body}");
    }
}

fn alertmanager(status: &str) -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"PaymentsFailing\"}", "truncatedAlerts": 0,
        "status": status, "receiver": "muster", "groupLabels": {"alertname": "PaymentsFailing"},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": status,
            "labels": {"alertname": "PaymentsFailing", "severity": "critical", "namespace": "payments"},
            "annotations": {"summary": "Payments failing"},
            "startsAt": "2026-03-29T03:10:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph", "fingerprint": "f1",
        }],
    })
}

/// What followed the opening, in the terms every origin must share.
#[derive(Debug, PartialEq, Eq)]
struct Followed {
    channel: String,
    header_posted: bool,
    /// `chat.update` calls on the header after one minute on the clock (the refresh timer).
    refreshed: bool,
    /// The timeline kinds the policies and playbooks wrote, with their actors.
    by_policies: BTreeSet<(String, String)>,
}

async fn rig_for(backend: Backend) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    std::fs::write(dir.path().join("generic.yaml"), GENERIC_YAML).expect("generic.yaml");
    rig_in(backend, dir).await
}

async fn open_and_follow(rig: &Rig, origin: Origin) -> Followed {
    rig.app.clock.set(minutes(0));
    origin.open(rig).await;
    rig.deliver().await;
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{origin:?}: {incidents:?}");
    let incident = &incidents[0];
    assert_eq!(
        (&incident["severity"], &incident["services"]),
        (&json!("SEV1"), &json!(["payments-api"])),
        "{origin:?}"
    );
    let created = rig.calls("conversations.create");
    let channel = created
        .first()
        .map(|c| c.json()["name"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    let header_posted = rig
        .in_channel("chat.postMessage", "C0NEWCHAN")
        .iter()
        .any(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("INC-1 · SEV1")
        });
    let before = rig.in_channel("chat.update", "C0NEWCHAN").len();
    rig.at(minutes(1)).await;
    let refreshed = rig.in_channel("chat.update", "C0NEWCHAN").len() > before;
    let by_policies = rig
        .timeline("INC-1")
        .await
        .iter()
        .filter_map(|e| {
            let actor = e["actor"].as_str().unwrap_or_default();
            (actor.starts_with("policy:") || actor.starts_with("playbook:")).then(|| {
                let kind = e["kind"].as_str().unwrap_or_default();
                (kind.to_string(), actor.to_string())
            })
        })
        .collect();
    Followed {
        channel: channel.split('-').take(2).collect::<Vec<_>>().join("-"),
        header_posted,
        refreshed,
        by_policies,
    }
}

async fn every_origin_gets_the_same_reactions(backend: Backend) {
    let mut seen: Vec<(Origin, Followed)> = Vec::new();
    for origin in ORIGINS {
        let Some(rig) = rig_for(backend).await else {
            return;
        };
        let followed = open_and_follow(&rig, origin).await;
        assert_eq!(followed.channel, "inc-1", "{origin:?}: {followed:?}");
        assert!(
            followed.header_posted && followed.refreshed,
            "{origin:?}: {followed:?}"
        );
        assert!(
            followed
                .by_policies
                .iter()
                .any(|(kind, _)| kind == "task_added"),
            "{origin:?}: the playbook's tasks: {followed:?}"
        );
        if origin.is_alert() {
            ack_and_resolve_refresh_the_header(&rig, origin).await;
        }
        seen.push((origin, followed));
    }
    let (first, reference) = &seen[0];
    for (origin, followed) in &seen[1..] {
        assert_eq!(followed, reference, "{origin:?} differs from {first:?}");
    }
}

/// Acknowledging the incident's alert and then resolving it at its source each refresh the
/// header: it shows the new status.
async fn ack_and_resolve_refresh_the_header(rig: &Rig, origin: Origin) {
    let (s, alerts) = rig.app.get("/api/v1/alerts?incident=INC-1").await;
    assert_eq!(s, 200, "{alerts}");
    let id = alerts[0]["id"].as_i64().expect("alert id");
    let updates = |rig: &Rig| rig.in_channel("chat.update", "C0NEWCHAN");
    let before = updates(rig).len();
    let (s, v) = rig
        .app
        .post(&format!("/api/v1/alerts/{id}/ack"), json!({}))
        .await;
    assert_eq!(s, 200, "{origin:?}: {v}");
    rig.deliver().await;
    let after_ack = updates(rig);
    assert!(after_ack.len() > before, "{origin:?}: no refresh on ack");
    let last = after_ack
        .last()
        .map(|u| u["text"].clone())
        .unwrap_or_default();
    assert!(
        last.as_str()
            .unwrap_or_default()
            .contains("Status: investigating"),
        "{origin:?}: {last}"
    );
    origin.resolve_at_source(rig).await;
    rig.deliver().await;
    let after_resolve = updates(rig);
    assert!(
        after_resolve.len() > after_ack.len(),
        "{origin:?}: no refresh on resolve"
    );
    let last = after_resolve
        .last()
        .map(|u| u["text"].clone())
        .unwrap_or_default();
    assert!(
        last.as_str()
            .unwrap_or_default()
            .contains("Status: resolved"),
        "{origin:?}: {last}"
    );
}

mod every_origin_gets_the_same_reactions {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::every_origin_gets_the_same_reactions(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::every_origin_gets_the_same_reactions(Backend::Postgres).await
    }
}

/// What a policy does inside a person's request is the policy's doing on the timeline: the
/// person's own change keeps the person, the policy's changes name the policy.
async fn policy_changes_inside_a_request_name_the_policy(backend: Backend) {
    let Some(app) = crate::support::spawn_app(backend).await else {
        return;
    };
    let (s, v) = app
        .post(
            "/api/v1/incidents",
            json!({"title": "Checkout slow", "severity": "SEV2", "services": ["checkout"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = app
        .patch("/api/v1/incidents/INC-1", json!({"severity": "SEV1"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, timeline) = app.get("/api/v1/incidents/INC-1/timeline").await;
    assert_eq!(s, 200, "{timeline}");
    let actor_of = |kind: &str, detail: &dyn Fn(&Value) -> bool| -> Vec<String> {
        timeline
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["kind"] == kind && detail(&e["data"]))
            .map(|e| e["actor"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let person = actor_of("declared", &|_| true);
    assert_eq!(person.len(), 1);
    assert!(!person[0].starts_with("policy:"), "{person:?}");
    assert_eq!(actor_of("severity_changed", &|_| true), person);
    assert_eq!(
        actor_of("role_assigned", &|d| d["role"] == "incident_commander"),
        vec!["policy:staff-major-incidents"]
    );
    assert_eq!(
        actor_of("policy_fired", &|d| d["policy"] == "exec-briefing-on-sev1"),
        vec!["policy:exec-briefing-on-sev1"]
    );
    assert!(
        actor_of("task_added", &|_| true)
            .iter()
            .all(|a| a.starts_with("policy:") || a.starts_with("playbook:")),
        "{timeline}"
    );
}

mod policy_changes_inside_a_request_name_the_policy {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::policy_changes_inside_a_request_name_the_policy(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::policy_changes_inside_a_request_name_the_policy(Backend::Postgres).await
    }
}
