//! One rule for control characters on both backends (`muster_core::control`): replaced with
//! U+FFFD in alerts, so a NUL never fails a webhook (or its sibling alerts) on PostgreSQL;
//! refused with 422 naming the field in what people type; and never breaking the Atom feed.

use muster_core::status_page::PublicStatus;
use muster_core::{Clock, IncidentNumber};
use muster_store::{NewPublicUpdate, Store};
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

const AM: &str = "/api/v1/integrations/demo-alertmanager/alertmanager";

fn alert(fp: &str, instance: &str, summary: &str) -> Value {
    json!({
        "status": "firing",
        "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": instance},
        "annotations": {"summary": summary},
        "startsAt": "2026-03-29T03:10:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": fp,
    })
}

both!(
    a_nul_in_an_alert_is_replaced_and_its_sibling_is_kept,
    |app| async move {
        let mut bad = alert("fp-nul", "a\u{0}b", "Checkout\u{0} is down\u{7}");
        bad["labels"]["ke\u{1b}y"] = json!("v\u{1}");
        bad["annotations"]["note"] = json!("tab\tnewline\nkept");
        let body = json!({
            "version": "4", "status": "firing", "receiver": "muster",
            "groupKey": "{}:{alertname=\"CheckoutDown\"}\u{0}",
            "externalURL": "http://alertmanager:9093",
            "alerts": [bad, alert("fp-ok", "c", "Checkout is down")],
        });
        let (s, v) = app.post(AM, body).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["alerts"][0]["outcome"], "opened");
        assert_eq!(v["alerts"][1]["outcome"], "joined");
        let (s, list) = app.get("/api/v1/alerts").await;
        assert_eq!(s, 200);
        let list = list.as_array().expect("alerts");
        assert_eq!(list.len(), 2, "{list:?}");
        let stored = list
            .iter()
            .find(|a| a["dedup_key"] == "fp-nul")
            .expect("the alert with a NUL is stored");
        assert_eq!(
            stored["labels"],
            json!({"alertname": "CheckoutDown", "severity": "critical",
                   "instance": "a\u{fffd}b", "ke\u{fffd}y": "v\u{fffd}"})
        );
        assert_eq!(
            stored["annotations"],
            json!({"summary": "Checkout\u{fffd} is down\u{fffd}", "note": "tab\tnewline\nkept"})
        );
        assert_eq!(stored["summary"], "Checkout\u{fffd} is down\u{fffd}");
        assert_eq!(
            stored["payload"]["group_key"],
            "{}:{alertname=\"CheckoutDown\"}\u{fffd}"
        );
        let incident = stored["incident"].as_str().expect("incident");
        let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(inc["title"], "Checkout\u{fffd} is down\u{fffd}");
        assert!(list.iter().any(|a| a["dedup_key"] == "fp-ok"));
    }
);

both!(
    control_characters_in_typed_text_are_refused_naming_the_field,
    |app| async move {
        let (s, v) = app
            .post(
                "/api/v1/incidents",
                json!({"title": "Bad\u{0}title", "severity": "SEV2", "services": ["checkout"]}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(
            v["error"]["message"],
            "invalid title: contains the control character U+0000 at character 4; only tab, \
             newline and carriage return are allowed"
        );
        let inc = app.declare("Checkout failing").await;
        let (s, v) = app
            .post(
                &format!("/api/v1/incidents/{inc}/notes"),
                json!({"text": "ring \u{7} the bell"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with("invalid text: contains the control character U+0007"),
            "{v}"
        );
        let (s, p) = app
            .post("/api/v1/status-page/incidents", json!({"incident": inc}))
            .await;
        assert_eq!(s, 201, "{p}");
        let updates = format!(
            "/api/v1/status-page/incidents/{}/updates",
            p["id"].as_str().expect("id")
        );
        let (s, v) = app
            .post(
                &updates,
                json!({"status": "investigating", "body": "We are on it.\u{1b}[31m"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(
            v["error"]["message"],
            "invalid body: contains the control character U+001B at character 14; only tab, \
             newline and carriage return are allowed"
        );
        let (s, v) = app
            .post(
                "/api/v1/status-page/incidents",
                json!({"incident": inc, "name": "Pay\u{8}ments"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with("invalid name: contains the control character U+0008"),
            "{v}"
        );
        // Tabs and newlines are text.
        let (s, v) = app
            .post(
                &updates,
                json!({"status": "investigating", "body": "Line one.\n\tLine two.\r\n"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = app
            .post(
                "/api/v1/silences",
                json!({"service": "checkout", "to": "2026-03-29T05:00:00Z", "reason": "db\u{0}"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with("invalid reason: contains the control character U+0000"),
            "{v}"
        );
    }
);

both!(
    a_published_update_with_a_control_character_keeps_the_feed_valid,
    |app| async move {
        // Published before the rule existed: straight into the store.
        let inc = app.declare("Checkout failing").await;
        let store = Store::connect(&app.db.url()).await.expect("store");
        let number = IncidentNumber(inc.trim_start_matches("INC-").parse().expect("number"));
        let now = app.clock.now();
        let public = store
            .create_public_incident(number, "Pay\u{1}ments \u{2}down", "alice", now)
            .await
            .expect("public incident");
        let update = NewPublicUpdate {
            status: PublicStatus::Investigating,
            body: "Bell \u{7} and escape \u{1b} and form feed \u{c}.".into(),
            components: Vec::new(),
        };
        let drafted = store
            .draft_public_update(&public.id, update, "alice", now)
            .await
            .expect("draft")
            .expect("drafted");
        store
            .publish_public_update(&public.id, &drafted.id, false, "alice", now)
            .await
            .expect("publish")
            .expect("published");
        store.close().await;
        let feed = feed(&app).await;
        assert_eq!(feed["bozo"], false, "{feed}");
        let entry = &feed["entries"][0];
        assert_eq!(entry["title"], "Pay\u{fffd}ments \u{fffd}down");
        let content = entry["content"].as_str().expect("content");
        assert!(
            content.contains("Bell \u{fffd} and escape \u{fffd} and form feed \u{fffd}."),
            "{content}"
        );
        let (s, html) = app.get("/status").await;
        assert_eq!(s, 200);
        let html = html.as_str().expect("html");
        assert!(html.contains("Bell \u{fffd} and escape"), "{html}");
        assert!(!html.contains('\u{7}'));
    }
);

/// The Atom feed as Python's `feedparser` reads it (installed by scripts/test.sh).
async fn feed(app: &TestApp) -> Value {
    let text = app
        .http
        .get(format!("{}/status/history.atom", app.base))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), &text).expect("write");
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({"bozo": bool(d.bozo), "error": str(d.get("bozo_exception", "")),
    "entries": [{"title": e.get("title"),
                 "content": e.content[0].value if e.get("content") else None}
                for e in d.entries]}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 with feedparser is needed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json from python")
}
