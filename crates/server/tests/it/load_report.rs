//! The load report on a history built by hand through the API on the simulated clock: three
//! real incidents declared at known instants, paged by an escalation policy the scheduler
//! fires, acknowledged, mitigated and resolved at known offsets, and one drill kept apart.

use jiff::SignedDuration;
use muster_core::Timestamp;
use muster_server::AppState;
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with};

/// The demo with its policies replaced by two: every SEV1 pages `load-escalation` (priya,
/// then grace 10 minutes later unless acknowledged) and nudges the incident commander when
/// not acknowledged within 5 minutes.
const POLICIES: &str = r#"
escalation_policies:
  - id: load-escalation
    name: Load escalation
    steps:
      - targets: [ { person: priya } ]
        delay: 10m
      - targets: [ { person: grace } ]
        delay: 10m
policies:
  - id: page-sev1
    description: Every SEV1 pages the escalation.
    when: { severity: [SEV1] }
    on_event: { milestone: declared }
    actions:
      - page: { escalation_policy: load-escalation }
  - id: ack-5m
    description: Acknowledge a SEV1 within 5 minutes, or nudge the commander.
    when: { severity: [SEV1] }
    deadline: { within: 5m, of: declared, expect: acknowledged }
    on_missed: [ nudge: { role: incident_commander } ]
"#;

struct Rig {
    app: TestApp,
    scheduler: Scheduler,
    timers: Timers,
    _dir: tempfile::TempDir,
}

async fn rig(backend: Backend) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::remove_dir_all(dir.path().join("policies")).expect("policies");
    std::fs::write(dir.path().join("load-policies.yaml"), POLICIES).expect("write");
    let mut slot: Option<AppState> = None;
    let app = spawn_app_with(backend, dir.path(), |s| {
        slot = Some(s.clone());
        s
    })
    .await?;
    let state = slot.expect("state");
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("load");
    Some(Rig {
        timers: Timers::new(state),
        scheduler,
        app,
        _dir: dir,
    })
}

fn t(s: &str) -> Timestamp {
    s.parse().expect("instant")
}

impl Rig {
    /// Moves the simulated clock to `at` and fires what is due.
    async fn at(&self, at: Timestamp) {
        self.app.clock.set(at);
        while self.scheduler.tick(&self.timers).await.expect("tick") > 0 {}
    }

    async fn declare(&self, at: &str, severity: &str, service: &str) -> (String, Timestamp) {
        let at = t(at);
        self.at(at).await;
        let (s, v) = self
            .app
            .post(
                "/api/v1/incidents",
                json!({"title": "Load", "severity": severity, "services": [service]}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        (v["id"].as_str().expect("id").to_string(), at)
    }

    async fn milestone(&self, id: &str, start: Timestamp, mins: i64, milestone: &str) {
        self.at(start + SignedDuration::from_mins(mins)).await;
        let (s, v) = self
            .app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({ "milestone": milestone }),
            )
            .await;
        assert_eq!(s, 200, "{milestone} of {id}: {v}");
    }

    async fn svg(&self, path: &str) -> (u16, String, String) {
        let resp = self
            .app
            .http
            .get(format!("{}{path}", self.app.base))
            .bearer_auth(&self.app.viewer)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let kind = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, kind, resp.text().await.expect("body"))
    }
}

/// `(business, off_hours, sleep, total)` of a bucket object.
fn buckets(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (n("business"), n("off_hours"), n("sleep"), n("total"))
}

/// `(count, median_s, p90_s, mean_s)` of a stats object.
fn stats(v: &Value) -> (u64, u64, u64, u64) {
    let n = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
    (n("count"), n("median_s"), n("p90_s"), n("mean_s"))
}

async fn load_report_from_a_hand_built_history(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    // 1. SEV1 on checkout (payments), Tuesday 21:30 UTC: priya paged at 03:00 Wednesday in
    //    Kolkata (sleep); bob, commander, nudged at 5 min (22:35 in London: sleep); grace
    //    paged at 10 min (17:40 in New York: business); acknowledged at 12, mitigated at 30,
    //    resolved at 60.
    let (one, at) = rig
        .declare("2026-03-31T21:30:00Z", "SEV1", "checkout")
        .await;
    let (s, v) = rig
        .app
        .post(
            &format!("/api/v1/incidents/{one}/roles"),
            json!({"role": "incident_commander", "person": "bob"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    rig.at(at + SignedDuration::from_mins(5)).await;
    rig.at(at + SignedDuration::from_mins(10)).await;
    rig.milestone(&one, at, 12, "acknowledged").await;
    rig.milestone(&one, at, 30, "mitigated").await;
    rig.milestone(&one, at, 60, "resolved").await;
    // 2. SEV2 on payments-api, Wednesday noon: nobody paged; acknowledged at 2, resolved at 90.
    let (two, at) = rig
        .declare("2026-04-01T12:00:00Z", "SEV2", "payments-api")
        .await;
    rig.milestone(&two, at, 2, "acknowledged").await;
    rig.milestone(&two, at, 90, "resolved").await;
    // 3. SEV1 on postgres (platform), Saturday 11:00 UTC: priya paged at 16:30 in Kolkata
    //    (off-hours, a weekend); acknowledged at 3 (no nudge, no second step), mitigated at
    //    20, resolved at 40.
    let (three, at) = rig
        .declare("2026-04-04T11:00:00Z", "SEV1", "postgres")
        .await;
    rig.milestone(&three, at, 3, "acknowledged").await;
    rig.milestone(&three, at, 20, "mitigated").await;
    rig.milestone(&three, at, 40, "resolved").await;
    // A drill: its pages reach stand-ins in the inbox, and the report leaves it out.
    let (s, drill) = rig
        .app
        .post(
            "/api/v1/drills",
            json!({"scenario": "exec-vip-call", "speed": 60,
                   "participants": {"incident_commander": "priya", "comms_lead": "carol", "executive": "grace"}}),
        )
        .await;
    assert_eq!(s, 201, "{drill}");
    rig.at(t("2026-04-05T00:00:00Z")).await;

    let (s, r) = rig.app.get("/api/v1/reports/load").await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(
        (r["real_incidents"].as_u64(), r["drills"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(r["now"], "2026-04-05T00:00:00Z");
    let people: Vec<&str> = r["people"]
        .as_array()
        .expect("people")
        .iter()
        .filter_map(|p| p["person"].as_str())
        .collect();
    assert_eq!(
        people,
        vec!["priya", "bob", "grace"],
        "sleep, then total: {r}"
    );
    let person = |id: &str| {
        r["people"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["person"] == id))
            .cloned()
            .expect("person")
    };
    let priya = person("priya");
    assert_eq!(priya["time_zone"], "Asia/Kolkata");
    assert_eq!(buckets(&priya["pages"]), (0, 1, 1, 2), "{priya}");
    assert_eq!(buckets(&priya["nudges"]), (0, 0, 0, 0), "{priya}");
    assert_eq!(buckets(&priya["trailing_21d"]), (0, 1, 1, 2), "{priya}");
    let shifts = |p: &Value| {
        (
            p["incidents"].as_u64(),
            p["shifts"].as_u64(),
            p["shifts_over_2_incidents"].as_u64(),
        )
    };
    assert_eq!(shifts(&priya), (Some(2), Some(2), Some(0)));
    let bob = person("bob");
    assert_eq!(buckets(&bob["pages"]), (0, 0, 0, 0), "{bob}");
    assert_eq!(buckets(&bob["nudges"]), (0, 0, 1, 1), "{bob}");
    assert_eq!(buckets(&bob["interruptions"]), (0, 0, 1, 1), "{bob}");
    let grace = person("grace");
    assert_eq!(buckets(&grace["pages"]), (1, 0, 0, 1), "{grace}");
    // Heatmap: priya Wednesday 03 and Saturday 16 (Kolkata), grace Tuesday 17 (New York).
    let h = &r["pages_by_hour_of_week"];
    assert_eq!(
        (&h[2][3], &h[5][16], &h[1][17]),
        (&json!(1), &json!(1), &json!(1))
    );
    let all: u64 = h
        .as_array()
        .expect("rows")
        .iter()
        .flat_map(|row| row.as_array().expect("row").iter())
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(all, 3, "the drill pages nobody: {h}");

    // MTTA 720, 120, 180 s; mitigated 1800, 1200; resolved 3600, 5400, 2400.
    let resp = &r["response"];
    assert_eq!(resp["all"]["incidents"], 3);
    assert_eq!(stats(&resp["all"]["acknowledged"]), (3, 180, 720, 340));
    assert_eq!(stats(&resp["all"]["mitigated"]), (2, 1200, 1800, 1500));
    assert_eq!(stats(&resp["all"]["resolved"]), (3, 3600, 5400, 3800));
    assert_eq!(
        stats(&resp["by_severity"]["SEV1"]["acknowledged"]),
        (2, 180, 720, 450)
    );
    assert_eq!(
        stats(&resp["by_severity"]["SEV2"]["resolved"]),
        (1, 5400, 5400, 5400)
    );
    assert_eq!(
        stats(&resp["by_team"]["payments"]["acknowledged"]),
        (2, 120, 720, 420)
    );
    assert_eq!(
        stats(&resp["by_team"]["platform"]["resolved"]),
        (1, 2400, 2400, 2400)
    );
    assert_eq!(
        stats(&resp["by_service"]["checkout"]["mitigated"]),
        (1, 1800, 1800, 1800)
    );
    let teams: Vec<&String> = resp["by_team"].as_object().expect("teams").keys().collect();
    assert_eq!(teams, vec!["payments", "platform"]);
    assert_eq!(
        resp["by_team"]["payments"]["incidents"], 2,
        "the drill is left out"
    );

    // `since` narrows to the incidents declared from then; a bad one is a 422 naming it.
    let (s, v) = rig
        .app
        .get("/api/v1/reports/load?since=2026-04-02T00:00:00Z")
        .await;
    assert_eq!((s, v["real_incidents"].as_u64()), (200, Some(1)), "{v}");
    let (s, v) = rig.app.get("/api/v1/reports/load?since=yesterday").await;
    assert_eq!(s, 422, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.starts_with("invalid since `yesterday`"),
        "{message}"
    );

    let (s, kind, heatmap) = rig.svg("/api/v1/reports/load/heatmap.svg").await;
    assert_eq!((s, kind.as_str()), (200, "image/svg+xml"));
    assert_eq!(heatmap.matches("<rect class=\"cell\"").count(), 7 * 24);
    assert!(
        heatmap.contains("<title>Wed 03:00–04:00: 1 page</title>"),
        "{heatmap}"
    );
    let (s, kind, bars) = rig.svg("/api/v1/reports/load/people.svg").await;
    assert_eq!((s, kind.as_str()), (200, "image/svg+xml"));
    assert_eq!(bars.matches("<g class=\"bar\">").count(), 3);
    let (s, _, _) = rig.svg("/api/v1/reports/load/people.svg?since=nope").await;
    assert_eq!(s, 422);
    let (s, _, _) = rig
        .app
        .send(
            reqwest::Method::GET,
            "/api/v1/reports/load/heatmap.svg",
            None,
            None,
        )
        .await;
    assert_eq!(s, 401);
}

mod load_report_gives_the_known_answers {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::load_report_from_a_hand_built_history(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::load_report_from_a_hand_built_history(Backend::Postgres).await
    }
}
