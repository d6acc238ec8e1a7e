//! A notification's Acknowledge button in Slack: legal presses it on the message telling it
//! about a SEV1, and legal's acknowledgement deadline is met; alice presses it on her page
//! from an alert's escalation, and the incident is acknowledged and the escalation stops.

use serde_json::{Value, json};

use crate::slack::{Rig, SLACK_YAML, buttons, minutes, rig_in};
use crate::support::{Backend, copy_dir, demo_dir};

/// The demo with Slack, and legal's alias posting to `#legal` too.
async fn rig(backend: Backend) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    let aliases = dir.path().join("aliases.yaml");
    let text = std::fs::read_to_string(&aliases).expect("aliases");
    let legal = "    emails: [legal@example.com]\n";
    assert!(text.contains(legal));
    let text = text.replace(legal, &format!("{legal}    slack_channels: [\"#legal\"]\n"));
    std::fs::write(&aliases, text).expect("aliases");
    rig_in(backend, dir).await
}

fn of_kind(timeline: &[Value], kind: &str) -> Vec<Value> {
    timeline
        .iter()
        .filter(|e| e["kind"] == kind)
        .cloned()
        .collect()
}

async fn legal_acknowledges_from_slack(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = rig.app.declare("Card data in logs").await;
    rig.deliver().await;
    let posted = rig.in_channel("chat.postMessage", "#legal");
    let ack = posted
        .iter()
        .flat_map(buttons)
        .find(|b| b["action_id"] == "muster_ack_notification")
        .unwrap_or_else(|| panic!("an Acknowledge button in #legal: {posted:?}"));
    assert_eq!(ack["text"]["text"], "Acknowledge");
    assert_eq!(
        serde_json::from_str::<Value>(ack["value"].as_str().unwrap_or_default()).ok(),
        Some(json!({"incident": id, "key": "sev1-tell-legal:event:1:0"}))
    );

    rig.app.clock.set(minutes(10));
    let press = json!({"type": "block_actions", "user": {"id": "U0KEN"},
        "response_url": format!("{}/response.hook", rig.slack.url), "actions": [ack]});
    let (s, _) = rig.interaction(&press).await;
    assert_eq!(s, 200);
    // Pressed again a minute later: nothing more is written.
    rig.app.clock.set(minutes(11));
    let (s, _) = rig.interaction(&press).await;
    assert_eq!(s, 200);

    let timeline = rig.timeline(&id).await;
    let acks = of_kind(&timeline, "notification_acknowledged");
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["actor"], "ken");
    assert_eq!(acks[0]["data"]["delay_secs"], 600);
    let met: Vec<Value> = of_kind(&timeline, "deadline_outcome")
        .into_iter()
        .filter(|o| o["data"]["policy"] == "legal-ack-1h")
        .collect();
    assert_eq!(met.len(), 1, "{met:?}");
    assert_eq!(met[0]["data"]["met"], true);
    assert_eq!(met[0]["data"]["margin_secs"], 3000);

    // A stranger to legal (bob) pressing it is told so, and nothing changes.
    rig.app.clock.set(minutes(12));
    let stranger = json!({"type": "block_actions", "user": {"id": "U0BOB"},
        "response_url": format!("{}/response.hook", rig.slack.url), "actions": [ack]});
    let (s, _) = rig.interaction(&stranger).await;
    assert_eq!(s, 200);
    assert_eq!(
        of_kind(&rig.timeline(&id).await, "notification_acknowledged").len(),
        1
    );
    rig.deliver().await;
    // Delivered concurrently: compared in order of their text.
    let mut answers: Vec<String> = rig
        .calls("response.hook")
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_string())
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        [
            ":warning: invalid person: `bob` is not among the recipients of alias:legal \
             (notification `sev1-tell-legal:event:1:0`)",
            "Already: ken acknowledged the notification to alias:legal after 10 min",
            "ken acknowledged the notification to alias:legal after 10 min",
        ]
    );
}

/// An alert on checkout pages alice (step 1 of its escalation) in Slack, her first rule.
async fn a_page_acknowledged_from_slack_stops_the_escalation(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    let escalation = dir.path().join("escalation.yaml");
    let text = std::fs::read_to_string(&escalation).expect("escalation");
    let first = "      - targets: [ { schedule: payments-primary } ]";
    assert!(text.contains(first));
    let text = text.replacen(first, "      - targets: [ { person: alice } ]", 1);
    std::fs::write(&escalation, text).expect("escalation");
    let Some(rig) = rig_in(backend, dir).await else {
        return;
    };
    let alert = json!({"version": "4", "status": "firing", "receiver": "muster",
        "groupLabels": {"alertname": "CheckoutDown"}, "commonLabels": {}, "commonAnnotations": {},
        "externalURL": "http://am", "groupKey": "{}:{alertname=\"CheckoutDown\"}",
        "alerts": [{"status": "firing", "fingerprint": "f1", "startsAt": "2026-03-29T03:10:00Z",
            "labels": {"alertname": "CheckoutDown", "severity": "critical"},
            "annotations": {"summary": "Checkout is down"}}]});
    let (s, v) = rig
        .app
        .post("/api/v1/integrations/demo-alertmanager/alertmanager", alert)
        .await;
    assert_eq!(s, 200, "{v}");
    let mut page = None;
    for _ in 0..50 {
        rig.deliver().await;
        page = rig
            .in_channel("chat.postMessage", "U0ALICE")
            .into_iter()
            .find(|m| {
                m["text"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("You are paged"))
            });
        if page.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let page = page.expect("alice's page in Slack");
    let ack = buttons(&page)
        .into_iter()
        .find(|b| b["action_id"] == "muster_ack_notification")
        .unwrap_or_else(|| panic!("an Acknowledge button on the page: {page:?}"));
    let value: Value =
        serde_json::from_str(ack["value"].as_str().unwrap_or_default()).expect("value");
    let id = value["incident"]
        .as_str()
        .expect("the incident")
        .to_string();
    assert!(value["page"].is_i64(), "the page's sending time: {value}");

    rig.app.clock.set(minutes(3));
    let press = json!({"type": "block_actions", "user": {"id": "U0ALICE"},
        "response_url": format!("{}/response.hook", rig.slack.url), "actions": [ack]});
    let (s, _) = rig.interaction(&press).await;
    assert_eq!(s, 200);
    let timeline = rig.timeline(&id).await;
    let acks = of_kind(&timeline, "notification_acknowledged");
    assert_eq!(acks.len(), 1, "{timeline:?}");
    assert_eq!(acks[0]["data"]["channel"], "slack");
    assert_eq!(acks[0]["actor"], "alice");
    let acknowledged: Vec<Value> = of_kind(&timeline, "milestone_reached")
        .into_iter()
        .filter(|m| m["data"]["milestone"] == "acknowledged")
        .collect();
    assert_eq!(acknowledged.len(), 1);
    assert_eq!(acknowledged[0]["actor"], "alice");
    assert_eq!(of_kind(&timeline, "escalation_stopped").len(), 1);
}

crate::on_both_backends!(a_page_acknowledged_from_slack_stops_the_escalation);

mod legal_acknowledges_from_slack {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::legal_acknowledges_from_slack(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::legal_acknowledges_from_slack(Backend::Postgres).await
    }
}
