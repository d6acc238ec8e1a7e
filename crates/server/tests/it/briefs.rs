//! Briefings over HTTP: every kind as JSON and Markdown, bad parameters, "since I last
//! looked", the language model's fault cases (everything still comes back, marked
//! deterministic), and the acceptance run: a demo SEV1 on the simulated clock whose brief and
//! review draft are snapshot-tested. `MUSTER_BLESS=1` rewrites the snapshots.

use std::time::{Duration, Instant};

use jiff::SignedDuration;
use muster_core::Timestamp;
use muster_server::language_model::{LanguageModel, LanguageModelConfig};
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use muster_testkit::language_model::{Answer, FakeLanguageModel};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, T0, TestApp, demo_dir, spawn_app_with};

fn minutes(m: i64) -> Timestamp {
    T0.parse::<Timestamp>().expect("t0") + SignedDuration::from_mins(m)
}

impl TestApp {
    /// GET with `Accept: text/markdown`: (status, body text, generated-by header).
    async fn markdown(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.responder)
            .header("accept", "text/markdown")
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let by = resp
            .headers()
            .get("x-muster-generated-by")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = resp.text().await.expect("body");
        if status == 200 {
            assert!(ct.starts_with("text/markdown"), "{ct}");
        }
        (status, text, by)
    }
}

fn snapshot(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/snapshots")
        .join(format!("{name}.md"));
    if std::env::var_os("MUSTER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with MUSTER_BLESS=1", path.display()));
    assert_eq!(actual, expected, "snapshot {name} differs");
}

const KINDS: [&str; 6] = [
    "brief",
    "status-update-draft",
    "status-update-draft?audience=customer",
    "handoff",
    "exec-summary",
    "review-draft",
];

fn with_query(kind: &str, q: &str) -> String {
    if kind.contains('?') {
        format!("{kind}&{q}")
    } else {
        format!("{kind}?{q}")
    }
}

both!(every_briefing_as_json_and_markdown, |app| async move {
    let id = app.declare("Checkout <script>alert(1)</script> 500s").await;
    for kind in KINDS {
        let (s, v) = app.get(&format!("/api/v1/incidents/{id}/{kind}")).await;
        assert_eq!(s, 200, "{kind}: {v}");
        assert_eq!(v["incident"], id.as_str());
        assert_eq!(v["generated_by"], "deterministic");
        assert_eq!(v["model"], Value::Null);
        let md = v["markdown"].as_str().expect("markdown");
        // A tag in the title reaches no Markdown renderer as a tag.
        assert!(!md.replace("\\<", "").contains("<script>"), "{kind}: {md}");
        assert!(v["summary"].is_object(), "{kind}");

        let (s, text, by) = app
            .markdown(&format!("/api/v1/incidents/{id}/{kind}"))
            .await;
        assert_eq!((s, by.as_str()), (200, "deterministic"));
        assert_eq!(text, md, "{kind}: the same text either way");
        let (s, v) = app
            .get(&format!(
                "/api/v1/incidents/{id}/{}",
                with_query(kind, "format=markdown")
            ))
            .await;
        assert_eq!(s, 200);
        assert_eq!(v.as_str(), Some(md), "{kind}: ?format=markdown");
    }
    let (_, v) = app.get(&format!("/api/v1/incidents/{id}/brief")).await;
    assert!(v["summary"]["lines"].as_array().expect("lines").len() <= 12);
    assert_eq!(v["kind"], "brief");
    let (_, v) = app
        .get(&format!(
            "/api/v1/incidents/{id}/status-update-draft?audience=customer"
        ))
        .await;
    assert_eq!(v["summary"]["audience"], "customer");
    assert!(!v["markdown"].as_str().unwrap_or("").contains("SEV1"));

    let (s, _) = app.get("/api/v1/incidents/INC-999/brief").await;
    assert_eq!(s, 404);
    for (path, field) in [
        ("brief?since=yesterday", "since"),
        ("brief?reader=bob", "reader"),
        ("brief?format=pdf", "format"),
        ("status-update-draft?audience=press", "audience"),
        ("handoff?role=janitor", "role"),
    ] {
        let (s, v) = app.get(&format!("/api/v1/incidents/{id}/{path}")).await;
        assert_eq!(s, 422, "{path}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap_or("").contains(field),
            "{path}: {v}"
        );
    }
    let (s, _, _) = app
        .send(
            Method::GET,
            &format!("/api/v1/incidents/{id}/brief"),
            None,
            None,
        )
        .await;
    assert_eq!(s, 401);
    let (s, _, _) = app
        .send(
            Method::GET,
            &format!("/api/v1/incidents/{id}/review-draft"),
            Some(&app.viewer),
            None,
        )
        .await;
    assert_eq!(s, 200, "viewers may read briefings");
});

both!(brief_since_the_readers_last_look, |app| async move {
    let id = app.declare("Checkout down").await;
    let (_, v) = app
        .get(&format!("/api/v1/incidents/{id}/brief?reader=me"))
        .await;
    let first = v["summary"]["events_since"].as_u64().expect("count");
    assert!(first >= 2, "the first look covers everything: {v}");

    app.clock.set(minutes(5));
    let (s, _) = app
        .post(
            &format!("/api/v1/incidents/{id}/notes"),
            json!({"text": "rolled back <@U1|bob>"}),
        )
        .await;
    assert_eq!(s, 200);
    app.clock.set(minutes(6));
    let (_, v) = app
        .get(&format!("/api/v1/incidents/{id}/brief?reader=me"))
        .await;
    assert_eq!(
        v["summary"]["since"], "2026-03-29T03:12:00.001Z",
        "just after the first look"
    );
    assert_eq!(v["summary"]["events_since"], 1, "{v}");
    assert_eq!(v["summary"]["latest_note"]["text"], "rolled back @bob");

    // Nothing new since that look; another token's marks are its own.
    app.clock.set(minutes(7));
    let (_, v) = app
        .get(&format!("/api/v1/incidents/{id}/brief?reader=me"))
        .await;
    assert_eq!(v["summary"]["events_since"], 0, "{v}");
    let (_, v, _) = app
        .send(
            Method::GET,
            &format!("/api/v1/incidents/{id}/brief?reader=me"),
            Some(&app.viewer),
            None,
        )
        .await;
    assert!(v["summary"]["events_since"].as_u64().expect("count") >= 3);
    // An explicit since wins over the mark.
    let (_, v) = app
        .get(&format!(
            "/api/v1/incidents/{id}/brief?reader=me&since={}",
            minutes(4)
        ))
        .await;
    assert_eq!(v["summary"]["events_since"], 1);
});

/// The app with a language model at `fake`, `timeout` per call, opening after `failures`.
async fn with_model(
    backend: Backend,
    fake: &FakeLanguageModel,
    timeout: Duration,
    failures: u32,
) -> Option<TestApp> {
    let mut cfg = LanguageModelConfig::new(&fake.url, "fake-model-1", Some("sk-test-key".into()));
    cfg.timeout = timeout;
    cfg.failures_to_open = failures;
    spawn_app_with(backend, &demo_dir(), move |s| {
        let model = LanguageModel::new(cfg, s.clock.clone()).expect("client");
        s.with_language_model(model)
    })
    .await
}

async fn language_model_faults(backend: Backend) {
    let fake = FakeLanguageModel::start(Answer::Text(
        "**Checkout** is failing. <img src=x onerror=alert(1)>".into(),
    ))
    .await;
    let Some(app) = with_model(backend, &fake, Duration::from_millis(400), 100).await else {
        return;
    };
    let id = app.declare("Checkout down").await;
    let path = format!("/api/v1/incidents/{id}/exec-summary");
    let (s, v) = app.get(&path).await;
    assert_eq!(s, 200);
    assert_eq!(v["generated_by"], "language_model");
    assert_eq!(v["model"], "fake-model-1");
    assert_eq!(
        v["markdown"], "**Checkout** is failing. \\<img src=x onerror=alert(1)>\n",
        "the model's answer is never passed on as HTML"
    );
    assert_eq!(
        v["summary"]["incident"]["id"],
        id.as_str(),
        "structured data stays"
    );
    let req = &fake.requests()[0];
    assert_eq!(
        req.header("authorization").as_deref(),
        Some("Bearer sk-test-key")
    );
    let body = req.json();
    assert_eq!(body["model"], "fake-model-1");
    assert_eq!(body["messages"][0]["role"], "system");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .contains("Executive summary")
    );
    let (_, text, by) = app.markdown(&path).await;
    assert_eq!(by, "language_model");
    assert!(text.starts_with("**Checkout**"));

    let (_, deterministic) = {
        fake.answer(Answer::ServerError);
        app.get(&path).await
    };
    let expected = deterministic["markdown"].clone();
    assert_eq!(deterministic["generated_by"], "deterministic");
    assert!(
        expected
            .as_str()
            .unwrap_or("")
            .starts_with("### Executive summary")
    );
    for answer in [
        Answer::InvalidJson,
        Answer::EmptyChoices,
        Answer::Text("   ".into()),
        Answer::Slow(Duration::from_secs(3), "too late".into()),
    ] {
        fake.answer(answer.clone());
        let started = Instant::now();
        for kind in KINDS {
            let (s, v) = app.get(&format!("/api/v1/incidents/{id}/{kind}")).await;
            assert_eq!(s, 200, "{answer:?} {kind}");
            assert_eq!(v["generated_by"], "deterministic", "{answer:?} {kind}");
            assert_eq!(v["model"], Value::Null);
        }
        let (_, v) = app.get(&path).await;
        assert_eq!(v["markdown"], expected, "{answer:?}");
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{answer:?}: each call gives up after the timeout ({:?})",
            started.elapsed()
        );
    }
    // A brief longer than twelve lines is no brief: the deterministic one is kept.
    fake.answer(Answer::Text("line\n".repeat(13)));
    let (_, v) = app.get(&format!("/api/v1/incidents/{id}/brief")).await;
    assert_eq!(v["generated_by"], "deterministic");
    fake.answer(Answer::Text("line\n".repeat(3)));
    let (_, v) = app.get(&format!("/api/v1/incidents/{id}/brief")).await;
    assert_eq!(v["generated_by"], "language_model");
    // The review draft is never rewritten.
    let before = fake.requests().len();
    let (_, v) = app
        .get(&format!("/api/v1/incidents/{id}/review-draft"))
        .await;
    assert_eq!(v["generated_by"], "deterministic");
    assert_eq!(fake.requests().len(), before);
}

async fn circuit_breaker(backend: Backend) {
    let fake = FakeLanguageModel::start(Answer::ServerError).await;
    let Some(app) = with_model(backend, &fake, Duration::from_secs(2), 2).await else {
        return;
    };
    let id = app.declare("Checkout down").await;
    let path = format!("/api/v1/incidents/{id}/exec-summary");
    for _ in 0..2 {
        let (_, v) = app.get(&path).await;
        assert_eq!(v["generated_by"], "deterministic");
    }
    assert_eq!(fake.requests().len(), 2);
    fake.answer(Answer::Text("All fine.".into()));
    app.clock.advance(SignedDuration::from_mins(4));
    let (_, v) = app.get(&path).await;
    assert_eq!(v["generated_by"], "deterministic", "the circuit is open");
    assert_eq!(
        fake.requests().len(),
        2,
        "an open circuit does not call the model"
    );
    app.clock.advance(SignedDuration::from_mins(1));
    let (_, v) = app.get(&path).await;
    assert_eq!(
        v["generated_by"], "language_model",
        "tried again after the cool-down"
    );
    assert_eq!(v["markdown"], "All fine.\n");
}

mod language_model {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn faults_fall_back_to_deterministic_sqlite() {
        language_model_faults(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn faults_fall_back_to_deterministic_postgres() {
        language_model_faults(Backend::Postgres).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn circuit_breaker_sqlite() {
        circuit_breaker(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn circuit_breaker_postgres() {
        circuit_breaker(Backend::Postgres).await
    }
}

/// The acceptance run: a SEV1 opened by an alert, worked on the simulated clock with the
/// demo policies firing for real; the brief since T+20 and the review draft are snapshots.
async fn demo_sev1(backend: Backend) {
    let mut slot = None;
    let Some(app) = spawn_app_with(backend, &demo_dir(), |s| {
        slot = Some(s.clone());
        s
    })
    .await
    else {
        return;
    };
    let state = slot.expect("state");
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("test");
    let timers = Timers::new(state.clone());
    let at = |m: i64| {
        app.clock.set(minutes(m));
        async { scheduler.tick(&timers).await.expect("tick") }
    };

    let pd = json!({"routing_key": "demo-events-v2", "event_action": "trigger", "dedup_key": "pay-5xx",
        "payload": {"summary": "Payments 5xx above 5% | EU <b>only</b>", "source": "api-1", "severity": "critical"}});
    let (s, v, _) = app
        .send(Method::POST, "/v2/enqueue", None, Some(pd.clone()))
        .await;
    assert_eq!(s, 202, "{v}");
    let (_, alerts) = app.get("/api/v1/alerts").await;
    let id = alerts[0]["incident"]
        .as_str()
        .expect("the alert opened an incident")
        .to_string();
    let inc = |p: &str| format!("/api/v1/incidents/{id}/{p}");

    at(1).await;
    let (s, _, _) = app.send(Method::POST, "/v2/enqueue", None, Some(pd)).await;
    assert_eq!(s, 202);
    at(2).await;
    let (s, v) = app
        .post(&inc("milestones"), json!({"milestone": "acknowledged"}))
        .await;
    assert_eq!(s, 200, "{v}");
    app.post(&inc("responders"), json!({"person": "alice"}))
        .await;
    at(5).await;
    app.post(&inc("notes"), json!({"text": "5xx started with deploy <https://deploy.example/731|#731>, cc <@U02|bob> *EU only*"})).await;
    at(15).await;
    at(20).await;
    at(23).await;
    let (s, v) = app
        .post(
            &inc("milestones"),
            json!({"milestone": "blast_radius_validated"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    app.post(&inc("responders"), json!({"person": "bob"})).await;
    at(25).await;
    app.post(
        &inc("roles"),
        json!({"role": "incident_commander", "person": "bob"}),
    )
    .await;
    app.post(
        &inc("roles"),
        json!({"role": "ops_lead", "person": "alice"}),
    )
    .await;
    app.post(
        &inc("tasks"),
        json!({"title": "Roll back deploy #731", "assignee": "alice"}),
    )
    .await;
    at(28).await;
    app.post(
        &inc("milestones"),
        json!({"milestone": "customers_notified"}),
    )
    .await;
    app.post(
        &inc("milestones"),
        json!({"milestone": "status_update_posted"}),
    )
    .await;
    at(35).await;
    let (s, v) = app
        .patch(
            &format!("/api/v1/incidents/{id}"),
            json!({"status": "identified"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    at(45).await;
    app.post(&inc("milestones"), json!({"milestone": "mitigated"}))
        .await;
    app.patch(&inc("tasks/1"), json!({"done": true})).await;
    at(50).await;

    let (s, brief, _) = app
        .markdown(&inc(&format!("brief?since={}", minutes(20))))
        .await;
    assert_eq!(s, 200);
    assert!(brief.lines().count() <= 12, "{brief}");
    snapshot("demo_sev1_brief", &brief.replace(&id, "INC-n"));

    at(60).await;
    let (s, v) = app
        .post(&inc("milestones"), json!({"milestone": "resolved"}))
        .await;
    assert_eq!(s, 200, "{v}");
    at(61).await;
    let (s, review, _) = app.markdown(&inc("review-draft")).await;
    assert_eq!(s, 200);
    assert!(review.contains("| blast-radius-20m |"), "{review}");
    snapshot("demo_sev1_review", &review.replace(&id, "INC-n"));
    let (_, draft, _) = app
        .markdown(&inc("status-update-draft?audience=customer"))
        .await;
    assert!(draft.contains("resolved"), "{draft}");
}

mod acceptance {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn demo_sev1_sqlite() {
        demo_sev1(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn demo_sev1_postgres() {
        demo_sev1(Backend::Postgres).await
    }
}
