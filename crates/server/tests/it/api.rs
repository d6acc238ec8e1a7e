//! The incident API as a client sees it, on both backends.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::Backend;

both!(
    declare_list_show_and_timeline_name_the_actor,
    |app| async move {
        let (s, v, headers) = app
            .send(
                Method::POST,
                "/api/v1/incidents",
                Some(&app.responder),
                Some(
                    json!({"title": "Checkout 500s", "severity": "SEV1", "services": ["checkout"]}),
                ),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        assert!(id.starts_with("INC-"), "{id}");
        assert_eq!(
            headers["location"],
            format!("/api/v1/incidents/{id}").as_str()
        );
        assert_eq!(v["status"], "triage");
        assert_eq!(
            v["declared_at"],
            crate::support::T0,
            "time comes from the injected clock"
        );

        let (s, list) = app.get("/api/v1/incidents").await;
        assert_eq!(s, 200);
        assert_eq!(list.as_array().unwrap().len(), 1);
        assert_eq!(list[0]["id"], id.as_str());

        let (s, shown) = app.get(&format!("/api/v1/incidents/{id}")).await;
        assert_eq!(s, 200);
        assert_eq!(shown["title"], "Checkout 500s");
        assert_eq!(
            shown["declared_by"], "alice",
            "the token's owner is the actor"
        );

        let (s, tl) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
        assert_eq!(s, 200);
        let kinds: Vec<&str> = tl
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds[..2], ["declared", "milestone_reached"]);
        // The rest is what the demo policies did on declaration (staffing a SEV1, the
        // checklist task of `create_task`, telling legal).
        assert!(
            kinds[2..]
                .iter()
                .all(|k| ["policy_fired", "role_assigned", "task_added"].contains(k)),
            "{kinds:?}"
        );
        // The person declared; what the policies and playbooks did is theirs.
        let actors: Vec<&str> = tl
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["actor"].as_str().unwrap())
            .collect();
        assert_eq!(actors[..2], ["alice", "alice"]);
        assert!(
            actors[2..].iter().all(|a| [
                "policy:staff-major-incidents",
                "policy:sev1-tell-legal",
                "playbook:sev1-payments"
            ]
            .contains(a)),
            "{actors:?}"
        );
        assert_eq!(tl[1]["data"]["milestone"], "declared");
    }
);

both!(working_an_incident_through_its_life, |app| async move {
    let id = app.declare("Payments latency").await;
    let p = |rest: &str| format!("/api/v1/incidents/{id}{rest}");
    let (s, v) = app
        .post(&p("/milestones"), json!({"milestone": "acknowledged"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], "investigating");
    let (s, v) = app
        .post(
            &p("/roles"),
            json!({"role": "incident_commander", "person": "alice"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["roles"]["incident_commander"]["person"], "alice");
    let (s, v) = app
        .post(&p("/tasks"), json!({"title": "Roll back deploy 4411"}))
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = app.patch(&p("/tasks/1"), json!({"done": true})).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tasks"][0]["done"], true);
    let (s, v) = app
        .post(&p("/notes"), json!({"text": "rollback started"}))
        .await;
    assert_eq!(s, 200, "{v}");
    app.clock.advance(jiff::SignedDuration::from_mins(7));
    let (s, v) = app
        .patch(&p(""), json!({"severity": "SEV2", "status": "mitigated"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["severity"], "SEV2");
    assert_eq!(
        v["updated_at"], "2026-03-29T03:19:00Z",
        "stamped by the injected clock"
    );
    let (_, roles) = app.get(&p("/roles")).await;
    assert_eq!(roles["incident_commander"]["person"], "alice");
    let (_, tasks) = app.get(&p("/tasks")).await;
    // Policies may have added checklist tasks on declaration; ours is among them.
    assert!(
        tasks
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["title"] == "Roll back deploy 4411"),
        "{tasks}"
    );
    let (s, v) = app.patch(&p(""), json!({"status": "resolved"})).await;
    assert_eq!(s, 200, "{v}");
    assert!(v["resolved_at"].is_string());
    let (_, ms) = app.get(&p("/milestones")).await;
    let names: Vec<&str> = ms
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["milestone"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["declared", "acknowledged", "mitigated", "resolved"]);

    let (_, open) = app.get("/api/v1/incidents?open=true").await;
    assert_eq!(open.as_array().unwrap().len(), 0);
    let (_, resolved) = app
        .get("/api/v1/incidents?status=resolved&severity=SEV2")
        .await;
    assert_eq!(resolved.as_array().unwrap().len(), 1);
    let (s, v) = app.get("/api/v1/incidents?severity=SEV9").await;
    assert_eq!(s, 422, "{v}");
    // A bad cursor is a bad field, not a missing incident.
    let (s, v) = app.get("/api/v1/incidents?before=yesterday").await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["message"],
        "invalid before `yesterday`: an incident id such as INC-42"
    );
    // A path segment that does not parse answers in the API's JSON shape.
    let (s, v) = app
        .patch("/api/v1/incidents/INC-1/tasks/-1", json!({"done": true}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "bad_request", "{v}");
});

both!(
    illegal_transitions_are_conflicts_with_reasons,
    |app| async move {
        let id = app.declare("DNS").await;
        let p = |rest: &str| format!("/api/v1/incidents/{id}{rest}");
        assert_eq!(
            app.post(&p("/milestones"), json!({"milestone": "acknowledged"}))
                .await
                .0,
            200
        );
        let (s, v) = app
            .post(&p("/milestones"), json!({"milestone": "acknowledged"}))
            .await;
        assert_eq!(s, 409, "{v}");
        assert_eq!(v["error"]["code"], "conflict");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("already reached acknowledged")
        );

        assert_eq!(
            app.patch(&p(""), json!({"status": "resolved"})).await.0,
            200
        );
        let before = app.get(&p("/timeline")).await.1.as_array().unwrap().len();
        let (s, v) = app
            .post(
                &p("/milestones"),
                json!({"milestone": "blast_radius_validated"}),
            )
            .await;
        assert_eq!(s, 409, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().contains("reopen"));
        let after = app.get(&p("/timeline")).await.1.as_array().unwrap().len();
        assert_eq!(before, after, "a refused command writes nothing");

        let (s, v) = app.patch(&p(""), json!({"status": "investigating"})).await;
        assert_eq!(s, 200, "reopen is allowed: {v}");
        assert_eq!(
            app.post(
                &p("/milestones"),
                json!({"milestone": "blast_radius_validated"})
            )
            .await
            .0,
            200
        );
    }
);

both!(
    bad_input_gets_json_errors_naming_the_field_and_writes_nothing,
    |app| async move {
        let send_raw = |body: &'static str| {
            let req = app
                .http
                .post(format!("{}/api/v1/incidents", app.base))
                .bearer_auth(&app.responder)
                .header("content-type", "application/json")
                .body(body);
            async move {
                let r = req.send().await.unwrap();
                let s = r.status().as_u16();
                (s, r.json::<Value>().await.unwrap())
            }
        };
        let (s, v) = send_raw("{\"title\": ").await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"]["message"].is_string());
        let (s, v) = send_raw(r#"{"title": 5, "severity": "SEV1"}"#).await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("title"),
            "{v}"
        );
        let (s, v) = send_raw(r#"{"title": "x", "severity": "SEV9"}"#).await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("severity"),
            "{v}"
        );
        let (s, v) = send_raw(r#"{"title": "x", "severity": "SEV1", "services": ["nope"]}"#).await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("service"),
            "{v}"
        );
        let (s, v) = send_raw(r#"{"title": "x", "severity": "SEV1", "colour": "red"}"#).await;
        assert_eq!(s, 422, "unknown fields are refused: {v}");

        let big = format!(
            r#"{{"title": "{}", "severity": "SEV1"}}"#,
            "a".repeat(1_100_000)
        );
        let r = app
            .http
            .post(format!("{}/api/v1/incidents", app.base))
            .bearer_auth(&app.responder)
            .header("content-type", "application/json")
            .body(big)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "payload_too_large");

        let id = app.declare("real one").await;
        let (_, tl) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
        let declared_events = tl.as_array().unwrap().len();
        let (s, v) = app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({"milestone": "lunch"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("milestone")
        );
        let (s, v) = app
            .post(
                &format!("/api/v1/incidents/{id}/roles"),
                json!({"role": "janitor", "person": "alice"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        let (s, v) = app
            .patch(
                &format!("/api/v1/incidents/{id}"),
                json!({"status": "sleeping"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
        let (s, _) = app.get("/api/v1/incidents/INC-999").await;
        assert_eq!(s, 404);
        let (s, v) = app.get("/api/v1/incidents/bogus").await;
        assert_eq!(s, 404, "{v}");

        let (_, list) = app.get("/api/v1/incidents").await;
        assert_eq!(
            list.as_array().unwrap().len(),
            1,
            "only the valid declaration was stored"
        );
        let (_, tl) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
        assert_eq!(
            tl.as_array().unwrap().len(),
            declared_events,
            "refused commands appended nothing"
        );
    }
);

both!(tokens_gate_every_route_by_role, |app| async move {
    let (s, v, _) = app.send(Method::GET, "/api/v1/incidents", None, None).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (s, _, _) = app
        .send(
            Method::GET,
            "/api/v1/incidents",
            Some("mus_not-a-token"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    let (s, _, _) = app
        .send(Method::GET, "/api/v1/incidents", Some(&app.viewer), None)
        .await;
    assert_eq!(s, 200, "viewers read");
    let body = json!({"title": "x", "severity": "SEV3"});
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&app.viewer),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden");
    let (s, _, _) = app
        .send(
            Method::POST,
            "/api/v1/config/reload",
            Some(&app.responder),
            None,
        )
        .await;
    assert_eq!(s, 403, "only admins reload");
    let (s, _, _) = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&app.admin),
            Some(body),
        )
        .await;
    assert_eq!(s, 201, "admins may do what responders may");
});

both!(
    twenty_five_concurrent_writers_lose_nothing,
    |app| async move {
        let id = app.declare("Thundering herd").await;
        let (_, tl) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
        let declared_events = tl.as_array().unwrap().len() as i64;
        let app = std::sync::Arc::new(app);
        let mut tasks = Vec::new();
        for n in 0..25 {
            let app = app.clone();
            let id = id.clone();
            tasks.push(tokio::spawn(async move {
                let (s, v) = if n % 2 == 0 {
                    app.post(
                        &format!("/api/v1/incidents/{id}/tasks"),
                        json!({"title": format!("task {n}")}),
                    )
                    .await
                } else {
                    app.post(
                        &format!("/api/v1/incidents/{id}/notes"),
                        json!({"text": format!("note {n}")}),
                    )
                    .await
                };
                assert_eq!(s, 200, "{v}");
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (_, tl) = app.get(&format!("/api/v1/incidents/{id}/timeline")).await;
        let events = tl.as_array().unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        assert_eq!(
            seqs,
            (1..=declared_events + 25).collect::<Vec<_>>(),
            "gap-free, nothing lost"
        );
        for n in 0..25 {
            let found = events.iter().any(|e| {
                e["data"]["title"] == format!("task {n}").as_str()
                    || e["data"]["text"] == format!("note {n}").as_str()
            });
            assert!(found, "writer {n} lost");
        }
        let (_, inc) = app.get(&format!("/api/v1/incidents/{id}")).await;
        let ids: Vec<i64> = inc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_i64().unwrap())
            .collect();
        // 13 written here, plus any checklist task a policy added on declaration.
        assert!(ids.len() >= 13, "{ids:?}");
        assert_eq!(
            ids,
            (1..=ids.len() as i64).collect::<Vec<_>>(),
            "task ids unique and dense"
        );
        assert_eq!(inc["last_seq"], declared_events + 25);
    }
);

both!(health_readiness_and_metrics, |app| async move {
    let (s, v, _) = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (200, Some("ok")));
    let (s, _, _) = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, 200);
    app.declare("for metrics").await;
    let text = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("muster_http_requests_total{"), "{text}");
    assert!(
        text.contains("route=\"/api/v1/incidents\""),
        "requests are labelled by route template"
    );
    assert!(
        text.contains("muster_http_request_duration_seconds_bucket"),
        "latency histogram"
    );
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("muster_incidents{")
                && l.contains("status=\"triage\"")
                && l.contains("severity=\"SEV1\"")
        })
        .expect("incident gauge");
    assert!(line.ends_with(" 1"), "{line}");
});

both!(unknown_routes_answer_json_404, |app| async move {
    let (s, v, _) = app
        .send(
            Method::GET,
            "/api/v1/nothing-here",
            Some(&app.responder),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "not_found");
});

/// Reload does not touch the database, so SQLite alone covers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reload_is_atomic() {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    let app = crate::support::spawn_app_with_config(Backend::Sqlite, dir.path())
        .await
        .unwrap();
    let before = app
        .get("/api/v1/services")
        .await
        .1
        .as_array()
        .unwrap()
        .len();
    // Break it: a service naming an unknown escalation policy.
    std::fs::write(
        dir.path().join("zz-broken.yaml"),
        "services:\n  - id: ghost\n    name: Ghost\n    owner_team: payments\n    escalation_policy: nope\n",
    )
    .unwrap();
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/config/reload",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["error"]["code"], "invalid_config");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zz-broken.yaml:5:"),
        "{v}"
    );
    assert_eq!(
        app.get("/api/v1/services")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        before,
        "old config stays"
    );
    std::fs::write(
        dir.path().join("zz-broken.yaml"),
        "services:\n  - id: ghost\n    name: Ghost\n    owner_team: payments\n",
    )
    .unwrap();
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/config/reload",
            Some(&app.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        app.get("/api/v1/services")
            .await
            .1
            .as_array()
            .unwrap()
            .len(),
        before + 1
    );
}

/// PostgreSQL going away: readiness and API answer 503 with Retry-After, no crash, and
/// service resumes by itself when the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_outage_gives_503_then_recovers() {
    let Some(app) = crate::support::spawn_app(Backend::Postgres).await else {
        return;
    };
    let id = app.declare("before outage").await;
    let crate::support::TestDb::Postgres { name, .. } = &app.db else {
        unreachable!()
    };
    let hidden = format!("{name}_away");
    // Take the database away: rename it (connections must be terminated first).
    app.db
        .admin_exec(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await;
    app.db
        .admin_exec(&format!("ALTER DATABASE {name} RENAME TO {hidden}"))
        .await;

    let (s, _, h) = app.send(Method::GET, "/readyz", None, None).await;
    assert_eq!(s, 503);
    assert!(h.contains_key("retry-after"));
    let (s, v, h) = app
        .send(
            Method::GET,
            &format!("/api/v1/incidents/{id}"),
            Some(&app.responder),
            None,
        )
        .await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable");
    assert_eq!(h["retry-after"], "5");
    let (s, _, _) = app.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200, "the process is still up");

    app.db
        .admin_exec(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{hidden}'"
        ))
        .await;
    app.db
        .admin_exec(&format!("ALTER DATABASE {hidden} RENAME TO {name}"))
        .await;
    let mut ready = false;
    for _ in 0..50 {
        if app.send(Method::GET, "/readyz", None, None).await.0 == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(ready, "service resumes by itself");
    let (s, v) = app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(s, 200, "{v}");
}

/// A request whose body never finishes arriving, holding one in-flight slot. With a budget of
/// one, a probe may hold the slot as it arrives and get it shed: it is sent again until the
/// server is still reading it after 300 ms.
async fn slow_request(addr: &str, head: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    loop {
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(head.as_bytes()).await.unwrap();
        let answered =
            tokio::time::timeout(std::time::Duration::from_millis(300), slow.readable()).await;
        if answered.is_err() {
            return slow;
        }
    }
}

/// The demo configuration with `limits.yaml` holding `yaml` (the `limits:` key included).
fn demo_with_limits(yaml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    std::fs::write(dir.path().join("limits.yaml"), yaml).expect("limits.yaml");
    dir
}

/// Beyond the API's in-flight budget (`limits.in_flight.api`) the server answers 503 with
/// Retry-After at once, and recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_503_and_retry_after() {
    let dir = demo_with_limits("limits:\n  in_flight:\n    api: 1\n");
    let app = crate::support::spawn_app_with_config(Backend::Sqlite, dir.path())
        .await
        .unwrap();
    // Hold the only slot: a declaration whose body never finishes arriving.
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /api/v1/incidents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        app.responder
    );
    let slow = slow_request(&addr, &head).await;
    let mut shed = None;
    for _ in 0..100 {
        let (s, v, h) = app
            .send(Method::GET, "/api/v1/incidents", Some(&app.responder), None)
            .await;
        if s == 503 {
            shed = Some((v, h));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (v, h) = shed.expect("a second request is shed while the slot is held");
    assert_eq!(v["error"]["code"], "unavailable");
    assert_eq!(h["retry-after"], "5");
    // Only the API's budget is one: intake still takes requests.
    let webhook = serde_json::json!({"version": "4", "status": "firing", "alerts": []});
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/integrations/demo-alertmanager/alertmanager",
            None,
            Some(webhook),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    drop(slow);
    let mut recovered = false;
    for _ in 0..100 {
        if app.get("/api/v1/incidents").await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        recovered,
        "the slot is released when the slow client goes away"
    );
}

/// A flood on one route class (slow uploads to the intake) sheds only that class: the API,
/// the public status page and the health checks keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_intake_leaves_the_api_public_pages_and_health_checks_answering() {
    let demo = crate::support::demo_dir();
    let app = crate::support::spawn_app_with(Backend::Sqlite, &demo, |s| s.with_max_in_flight(1))
        .await
        .unwrap();
    // Hold intake's only slot: a webhook to a real key whose body never finishes arriving.
    let addr = app.base.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /api/v1/integrations/demo-alertmanager/alertmanager HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
    );
    let slow = slow_request(&addr, &head).await;
    let webhook = serde_json::json!({"version": "4", "status": "firing", "alerts": []});
    let mut shed = None;
    for _ in 0..100 {
        let (s, v, h) = app
            .send(
                Method::POST,
                "/api/v1/integrations/demo-alertmanager/alertmanager",
                None,
                Some(webhook.clone()),
            )
            .await;
        if s == 503 {
            shed = Some((v, h));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (v, h) = shed.expect("a second intake request is shed while the slot is held");
    assert_eq!(v["error"]["code"], "unavailable");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("(intake requests)"),
        "{v}"
    );
    assert_eq!(h["retry-after"], "5");
    // The other classes, and the health checks, answer meanwhile.
    assert_eq!(app.get("/api/v1/incidents").await.0, 200);
    let status = app
        .http
        .get(format!("{}/status", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status().as_u16(), 200);
    for health in ["/healthz", "/readyz"] {
        let r = app
            .http
            .get(format!("{}{health}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{health}");
    }
    drop(slow);
}

/// One address holds at most its cap of connections: the next is closed before a byte is
/// read, and a slot comes back when one of its connections closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_address_are_capped() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = demo_with_limits("limits:\n  connections_per_address: 2\n");
    let app = crate::support::spawn_app_with_config(Backend::Sqlite, dir.path())
        .await
        .unwrap();
    let addr = app.base.trim_start_matches("http://").to_string();
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    /// What the server answers on a fresh connection ("" when it closes it unanswered).
    async fn ask(addr: &str, request: &str) -> (tokio::net::TcpStream, String) {
        let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
        let _ = c.write_all(request.as_bytes()).await;
        let mut buf = vec![0u8; 512];
        let n = tokio::time::timeout(std::time::Duration::from_secs(5), c.read(&mut buf))
            .await
            .expect("an answer or a close within 5 s")
            .unwrap_or(0);
        (c, String::from_utf8_lossy(&buf[..n]).into_owned())
    }
    let (first, a) = ask(&addr, &health).await;
    let (_second, b) = ask(&addr, &health).await;
    assert!(
        a.starts_with("HTTP/1.1 200") && b.starts_with("HTTP/1.1 200"),
        "{a}{b}"
    );
    let (_, refused) = ask(&addr, &health).await;
    assert_eq!(
        refused, "",
        "a third connection from the address is closed unanswered"
    );
    drop(first);
    let mut again = String::new();
    for _ in 0..100 {
        again = ask(&addr, &health).await.1;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        again.starts_with("HTTP/1.1 200"),
        "a closed connection frees its slot: {again:?}"
    );
}

/// A body that does not arrive within `limits.body_read_timeout` frees its slot well before
/// the request timeout: intake answers 503 + Retry-After (senders retry), the API 408; both
/// in the JSON error shape, and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_is_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = demo_with_limits("limits:\n  body_read_timeout: 1s\n");
    let app = crate::support::spawn_app_with_config(Backend::Sqlite, dir.path())
        .await
        .unwrap();
    let addr = app.base.trim_start_matches("http://").to_string();
    let answer = |head: String| {
        let addr = addr.clone();
        async move {
            let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
            c.write_all(head.as_bytes()).await.unwrap();
            let mut buf = Vec::new();
            // The server closes or answers; 20 s is far past the 1 s deadline.
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), async {
                let mut chunk = [0u8; 1024];
                while let Ok(n) = c.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if String::from_utf8_lossy(&buf).contains("}}") {
                        break;
                    }
                }
            })
            .await;
            String::from_utf8_lossy(&buf).into_owned()
        }
    };
    let intake = answer(format!(
        "POST /api/v1/integrations/demo-alertmanager/alertmanager HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"version\""
    ))
    .await;
    assert!(intake.starts_with("HTTP/1.1 503"), "{intake}");
    assert!(
        intake.to_ascii_lowercase().contains("retry-after: 5"),
        "{intake}"
    );
    assert!(
        intake.contains(r#"{"error":{"code":"body_timeout","message":"the request body did not arrive within 1 s (limits.body_read_timeout)"}}"#),
        "{intake}"
    );
    let api = answer(format!(
        "POST /api/v1/incidents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"title\"",
        app.responder
    ))
    .await;
    assert!(api.starts_with("HTTP/1.1 408"), "{api}");
    assert!(api.contains(r#""code":"body_timeout""#), "{api}");
    assert!(api.contains("limits.body_read_timeout"), "{api}");
    let (_, list) = app.get("/api/v1/incidents").await;
    assert_eq!(list, json!([]), "nothing declared");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    assert_eq!(alerts, json!([]), "nothing stored");
}
