//! Text built from alert data reaches Slack escaped (`& < >`), so an alert summary reading
//! `<!channel>` shows as text and pings nobody; text typed in Slack is stored as typed.

use muster_testkit::fakes::Recorded;
use serde_json::{Value, json};

use crate::slack::{SLACK_YAML, rig_in};
use crate::support::{Backend, copy_dir, demo_dir};

const SUMMARY: &str = "<!channel> checkout & payments <down>";
const ESCAPED: &str = "&lt;!channel&gt; checkout &amp; payments &lt;down&gt;";

fn firing() -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"CheckoutDown\"}",
        "status": "firing",
        "receiver": "muster",
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "CheckoutDown", "severity": "critical"},
            "annotations": {"summary": SUMMARY},
            "startsAt": "2026-03-29T03:10:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "f1",
        }],
    })
}

/// Every text field of a Slack call, blocks included.
fn texts(r: &Recorded) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("text", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&r.json(), &mut out);
    out
}

async fn alert_summaries_are_escaped(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    let Some(rig) = rig_in(backend, dir).await else {
        return;
    };
    let (s, v, _) = rig
        .app
        .send(
            reqwest::Method::POST,
            "/api/v1/integrations/demo-alertmanager/alertmanager",
            None,
            Some(firing()),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["title"], SUMMARY, "stored as the alert said");
    rig.deliver().await;

    let posts = rig.calls("chat.postMessage");
    // The channel's header and the page to whoever is on call (a Slack DM).
    let header = rig.in_channel("chat.postMessage", "C0NEWCHAN");
    assert_eq!(header.len(), 1, "{posts:?}");
    assert!(
        header[0]["text"].as_str().unwrap().contains(ESCAPED),
        "{}",
        header[0]["text"]
    );
    let dms: Vec<&Recorded> = posts
        .iter()
        .filter(|r| r.json()["channel"].as_str().unwrap_or("").starts_with('U'))
        .collect();
    assert!(!dms.is_empty(), "a page by Slack DM: {posts:?}");
    for dm in &dms {
        assert!(texts(dm).iter().any(|t| t.contains(ESCAPED)), "{}", dm.body);
    }
    // Nothing Slack was sent reads as a mention.
    for r in rig.slack.requests() {
        for t in texts(&r) {
            assert!(
                !t.contains("<!channel>") && !t.contains("<down>"),
                "{}: {t}",
                r.path
            );
        }
    }
}

/// A title typed in Slack arrives escaped; it is stored as typed and shown escaped again.
async fn slack_typed_titles_round_trip(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    let Some(rig) = rig_in(backend, dir).await else {
        return;
    };
    let (s, v) = rig
        .command(
            "U0ALICE",
            "C0GENERAL",
            "declare sev2 p99 &gt; 2s &amp; &lt;b&gt;",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let incidents = rig.incidents().await;
    assert_eq!(incidents[0]["title"], "p99 > 2s & <b>", "{incidents:?}");
    rig.deliver().await;
    let header = rig.in_channel("chat.postMessage", "C0NEWCHAN");
    assert_eq!(header.len(), 1);
    let text = header[0]["text"].as_str().unwrap();
    assert!(text.contains("p99 &gt; 2s &amp; &lt;b&gt;"), "{text}");
}

crate::on_both_backends!(alert_summaries_are_escaped, slack_typed_titles_round_trip);
