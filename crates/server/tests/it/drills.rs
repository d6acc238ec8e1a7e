//! Live drills on a server with real providers configured (fake Slack Web API and SMS, a
//! webhook sink, a real SMTP server): an accelerated drill reaches its participants and the
//! inbox only, the same scenario declared for real reaches the world; stepped drills move
//! only when stepped; the facilitator's commands, the report and the refusals.

use jiff::SignedDuration;
use muster_core::Clock;
use muster_notify::{Email, Secret, Slack, Sms, Webhook, http_client};
use muster_server::AppState;
use muster_server::deliver::{Channels, Deliverer};
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use muster_store::InboxFilter;
use muster_testkit::fakes::{self, Fake, Smtpd};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with};

struct Rig {
    app: TestApp,
    state: AppState,
    scheduler: Scheduler,
    timers: Timers,
    deliverer: Deliverer,
    slack: Fake,
    sms: Fake,
    webhook: Fake,
    smtpd: Smtpd,
    _dir: tempfile::TempDir,
}

/// The demo where every person is also reached by webhook (at the sink) and every channel
/// has a provider.
async fn rig(backend: Backend) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    let webhook = fakes::webhook_sink().await;
    let people = dir.path().join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("people");
    let text = text
        .replace(", webhook: \"https://hooks.example.com/olivia\"", "")
        .replace(
            "contact: { email:",
            &format!("contact: {{ webhook: \"{}/hook\", email:", webhook.url),
        )
        .replace(
            "notification_rules: [ { channel: slack, after: 0m },",
            "notification_rules: [ { channel: webhook, after: 0m }, { channel: slack, after: 0m },",
        );
    std::fs::write(&people, text).expect("write people");
    let mut slot = None;
    let app = spawn_app_with(backend, dir.path(), |s| {
        slot = Some(s.clone());
        s
    })
    .await?;
    let state = slot.expect("state");
    let slack = fakes::slack().await;
    let sms = fakes::sms().await;
    let smtpd = Smtpd::start().expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    let http = http_client().expect("client");
    let channels = Channels {
        slack: Some(Slack::new(
            http.clone(),
            &slack.url,
            Secret::new("xoxb-test"),
        )),
        email: Some(Email::new(&smtpd.url, "Muster <muster@example.com>").expect("email")),
        sms: Some(Sms::new(
            http.clone(),
            &sms.url,
            "AC1",
            Secret::new("t"),
            "+15005550006",
        )),
        webhook: Some(Webhook::new(http, Secret::new("s"))),
        ..Channels::default()
    };
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("drill-test");
    Some(Rig {
        timers: Timers::new(state.clone()),
        deliverer: Deliverer::new(state.clone(), channels),
        scheduler,
        state,
        app,
        slack,
        sms,
        webhook,
        smtpd,
        _dir: dir,
    })
}

impl Rig {
    /// Lets `real` seconds of real time pass, a second at a time, firing what comes due and
    /// delivering what is queued.
    async fn run_for(&self, real: i64) {
        for _ in 0..real {
            self.app.clock.advance(SignedDuration::from_secs(1));
            while self.scheduler.tick(&self.timers).await.expect("tick") > 0 {}
            for _ in 0..20 {
                if self.deliverer.tick().await.expect("deliver") == 0 {
                    break;
                }
            }
        }
    }

    fn outside_world(&self) -> usize {
        self.slack.requests().len()
            + self.sms.requests().len()
            + self.webhook.requests().len()
            + self.smtpd.messages().len()
    }

    async fn start(&self, body: Value) -> (u16, Value) {
        let (s, v, _) = self
            .app
            .send(
                reqwest::Method::POST,
                "/api/v1/drills",
                Some(&self.app.responder),
                Some(body),
            )
            .await;
        (s, v)
    }

    /// `POST /api/v1/drills/{id}/<command>` with the rest of `body`.
    async fn command(&self, id: &str, mut body: Value) -> (u16, Value) {
        let command = body["command"].as_str().expect("command").to_string();
        if let Some(map) = body.as_object_mut() {
            map.remove("command");
        }
        let path = format!("/api/v1/drills/{id}/{command}");
        let (s, v, _) = self
            .app
            .send(
                reqwest::Method::POST,
                &path,
                Some(&self.app.responder),
                Some(body),
            )
            .await;
        (s, v)
    }

    async fn timeline(&self, id: &str) -> Vec<Value> {
        let (s, v) = self
            .app
            .get(&format!("/api/v1/incidents/{id}/timeline"))
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array()
            .cloned()
            .or_else(|| v["events"].as_array().cloned())
            .unwrap_or_default()
    }

    async fn inbox(&self, id: &str) -> Vec<muster_store::InboxEntry> {
        let n = muster_core::IncidentNumber(id.trim_start_matches("INC-").parse().expect("id"));
        self.state
            .store
            .inbox(&InboxFilter {
                incident: Some(n),
                limit: Some(500),
                ..InboxFilter::default()
            })
            .await
            .expect("inbox")
    }
}

fn participants() -> Value {
    json!({ "incident_commander": "dave", "ops_lead": "erin", "comms_lead": "carol" })
}

async fn a_live_drill_reaches_only_participants_and_the_inbox(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let started = rig.app.clock.now();
    let (s, drill) = rig
        .start(json!({ "scenario": "sev1-3am-blast-radius", "speed": 60, "participants": participants() }))
        .await;
    assert_eq!(s, 201, "{drill}");
    let id = drill["id"].as_str().expect("id").to_string();
    assert_eq!(drill["incident"]["exercise"], true);
    assert!(
        drill["incident"]["title"]
            .as_str()
            .expect("title")
            .starts_with("[drill] ")
    );
    assert_eq!(drill["state"], "running");

    // 30 real seconds at ×60: half an hour of the drill.
    rig.run_for(30).await;
    assert_eq!(rig.outside_world(), 0, "a drill reached a provider");

    let events = rig.timeline(&id).await;
    let missed = events
        .iter()
        .find(|e| e["kind"] == "deadline_outcome" && e["data"]["policy"] == "blast-radius-20m")
        .expect("the blast-radius deadline passed in drill time");
    assert_eq!(missed["data"]["met"], false);
    let at: jiff::Timestamp = missed["at"].as_str().expect("at").parse().expect("time");
    assert_eq!(
        at,
        started + SignedDuration::from_mins(20),
        "stamped in drill time"
    );

    let inbox = rig.inbox(&id).await;
    let to = |who: &str| inbox.iter().filter(|e| e.recipient.contains(who)).count();
    assert!(
        to("schedule:platform-secondary") >= 1,
        "the page stays in the drill: {inbox:#?}"
    );
    assert!(
        to("erin") >= 1,
        "the ops lead's player gets the nudge: {inbox:#?}"
    );
    let persona = inbox
        .iter()
        .find(|e| e.text.contains("40 tickets in ten minutes"))
        .expect("the support desk's message");
    assert_eq!(
        (persona.recipient.as_str(), persona.person.as_deref()),
        ("person:dave", Some("dave")),
        "a player's message is theirs in the inbox"
    );
    assert!(
        inbox
            .iter()
            .all(|e| ["dave", "erin", "carol", "schedule:", "alias:"]
                .iter()
                .any(|ok| e.recipient.contains(ok))),
        "only participants and stand-ins: {inbox:#?}"
    );

    // Nothing of it on the public status page.
    let (s, v) = rig
        .app
        .post("/api/v1/status-page/incidents", json!({ "incident": id }))
        .await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["error"]["code"], "exercise");

    // The same scenario declared for real reaches the world.
    let (s, real) = rig
        .app
        .post(
            "/api/v1/incidents",
            json!({ "title": "Checkout error rate above 30 %", "severity": "SEV1", "services": ["checkout"] }),
        )
        .await;
    assert_eq!(s, 201, "{real}");
    // Drills are left out of what real incidents are compared with.
    let real_id = real["id"].as_str().expect("id");
    let (s, similar) = rig
        .app
        .get(&format!("/api/v1/incidents/{real_id}/similar"))
        .await;
    assert_eq!(s, 200, "{similar}");
    assert!(
        !similar.to_string().contains(&format!("\"{id}\"")),
        "{similar}"
    );
    rig.run_for(5).await;
    rig.app.clock.advance(SignedDuration::from_mins(21));
    rig.run_for(2).await;
    assert!(
        !rig.slack.requests().is_empty(),
        "a real incident reaches Slack"
    );
    assert!(
        !rig.webhook.requests().is_empty(),
        "and the people's webhooks"
    );
    assert!(!rig.smtpd.messages().is_empty(), "and email");
}

async fn a_stepped_drill_moves_only_when_stepped(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let (s, drill) = rig
        .start(json!({ "scenario": "sev1-3am-blast-radius", "step": true, "participants": participants() }))
        .await;
    assert_eq!(s, 201, "{drill}");
    let id = drill["id"].as_str().expect("id").to_string();
    rig.run_for(3).await;
    rig.app.clock.advance(SignedDuration::from_hours(2));
    rig.run_for(2).await;
    let (_, v) = rig.app.get(&format!("/api/v1/drills/{id}")).await;
    assert_eq!(v["elapsed_s"], 0, "{v}");
    assert_eq!(v["state"], "stepped");
    let outcomes = |events: &[Value]| {
        events
            .iter()
            .filter(|e| e["kind"] == "deadline_outcome")
            .count()
    };
    assert_eq!(outcomes(&rig.timeline(&id).await), 0);
    // The live clock counts on the drill's clock: two real hours later, no time has passed.
    let (s, clock) = rig.app.get(&format!("/api/v1/incidents/{id}/clock")).await;
    assert_eq!(s, 200, "{clock}");
    let deadline = clock["timers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["kind"] == "deadline" && t["policy"] == "blast-radius-20m")
        .unwrap_or_else(|| panic!("the blast-radius deadline is pending: {clock}"));
    assert_eq!(deadline["seconds_remaining"], 20 * 60, "{clock}");

    let (s, v) = rig
        .command(&id, json!({ "command": "step", "by": "25m" }))
        .await;
    assert_eq!(s, 200, "{v}");
    rig.run_for(5).await;
    let (_, v) = rig.app.get(&format!("/api/v1/drills/{id}")).await;
    assert_eq!(v["elapsed_s"], 25 * 60, "{v}");
    assert_eq!(
        outcomes(&rig.timeline(&id).await),
        1,
        "blast radius missed at T+20m"
    );
    rig.app.clock.advance(SignedDuration::from_hours(1));
    rig.run_for(2).await;
    let (_, v) = rig.app.get(&format!("/api/v1/drills/{id}")).await;
    assert_eq!(v["elapsed_s"], 25 * 60, "no step, no time: {v}");
    let statuses: Vec<&str> = v["injects"]
        .as_array()
        .expect("injects")
        .iter()
        .map(|i| i["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses.len(), 4, "{v}");
    assert_eq!(statuses[0], "played");
    assert_eq!(statuses[1], "played");
    assert_eq!(
        statuses[2], "pending",
        "the merchant writes at T+30m, after the step"
    );
    assert_eq!(statuses[3], "pending");
    assert_eq!(rig.outside_world(), 0);
}

async fn facilitator_commands_and_the_report(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let (s, v) = rig.start(json!({ "scenario": "no-such-drill" })).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("no drill scenario `no-such-drill`"),
        "{v}"
    );
    let (s, v) = rig
        .start(json!({ "scenario": "pr-four-hours-late", "participants": { "comms_lead": "nobody", "scribe": "carol" } }))
        .await;
    assert_eq!(s, 422, "{v}");
    let message = v["error"]["message"].as_str().unwrap_or("");
    assert!(
        message.contains("no person `nobody`") && message.contains("`scribe` is not played"),
        "{v}"
    );

    let (s, v) = rig
        .start(json!({ "scenario": "pr-four-hours-late", "speed": 20000 }))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["message"],
        "invalid speed 20000: a number from 0.01 to 10000"
    );
    let (s, drill) = rig
        .start(json!({ "scenario": "pr-four-hours-late", "speed": 600, "participants": participants() }))
        .await;
    assert_eq!(s, 201, "{drill}");
    let id = drill["id"].as_str().expect("id").to_string();
    let (s, v) = rig.command(&id, json!({ "command": "pause" })).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("paused")), "{v}");
    let (s, v) = rig.command(&id, json!({ "command": "pause" })).await;
    assert_eq!(s, 409, "{v}");
    let (s, v) = rig.command(&id, json!({ "command": "inject" })).await;
    assert_eq!(s, 200, "{v}");
    rig.run_for(1).await;
    let inbox = rig.inbox(&id).await;
    assert!(
        inbox
            .iter()
            .any(|e| e.text.contains("Social media is full of complaints")
                && e.recipient.contains("dave")),
        "inject now plays even while paused: {inbox:#?}"
    );
    // A speed out of range is refused, not a panic on the server's clock arithmetic.
    let (s, v) = rig
        .command(&id, json!({ "command": "resume", "speed": 2.4e-20 }))
        .await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(
        v["error"]["message"],
        "invalid speed 0.000000000000000000024: a number from 0.01 to 10000"
    );
    let (s, v) = rig.command(&id, json!({ "command": "resume" })).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("running")), "{v}");
    rig.run_for(3).await; // 30 drill minutes
    let (s, v) = rig.command(&id, json!({ "command": "end" })).await;
    assert_eq!((s, v["state"].as_str()), (200, Some("ended")), "{v}");
    assert_eq!(v["incident"]["status"], "resolved");
    let (s, v) = rig.command(&id, json!({ "command": "resume" })).await;
    assert_eq!(s, 409, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("has ended"),
        "{v}"
    );

    let (s, report) = rig.app.get(&format!("/api/v1/drills/{id}/report")).await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(report["exercise"], true);
    let verdict = |p: &str| {
        report["score"]["policies"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["policy"] == p))
            .map(|r| r["verdict"].clone())
    };
    assert_eq!(
        verdict("blast-radius-20m"),
        Some(json!("missed")),
        "{report}"
    );
    assert_eq!(
        verdict("sev1-customers-notified-30m"),
        Some(json!("missed"))
    );
    let (s, md) = rig
        .app
        .get(&format!("/api/v1/drills/{id}/report?format=markdown"))
        .await;
    assert_eq!(s, 200);
    assert!(
        md.as_str()
            .unwrap_or("")
            .starts_with("# Drill report: PR brought in four hours late"),
        "{md}"
    );
    assert_eq!(rig.outside_world(), 0);
}

async fn the_policies_report_counts_drills_and_real_incidents_apart(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let (s, drill) = rig
        .start(json!({ "scenario": "sev1-3am-blast-radius", "speed": 60, "participants": participants() }))
        .await;
    assert_eq!(s, 201, "{drill}");
    rig.run_for(25).await; // the drill's blast radius is missed at T+20m
    let declare = || {
        rig.app.post(
            "/api/v1/incidents",
            json!({ "title": "Checkout failing", "severity": "SEV1", "services": ["checkout"] }),
        )
    };
    let (_, met) = declare().await;
    let (_, missed) = declare().await;
    let met = met["id"].as_str().expect("id").to_string();
    rig.app.clock.advance(SignedDuration::from_mins(10));
    let (s, v) = rig
        .app
        .post(
            &format!("/api/v1/incidents/{met}/milestones"),
            json!({ "milestone": "blast_radius_validated" }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    rig.app.clock.advance(SignedDuration::from_mins(11));
    rig.run_for(1).await;
    assert!(missed["id"].is_string());

    let (s, report) = rig.app.get("/api/v1/reports/policies").await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        (report["real_incidents"].as_u64(), report["drills"].as_u64()),
        (Some(2), Some(1))
    );
    let br = report["policies"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["policy"] == "blast-radius-20m"))
        .expect("blast-radius-20m")
        .clone();
    let c = |side: &str| {
        let x = &br[side];
        (
            x["applied"].as_u64(),
            x["met"].as_u64(),
            x["missed"].as_u64(),
        )
    };
    assert_eq!(c("all"), (Some(3), Some(1), Some(2)), "{br}");
    assert_eq!(c("real"), (Some(2), Some(1), Some(1)), "{br}");
    assert_eq!(c("drills"), (Some(1), Some(0), Some(1)), "{br}");
    assert_eq!(
        br["real"]["median_margin_s"], 600,
        "validated 10 minutes early"
    );

    let (s, v) = rig
        .app
        .get("/api/v1/reports/policies?since=2999-01-01T00:00:00Z")
        .await;
    assert_eq!(
        (s, v["real_incidents"].as_u64(), v["drills"].as_u64()),
        (200, Some(0), Some(0))
    );
    let (s, v) = rig
        .app
        .get("/api/v1/reports/policies?since=yesterday")
        .await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("invalid since `yesterday`")
    );
}

mod a_live_drill_reaches_only_participants_and_the_inbox {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::a_live_drill_reaches_only_participants_and_the_inbox(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::a_live_drill_reaches_only_participants_and_the_inbox(Backend::Postgres).await
    }
}

mod a_stepped_drill_moves_only_when_stepped {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::a_stepped_drill_moves_only_when_stepped(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::a_stepped_drill_moves_only_when_stepped(Backend::Postgres).await
    }
}

mod facilitator_commands_and_the_report {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::facilitator_commands_and_the_report(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::facilitator_commands_and_the_report(Backend::Postgres).await
    }
}

mod the_policies_report_counts_drills_and_real_incidents_apart {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::the_policies_report_counts_drills_and_real_incidents_apart(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::the_policies_report_counts_drills_and_real_incidents_apart(Backend::Postgres).await
    }
}
