//! Alert intake end to end on both backends: Alertmanager webhooks and PagerDuty Events v2
//! open incidents that page at once, repeats only count, resolution auto-resolves, and bad
//! input is answered as each protocol expects with nothing stored.

use muster_core::{Clock, IncidentNumber};
use muster_store::{OutboxRecord, Store};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

const AM: &str = "/api/v1/integrations/demo-alertmanager/alertmanager";

fn webhook(status: &str, alerts: &[(&str, &str, &str)]) -> Value {
    json!({
        "version": "4",
        "groupKey": "{}:{alertname=\"CheckoutDown\"}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "muster",
        "groupLabels": {"alertname": "CheckoutDown"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts.iter().map(|(fp, instance, st)| json!({
            "status": st,
            "labels": {"alertname": "CheckoutDown", "severity": "critical", "instance": instance},
            "annotations": {"summary": "Checkout is down"},
            "startsAt": "2026-03-29T03:10:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": fp,
        })).collect::<Vec<_>>(),
    })
}

async fn post_raw(app: &TestApp, path: &str, body: Vec<u8>) -> (u16, Value) {
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post_raw(app, path, serde_json::to_vec(body).expect("json")).await
}

async fn alerts(app: &TestApp, query: &str) -> Vec<Value> {
    let (s, v) = app.get(&format!("/api/v1/alerts{query}")).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("array").clone()
}

async fn outbox(app: &TestApp, incident: &str) -> Vec<OutboxRecord> {
    let store = Store::connect(&app.db.url()).await.expect("store");
    let n = IncidentNumber(incident.trim_start_matches("INC-").parse().expect("number"));
    let items = store.outbox_for_incident(n).await.expect("outbox");
    store.close().await;
    items
}

both!(
    alertmanager_firing_pages_and_repeats_only_count,
    |app| async move {
        let body = webhook("firing", &[("fp1", "a", "firing")]);
        let (s, v) = post(&app, AM, &body).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["alerts"][0]["outcome"], "opened");
        let incident = v["alerts"][0]["incident"]
            .as_str()
            .expect("incident")
            .to_string();

        // Step 1 of the checkout service's escalation is in the outbox already.
        let pages: Vec<_> = outbox(&app, &incident)
            .await
            .into_iter()
            .filter(|o| o.effect == "page")
            .collect();
        assert_eq!(pages.len(), 1, "{pages:?}");
        assert_eq!(pages[0].payload["escalation_policy"], "payments-escalation");
        let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(inc["severity"], "SEV1");
        assert_eq!(inc["services"], json!(["checkout"]));
        assert_eq!(inc["title"], "Checkout is down");

        // Alertmanager re-posts the group: nothing new, the repeat is counted.
        let (s, v) = post(&app, AM, &body).await;
        assert_eq!(s, 200);
        assert_eq!(v["alerts"][0]["outcome"], "repeated");
        let all = alerts(&app, "").await;
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["count"], 2);
        assert_eq!(
            outbox(&app, &incident)
                .await
                .iter()
                .filter(|o| o.effect == "page")
                .count(),
            1
        );
        let (_, list) = app.get("/api/v1/incidents").await;
        assert_eq!(list.as_array().expect("list").len(), 1);
    }
);

both!(
    alertmanager_group_joins_and_auto_resolves,
    |app| async move {
        let (s, v) = post(
            &app,
            AM,
            &webhook("firing", &[("fp1", "a", "firing"), ("fp2", "b", "firing")]),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["alerts"][0]["outcome"], "opened");
        assert_eq!(v["alerts"][1]["outcome"], "joined");
        let incident = v["alerts"][0]["incident"]
            .as_str()
            .expect("incident")
            .to_string();
        assert_eq!(v["alerts"][1]["incident"], incident.as_str());

        // One alert resolved: the incident stays open while the other fires.
        let (s, _) = post(
            &app,
            AM,
            &webhook(
                "firing",
                &[("fp1", "a", "resolved"), ("fp2", "b", "firing")],
            ),
        )
        .await;
        assert_eq!(s, 200);
        let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
        assert_ne!(inc["status"], "resolved");
        assert_eq!(alerts(&app, "?status=resolved").await.len(), 1);

        let (s, _) = post(&app, AM, &webhook("resolved", &[("fp2", "b", "resolved")])).await;
        assert_eq!(s, 200);
        let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
        assert_eq!(inc["status"], "resolved", "{inc}");
        assert_eq!(alerts(&app, "?status=firing").await.len(), 0);
        assert_eq!(alerts(&app, "?integration=alertmanager").await.len(), 2);
    }
);

// Concurrent requests are committed in batches, on PostgreSQL several in flight at once:
// however they are split, one group opens one incident, one key stays one alert counting
// every send, and the incident is paged once.
both!(
    concurrent_batches_keep_one_alert_per_key_and_one_incident_per_group,
    |app| async move {
        let sends = 48;
        let app = std::sync::Arc::new(app);
        let mut posts = tokio::task::JoinSet::new();
        for i in 0..sends {
            let app = app.clone();
            posts.spawn(async move {
                let own = format!("fp-{i}");
                let instance = format!("i{i}");
                let body = webhook(
                    "firing",
                    &[
                        ("fp-shared", "shared", "firing"),
                        (&own, &instance, "firing"),
                    ],
                );
                post(&app, AM, &body).await
            });
        }
        let mut incidents = std::collections::BTreeSet::new();
        while let Some(answer) = posts.join_next().await {
            let (s, v) = answer.expect("request task");
            assert_eq!(s, 200, "{v}");
            for a in v["alerts"].as_array().expect("alerts") {
                incidents.insert(a["incident"].as_str().expect("incident").to_string());
            }
        }
        assert_eq!(incidents.len(), 1, "one group, one incident: {incidents:?}");
        let all = alerts(&app, "?limit=100").await;
        assert_eq!(all.len(), sends + 1, "one alert per key");
        let shared = all.iter().find(|a| a["dedup_key"] == "fp-shared");
        assert_eq!(shared.map(|a| a["count"].clone()), Some(json!(sends)));
        let incident = incidents.pop_first().expect("the incident");
        let pages = outbox(&app, &incident)
            .await
            .into_iter()
            .filter(|o| o.effect == "page")
            .count();
        assert_eq!(pages, 1, "paged once");
    }
);

both!(alertmanager_bad_input_stores_nothing, |app| async move {
    let (s, v) = post(
        &app,
        "/api/v1/integrations/nope/alertmanager",
        &webhook("firing", &[("f", "a", "firing")]),
    )
    .await;
    assert_eq!(s, 404, "{v}");
    assert_eq!(v["error"]["code"], "not_found");
    let mut wrong = webhook("firing", &[("f", "a", "firing")]);
    wrong["version"] = json!("3");
    let (s, v) = post(&app, AM, &wrong).await;
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("version")
    );
    let (s, _) = post_raw(&app, AM, b"{not json".to_vec()).await;
    assert_eq!(s, 400);
    let mut huge = webhook("firing", &[("f", "a", "firing")]);
    huge["alerts"][0]["labels"]["big"] = json!("x".repeat(5000));
    let (s, v) = post(&app, AM, &huge).await;
    assert_eq!(s, 400, "{v}");
    // The PagerDuty key is not an Alertmanager key.
    let (s, _) = post(
        &app,
        "/api/v1/integrations/demo-events-v2/alertmanager",
        &webhook("firing", &[("f", "a", "firing")]),
    )
    .await;
    assert_eq!(s, 404);
    assert!(alerts(&app, "").await.is_empty());
    let (_, list) = app.get("/api/v1/incidents").await;
    assert!(list.as_array().expect("list").is_empty());
});

fn pd(action: &str, dedup: Option<&str>) -> Value {
    let mut v = json!({
        "routing_key": "demo-events-v2",
        "event_action": action,
        "payload": {"summary": "Payments latency high", "source": "api-1", "severity": "critical"},
    });
    if let Some(d) = dedup {
        v["dedup_key"] = json!(d);
    }
    v
}

both!(pagerduty_trigger_ack_resolve, |app| async move {
    let (s, v) = post(&app, "/v2/enqueue", &pd("trigger", Some("lat-1"))).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(
        v,
        json!({"status": "success", "message": "Event processed", "dedup_key": "lat-1"})
    );
    let list = alerts(&app, "").await;
    assert_eq!(list.len(), 1);
    let incident = list[0]["incident"].as_str().expect("incident").to_string();
    assert_eq!(list[0]["service"], "payments-api");
    assert!(
        list[0]["payload"].get("routing_key").is_none(),
        "the key is never stored"
    );
    let pages = outbox(&app, &incident).await;
    assert!(
        pages
            .iter()
            .any(|o| o.effect == "page" && o.payload["escalation_policy"] == "payments-escalation"),
        "{pages:?}"
    );

    let (s, v) = post(&app, "/v2/enqueue", &pd("acknowledge", Some("lat-1"))).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["dedup_key"], "lat-1");
    assert_eq!(alerts(&app, "").await[0]["status"], "acknowledged");
    let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
    assert!(
        inc["milestones"]
            .as_array()
            .expect("m")
            .iter()
            .any(|m| m["milestone"] == "acknowledged"),
        "{inc}"
    );

    let (s, _) = post(&app, "/v2/enqueue", &pd("resolve", Some("lat-1"))).await;
    assert_eq!(s, 202);
    assert_eq!(alerts(&app, "").await[0]["status"], "resolved");
    let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["status"], "resolved");

    // A trigger without a dedup key gets one generated and returned.
    let (s, v) = post(&app, "/v2/enqueue", &pd("trigger", None)).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["dedup_key"].as_str().expect("key").len(), 32);
});

both!(
    pagerduty_invalid_events_answer_like_pagerduty,
    |app| async move {
        let cases = [
            (
                json!({"event_action": "trigger", "payload": {"summary": "s", "source": "h", "severity": "critical"}}),
                vec!["'routing_key' is missing or blank"],
            ),
            (
                json!({"routing_key": "demo-events-v2", "event_action": "explode"}),
                vec!["'event_action' is invalid (must be one of: trigger, acknowledge, resolve)"],
            ),
            (
                json!({"routing_key": "demo-events-v2", "event_action": "trigger", "payload": {"source": "h", "severity": "loud"}}),
                vec![
                    "'payload.summary' is missing or blank",
                    "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
                ],
            ),
            (
                json!({"routing_key": "demo-events-v2", "event_action": "resolve"}),
                vec!["'dedup_key' is missing or blank"],
            ),
            (
                pd("trigger", None)
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("routing_key".into(), json!("unknown"));
                        Value::Object(o)
                    })
                    .expect("obj"),
                vec!["'routing_key' is not a valid integration key"],
            ),
        ];
        for (body, errors) in cases {
            let (s, v) = post(&app, "/v2/enqueue", &body).await;
            assert_eq!(s, 400, "{body}: {v}");
            assert_eq!(
                v,
                json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
            );
        }
        let (s, v) = post_raw(&app, "/v2/enqueue", b"nope".to_vec()).await;
        assert_eq!(s, 400);
        assert_eq!(v["status"], "invalid event");
        assert!(alerts(&app, "").await.is_empty());
    }
);

both!(alerts_api_ack_resolve_and_metrics, |app| async move {
    let (s, v) = post(&app, AM, &webhook("firing", &[("fpx", "a", "firing")])).await;
    assert_eq!(s, 200, "{v}");
    let id = v["alerts"][0]["alert"].as_i64().expect("id");
    let (s, one) = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(one["dedup_key"], "fpx");
    let (s, _) = app.get("/api/v1/alerts/999999").await;
    assert_eq!(s, 404);
    let (s, _, _) = app
        .send(
            Method::POST,
            &format!("/api/v1/alerts/{id}/ack"),
            Some(&app.viewer),
            None,
        )
        .await;
    assert_eq!(s, 403);
    let (s, v) = app
        .post(&format!("/api/v1/alerts/{id}/ack"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "acknowledged");
    let (s, v) = app
        .post(&format!("/api/v1/alerts/{id}/resolve"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "resolved");
    let incident = v["incident"].as_str().expect("incident");
    let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["status"], "resolved");
    let (s, _) = app.get("/api/v1/alerts?status=bogus").await;
    assert_eq!(s, 400);
    let (_, metrics, _) = app.send(Method::GET, "/metrics", None, None).await;
    assert!(
        metrics
            .as_str()
            .expect("text")
            .contains("muster_alerts_received_total"),
        "{metrics}"
    );
});

both!(
    generic_events_need_a_generic_integration,
    |app| async move {
        // The demo has no generic integration: its keys are refused here.
        let (s, _) = post(
            &app,
            "/api/v1/integrations/demo-alertmanager/events",
            &json!({"summary": "x"}),
        )
        .await;
        assert_eq!(s, 404);
    }
);

/// The app plus a scheduler on its simulated clock, for heartbeat deadlines.
async fn with_scheduler(
    backend: crate::support::Backend,
    config: &std::path::Path,
) -> Option<(
    TestApp,
    muster_server::scheduler::Scheduler,
    muster_server::timers::Timers,
)> {
    let mut slot = None;
    let app = crate::support::spawn_app_with(backend, config, |s| {
        slot = Some(s.clone());
        s
    })
    .await?;
    let state = slot.expect("state");
    let scheduler =
        muster_server::scheduler::Scheduler::new(state.store.clone(), app.clock.clone())
            .with_owner("test");
    let handler = muster_server::timers::Timers::new(state);
    Some((app, scheduler, handler))
}

async fn heartbeat_missed_opens_then_ping_resolves(backend: crate::support::Backend) {
    let Some((app, scheduler, handler)) =
        with_scheduler(backend, &crate::support::demo_dir()).await
    else {
        return;
    };
    let hb = "/api/v1/heartbeats/demo-ledger-heartbeat";
    let (s, v) = post(&app, hb, &json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["alerts"][0]["outcome"], "no_open_alert");
    // Inside interval + grace (1h + 10m): nothing.
    let t0 = app.clock.now();
    app.clock.set(t0 + jiff::SignedDuration::from_mins(69));
    scheduler.tick(&handler).await.expect("tick");
    assert!(alerts(&app, "").await.is_empty());
    // Past it: the missed alert opens and pages.
    app.clock.set(t0 + jiff::SignedDuration::from_mins(71));
    scheduler.tick(&handler).await.expect("tick");
    let list = alerts(&app, "?status=firing").await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["integration"], "ledger-batch-heartbeat");
    let incident = list[0]["incident"].as_str().expect("incident").to_string();
    assert!(
        outbox(&app, &incident)
            .await
            .iter()
            .any(|o| o.effect == "page")
    );
    // The next ping resolves the alert, and its incident (auto_resolve defaults to true).
    let (s, v) = post(&app, hb, &json!({})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["alerts"][0]["outcome"], "updated");
    assert_eq!(alerts(&app, "?status=resolved").await.len(), 1);
    let (_, inc) = app.get(&format!("/api/v1/incidents/{incident}")).await;
    assert_eq!(inc["status"], "resolved");
    let (s, _) = post(&app, "/api/v1/heartbeats/unknown", &json!({})).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_sqlite() {
    heartbeat_missed_opens_then_ping_resolves(crate::support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_postgres() {
    heartbeat_missed_opens_then_ping_resolves(crate::support::Backend::Postgres).await;
}

async fn generic_events(backend: crate::support::Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    let extra = "integrations:\n  - id: scripts\n    type: generic\n    key: generic-key-1\n    service: checkout\n    auto_resolve: true\n";
    std::fs::write(dir.path().join("integrations-generic.yaml"), extra).expect("write");
    let Some(app) = crate::support::spawn_app_with_config(backend, dir.path()).await else {
        return;
    };
    let path = "/api/v1/integrations/generic-key-1/events";
    let (s, v) = post(
        &app,
        path,
        &json!({"summary": "Disk full", "dedup_key": "disk", "severity": "SEV3"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["alerts"][0]["outcome"], "opened");
    let (s, v) = post(&app, path, &json!({"action": "resolve"})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = post(
        &app,
        path,
        &json!({"action": "resolve", "dedup_key": "disk"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(alerts(&app, "?status=resolved").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generic_sqlite() {
    generic_events(crate::support::Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generic_postgres() {
    generic_events(crate::support::Backend::Postgres).await;
}

both!(
    silenced_service_stores_alerts_without_paging,
    |app| async move {
        let (s, v) = app
        .post("/api/v1/silences", json!({"service": "checkout", "to": "2026-03-29T05:00:00Z", "reason": "db upgrade"}))
        .await;
        assert_eq!(s, 201, "{v}");
        let silence = v["id"].as_i64().expect("id");
        let (s, v) = post(&app, AM, &webhook("firing", &[("fps", "a", "firing")])).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["alerts"][0]["outcome"], "silenced");
        assert!(v["alerts"][0]["incident"].is_null());
        let (_, list) = app.get("/api/v1/incidents").await;
        assert!(list.as_array().expect("list").is_empty());
        let (s, v) = app.get("/api/v1/silences").await;
        assert_eq!(s, 200);
        assert_eq!(v.as_array().map(Vec::len), Some(1));
        let (s, _, _) = app
            .send(
                Method::DELETE,
                &format!("/api/v1/silences/{silence}"),
                Some(&app.responder),
                None,
            )
            .await;
        assert_eq!(s, 200);
        // The silenced alert stays open without an incident; a new key after the silence pages.
        let (_, v) = post(&app, AM, &webhook("firing", &[("fpt", "b", "firing")])).await;
        assert_eq!(v["alerts"][0]["outcome"], "opened");
        let (s, v) = app
            .post(
                "/api/v1/silences",
                json!({"service": "nope", "to": "2026-03-29T05:00:00Z", "reason": "x"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
    }
);

// A silence longer than `limits.max_silence` (30 days by default), or ending later than that
// from now, is refused naming the field; one just inside is stored.
both!(silences_are_bounded_by_max_silence, |app| async move {
    let message = "to: a silence may last at most 30 d 0 h and end at most that long from now (limits.max_silence)";
    for body in [
        json!({"service": "checkout", "to": "2126-03-29T00:00:00Z", "reason": "forever"}),
        json!({"service": "checkout", "from": "2026-04-20T00:00:00Z", "to": "2026-05-01T00:00:00Z", "reason": "later"}),
        json!({"service": "checkout", "from": "2026-03-01T00:00:00Z", "to": "2026-04-01T00:00:00Z", "reason": "31 days"}),
    ] {
        let (s, v) = app.post("/api/v1/silences", body.clone()).await;
        assert_eq!(s, 422, "{body}: {v}");
        assert_eq!(v["error"]["code"], "invalid_field");
        assert_eq!(v["error"]["message"], message, "{body}");
    }
    let (s, v) = app.get("/api/v1/silences").await;
    assert_eq!((s, v), (200, json!([])), "nothing stored");
    // T0 is 2026-03-29T03:12Z: 30 days later exactly is allowed.
    let (s, v) = app
        .post(
            "/api/v1/silences",
            json!({"service": "checkout", "to": "2026-04-28T03:12:00Z", "reason": "a month"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
});

/// `limits.max_silence` sets the bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_silence_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    std::fs::write(
        dir.path().join("limits.yaml"),
        "limits:\n  max_silence: 2h\n",
    )
    .unwrap();
    let app = crate::support::spawn_app_with_config(crate::support::Backend::Sqlite, dir.path())
        .await
        .unwrap();
    let (s, v) = app
        .post(
            "/api/v1/silences",
            json!({"service": "checkout", "to": "2026-03-29T06:00:00Z", "reason": "too long"}),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["message"],
        "to: a silence may last at most 2 h 00 min and end at most that long from now (limits.max_silence)"
    );
    let (s, v) = app
        .post(
            "/api/v1/silences",
            json!({"service": "checkout", "to": "2026-03-29T05:00:00Z", "reason": "fits"}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
}
