//! Large Alertmanager groups on both backends: bodies up to `limits.intake_body` (16 MiB by
//! default) and up to `limits.alerts_per_request` alerts are stored whole; past a limit the
//! answer is 503 with Retry-After in the JSON error shape (PagerDuty's on `/v2/enqueue`), never
//! a 4xx on which Alertmanager would drop the group.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with_config};

const AM: &str = "/api/v1/integrations/demo-alertmanager/alertmanager";

/// An Alertmanager group of `n` firing alerts as Alertmanager sends it (about 1.4 kB each,
/// so 800 alerts are 1.1 MB), all in one Muster group.
fn big_group(n: usize) -> Value {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "status": "firing",
                "labels": {
                    "alertname": "PodCrashLooping", "severity": "critical",
                    "instance": format!("10.1.{}.{}:9102", i / 250, i % 250),
                    "pod": format!("checkout-7d9f8c6b5-{i:05}"), "namespace": "shop",
                    "job": "kube-state-metrics", "container": "checkout",
                    "cluster": "prod-eu-west-1", "prometheus": "monitoring/k8s",
                },
                "annotations": {
                    "summary": format!("Pod shop/checkout-7d9f8c6b5-{i:05} is crash looping"),
                    "description": format!(
                        "Pod shop/checkout-7d9f8c6b5-{i:05} (checkout) is in waiting state \
                         (reason: \"CrashLoopBackOff\") for more than 15 minutes. {}",
                        "Restarts keep failing the readiness probe. ".repeat(15)
                    ),
                    "runbook_url": "https://runbooks.example.com/kubernetes/podcrashlooping",
                },
                "startsAt": "2026-03-29T03:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example.com/graph?g0.expr=kube_pod_container_status_waiting_reason",
                "fingerprint": format!("{i:016x}"),
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"PodCrashLooping\"}",
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "muster",
        "groupLabels": {"alertname": "PodCrashLooping"},
        "commonLabels": {"alertname": "PodCrashLooping", "severity": "critical"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    })
}

async fn post_bytes(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, Value, Option<String>) {
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = resp.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "{status} answered {content_type}: {text}"
    );
    let value = serde_json::from_str(&text).expect("a JSON body");
    (status, value, retry)
}

/// Every stored alert's dedup key, paging through `/api/v1/alerts`.
async fn stored_keys(app: &TestApp) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut before = String::new();
    loop {
        let (s, v) = app.get(&format!("/api/v1/alerts?limit=500{before}")).await;
        assert_eq!(s, 200, "{v}");
        let page = v.as_array().expect("array");
        for a in page {
            keys.insert(a["dedup_key"].as_str().expect("key").to_string());
        }
        match page.last() {
            Some(last) if page.len() == 500 => before = format!("&before={}", last["id"]),
            _ => return keys,
        }
    }
}

async fn stores_whole_group(app: TestApp, n: usize) {
    let body = serde_json::to_vec(&big_group(n)).expect("json");
    if n == 800 {
        assert!(body.len() > 1_100_000, "{} bytes", body.len());
    }
    let (s, v, _) = post_bytes(&app, AM, body).await;
    assert_eq!(s, 200, "{v}");
    let answered = v["alerts"].as_array().expect("alerts");
    assert_eq!(answered.len(), n);
    assert_eq!(answered[0]["outcome"], "opened");
    assert!(answered[1..].iter().all(|a| a["outcome"] == "joined"));
    let expected: BTreeSet<String> = (0..n).map(|i| format!("{i:016x}")).collect();
    assert_eq!(stored_keys(&app).await, expected);
    let (_, list) = app.get("/api/v1/incidents").await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}

async fn limits(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(
        dir.path().join("limits.yaml"),
        "limits:\n  alerts_per_request: 1000\n  intake_body: 2MiB\n",
    )
    .expect("write");
    let Some(app) = spawn_app_with_config(backend, dir.path()).await else {
        return;
    };

    // One alert past the cap: 503 + Retry-After, JSON, nothing stored.
    let body = serde_json::to_vec(&big_group(1001)).expect("json");
    assert!(body.len() < 2 * 1024 * 1024);
    let (s, v, retry) = post_bytes(&app, AM, body).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(v["error"]["code"], "too_many_alerts");
    assert_eq!(
        v["error"]["message"],
        "1001 alerts in one request; at most 1000 are accepted (limits.alerts_per_request)"
    );

    // A body past the size limit: the same, on every intake route.
    let mut group = big_group(10);
    group["commonAnnotations"]["padding"] = json!("x".repeat(3 * 1024 * 1024));
    let big = serde_json::to_vec(&group).expect("json");
    let (s, v, retry) = post_bytes(&app, AM, big.clone()).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(v["error"]["code"], "payload_too_large");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("message")
            .contains("larger than 2097152 bytes (limits.intake_body)"),
        "{v}"
    );

    // PagerDuty's route answers in PagerDuty's shape, Retry-After included.
    let (s, v, retry) = post_bytes(&app, "/v2/enqueue", big).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(retry.as_deref(), Some("5"));
    assert_eq!(v["status"], "unavailable");
    assert!(
        v["message"]
            .as_str()
            .expect("message")
            .contains("limits.intake_body"),
        "{v}"
    );
    assert_eq!(v["errors"][0], v["message"]);
    assert!(v.get("error").is_none(), "{v}");

    assert!(stored_keys(&app).await.is_empty());

    // At the cap, the whole group is stored.
    stores_whole_group(app, 1000).await;
}

/// The default limits take a 15 MiB body.
async fn default_body_limit(backend: Backend) {
    let Some(app) = crate::support::spawn_app(backend).await else {
        return;
    };
    let mut group = big_group(3);
    group["commonAnnotations"]["padding"] = json!("x".repeat(15 * 1024 * 1024));
    let (s, v, _) = post_bytes(&app, AM, serde_json::to_vec(&group).expect("json")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(stored_keys(&app).await.len(), 3);
}

macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                $body(Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                $body(Backend::Postgres).await
            }
        }
    };
}

async fn group_of_800(backend: Backend) {
    if let Some(app) = crate::support::spawn_app(backend).await {
        stores_whole_group(app, 800).await;
    }
}

async fn group_of_1500(backend: Backend) {
    if let Some(app) = crate::support::spawn_app(backend).await {
        stores_whole_group(app, 1500).await;
    }
}

on_both!(alertmanager_group_of_800_is_stored_whole, group_of_800);
on_both!(alertmanager_group_of_1500_is_stored_whole, group_of_1500);
on_both!(past_a_limit_is_503_with_retry_after_in_json, limits);
on_both!(default_limit_takes_a_15_mib_body, default_body_limit);
