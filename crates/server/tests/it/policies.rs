//! Policies running for real: declared incidents arm durable timers, the scheduler fires them
//! on the simulated clock, and the outbox, timeline and live clock show the result.

use std::sync::Arc;

use jiff::SignedDuration;
use muster_core::{Clock, IncidentNumber, SimulatedClock, Timestamp};
use muster_server::AppState;
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use muster_store::{OutboxRecord, Store};
use serde_json::{Value, json};

use crate::support::{Backend, T0, TestApp, TestDb, copy_dir, demo_dir, spawn_app_with};

struct PolicyApp {
    app: TestApp,
    state: AppState,
    scheduler: Scheduler,
    handler: Timers,
}

async fn spawn(backend: Backend, config: &std::path::Path) -> Option<PolicyApp> {
    let mut slot = None;
    let app = spawn_app_with(backend, config, |s| {
        slot = Some(s.clone());
        s
    })
    .await?;
    let state = slot.expect("state captured");
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("test");
    let handler = Timers::new(state.clone());
    Some(PolicyApp {
        app,
        state,
        scheduler,
        handler,
    })
}

fn t0() -> Timestamp {
    T0.parse().expect("t0")
}

fn minutes(m: i64) -> Timestamp {
    t0() + SignedDuration::from_mins(m)
}

impl PolicyApp {
    /// Moves the simulated clock to `at` and lets the scheduler fire what is due.
    async fn at(&self, at: Timestamp) -> usize {
        self.app.clock.set(at);
        self.scheduler.tick(&self.handler).await.expect("tick")
    }

    async fn outbox(&self, id: &str) -> Vec<OutboxRecord> {
        let n = IncidentNumber(id.trim_start_matches("INC-").parse().expect("number"));
        self.state
            .store
            .outbox_for_incident(n)
            .await
            .expect("outbox")
    }

    async fn item(&self, id: &str, key: &str) -> Option<OutboxRecord> {
        let key = format!("{id}/{key}");
        self.outbox(id)
            .await
            .into_iter()
            .find(|o| o.idempotency_key == key)
    }

    async fn timeline(&self, id: &str) -> Vec<Value> {
        let (s, v) = self
            .app
            .get(&format!("/api/v1/incidents/{id}/timeline"))
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array().expect("array").clone()
    }

    async fn fired(&self, id: &str, policy: &str) -> Vec<Value> {
        self.timeline(id)
            .await
            .into_iter()
            .filter(|e| e["kind"] == "policy_fired" && e["data"]["policy"] == policy)
            .collect()
    }

    async fn clock(&self, id: &str) -> Value {
        let (s, v) = self.app.get(&format!("/api/v1/incidents/{id}/clock")).await;
        assert_eq!(s, 200, "{v}");
        v
    }

    fn on_call(&self, schedule: &str, at: Timestamp) -> Vec<String> {
        let cfg = self.state.config();
        let s = cfg.config.core_schedule(schedule).expect("schedule");
        muster_core::schedule::on_call(&s, at)
    }
}

fn deadline_timers(clock: &Value, policy: &str) -> Vec<Value> {
    clock["timers"]
        .as_array()
        .expect("timers")
        .iter()
        .filter(|t| t["policy"] == policy)
        .cloned()
        .collect()
}

macro_rules! both_policies {
    ($name:ident, $config:expr, |$app:ident| $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let config = $config;
                let Some($app) = spawn(Backend::Sqlite, &config).await else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let config = $config;
                let Some($app) = spawn(Backend::Postgres, &config).await else {
                    return;
                };
                $body.await
            }
        }
    };
}

both_policies!(
    missed_deadline_nudges_then_pages_and_explains,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Checkout down").await;
        let clock = p.clock(&id).await;
        let blast = deadline_timers(&clock, "blast-radius-20m");
        let due = blast
            .iter()
            .find(|t| t["kind"] == "deadline")
            .expect("deadline");
        assert_eq!(due["due_at"], json!(minutes(20).to_string()));
        assert_eq!(due["seconds_remaining"], 1200);
        assert_eq!(due["expect"], "blast_radius_validated");

        p.at(minutes(14)).await;
        assert!(
            p.item(&id, "blast-radius-20m:deadline:1:warn:0")
                .await
                .is_none()
        );
        p.at(minutes(15)).await;
        let nudge = p
            .item(&id, "blast-radius-20m:deadline:1:warn:0")
            .await
            .expect("nudge queued at 15 min");
        assert_eq!(nudge.effect, "nudge");
        let fired = p.fired(&id, "blast-radius-20m").await;
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(
            fired[0]["data"]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("deadline in 5 min")
        );

        p.at(minutes(20)).await;
        let page = p
            .item(&id, "blast-radius-20m:deadline:1:missed:0")
            .await
            .expect("page queued at 20 min");
        assert_eq!(page.effect, "page");
        assert_eq!(
            page.payload["action"],
            json!({"page": {"target": {"schedule": "platform-secondary"}}})
        );
        let on_call = p.on_call("platform-secondary", minutes(20));
        assert!(!on_call.is_empty());
        assert_eq!(page.payload["to"], json!(on_call));
        let notify = p
            .item(&id, "blast-radius-20m:deadline:1:missed:1")
            .await
            .expect("notify queued at 20 min");
        assert_eq!(notify.effect, "notify");
        assert_eq!(notify.payload["action"]["notify"]["alias"], "comms-leads");

        let fired = p.fired(&id, "blast-radius-20m").await;
        assert_eq!(fired.len(), 2, "{fired:?}");
        let missed = &fired[1];
        assert_eq!(missed["actor"], "policy:blast-radius-20m");
        assert_eq!(
            missed["data"]["reason"],
            "20 min since declared at 03:12 UTC; blast radius not validated"
        );
        assert_eq!(missed["data"]["recipients"][0], json!(on_call[0]));
        assert!(missed["data"].get("late_by_ms").is_none());
        let outcome = p
            .timeline(&id)
            .await
            .into_iter()
            .find(|e| e["kind"] == "deadline_outcome" && e["data"]["policy"] == "blast-radius-20m")
            .expect("outcome");
        assert_eq!(outcome["data"]["met"], false);

        assert!(deadline_timers(&p.clock(&id).await, "blast-radius-20m").is_empty());
        // The milestone comes late: the instance keeps its one outcome, and the review reads
        // it as late by how long it took.
        p.at(minutes(23)).await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({"milestone": "blast_radius_validated"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let outcomes: Vec<Value> = p
            .timeline(&id)
            .await
            .into_iter()
            .filter(|e| {
                e["kind"] == "deadline_outcome" && e["data"]["policy"] == "blast-radius-20m"
            })
            .collect();
        assert_eq!(
            outcomes.len(),
            1,
            "one outcome per deadline instance: {outcomes:?}"
        );
        let (s, review) = p
            .app
            .get(&format!("/api/v1/incidents/{id}/review-draft"))
            .await;
        assert_eq!(s, 200, "{review}");
        let row = review["summary"]["adherence"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|d| d["policy"] == "blast-radius-20m")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            (&row["met"], &row["margin_secs"]),
            (&json!(false), &json!(-180)),
            "{review}"
        );
        // Nothing fires twice.
        p.at(minutes(90)).await;
        assert_eq!(p.fired(&id, "blast-radius-20m").await.len(), 2);
    }
);

both_policies!(
    validated_at_minute_19_is_met_and_nothing_more_fires,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Checkout slow").await;
        p.at(minutes(19)).await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({"milestone": "blast_radius_validated"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let outcome = p
            .timeline(&id)
            .await
            .into_iter()
            .find(|e| e["kind"] == "deadline_outcome" && e["data"]["policy"] == "blast-radius-20m")
            .expect("outcome recorded");
        assert_eq!(outcome["data"]["met"], true);
        assert_eq!(outcome["data"]["margin_secs"], 60);
        assert_eq!(outcome["data"]["by"], "alice");
        assert!(deadline_timers(&p.clock(&id).await, "blast-radius-20m").is_empty());

        p.at(minutes(20)).await;
        p.at(minutes(60)).await;
        assert!(
            p.item(&id, "blast-radius-20m:deadline:1:missed:0")
                .await
                .is_none()
        );
        let fired = p.fired(&id, "blast-radius-20m").await;
        assert_eq!(fired.len(), 1, "only the 15-minute nudge: {fired:?}");
    }
);

/// The demo config plus a policy that pages the platform escalation policy on every SEV1.
fn escalation_config() -> std::path::PathBuf {
    let dir = tempfile::tempdir().expect("tempdir").keep();
    copy_dir(&demo_dir(), &dir);
    std::fs::write(
        dir.join("policies/page-platform.yaml"),
        "policies:\n  - id: page-platform\n    description: test - page the platform escalation\n    \
         when: { severity: [SEV1] }\n    on_event: { milestone: declared }\n    actions:\n      \
         - page: { escalation_policy: platform-escalation }\n",
    )
    .expect("write policy");
    dir
}

const ESC: &str = "page-platform:event:1:0";

both_policies!(
    escalation_pages_step_by_step_until_acknowledged,
    escalation_config(),
    |p| async move {
        let id = p.app.declare("Checkout down").await;
        let step1 = p
            .item(&id, &format!("{ESC}/esc:0:0:0"))
            .await
            .expect("step 1 paged at once");
        assert_eq!(
            step1.payload["to"],
            json!(p.on_call("platform-primary", t0()))
        );
        let clock = p.clock(&id).await;
        let next = &clock["escalations"][0];
        assert_eq!(next["step"], 1);
        assert_eq!(next["seconds_remaining"], 600);

        p.at(minutes(9)).await;
        assert!(p.item(&id, &format!("{ESC}/esc:0:1:0")).await.is_none());
        p.at(minutes(10)).await;
        let step2 = p
            .item(&id, &format!("{ESC}/esc:0:1:0"))
            .await
            .expect("step 2 after 10 min without acknowledgement");
        assert_eq!(
            step2.payload["to"],
            json!(p.on_call("platform-secondary", minutes(10)))
        );

        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({"milestone": "acknowledged"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert!(
            p.timeline(&id)
                .await
                .iter()
                .any(|e| e["kind"] == "escalation_stopped")
        );
        assert_eq!(p.clock(&id).await["escalations"], json!([]));
        p.at(minutes(120)).await;
        let later: Vec<String> = p
            .outbox(&id)
            .await
            .into_iter()
            .map(|o| o.idempotency_key)
            .filter(|k| {
                k.contains("/esc:") && !k.ends_with("esc:0:0:0") && !k.ends_with("esc:0:1:0")
            })
            .collect();
        assert!(later.is_empty(), "paged after acknowledgement: {later:?}");
    }
);

both_policies!(
    acknowledged_before_step_two_pages_once,
    escalation_config(),
    |p| async move {
        let id = p.app.declare("Checkout down").await;
        p.at(minutes(5)).await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{id}/milestones"),
                json!({"milestone": "acknowledged"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        p.at(minutes(120)).await;
        let pages: Vec<String> = p
            .outbox(&id)
            .await
            .into_iter()
            .map(|o| o.idempotency_key)
            .filter(|k| k.contains("/esc:"))
            .collect();
        assert_eq!(pages, vec![format!("{id}/{ESC}/esc:0:0:0")]);
    }
);

/// Two schedulers (distinct owners, two store handles) share one PostgreSQL database with
/// 1,000 policy timers (250 SEV1s × 4): every timer fires once, every action is queued once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_schedulers_on_postgres_fire_each_policy_timer_once() {
    let Some(db) = TestDb::fresh(Backend::Postgres).await else {
        return;
    };
    let (a, b) = (
        Store::connect(&db.url()).await.expect("a"),
        Store::connect(&db.url()).await.expect("b"),
    );
    let clock = Arc::new(SimulatedClock::new(t0()));
    let config = muster_config::load(&demo_dir()).expect("demo config");
    let state_a = AppState::new(
        a.clone(),
        clock.clone() as Arc<dyn Clock>,
        config.clone(),
        None,
    );
    let state_b = AppState::new(b.clone(), clock.clone() as Arc<dyn Clock>, config, None);
    let cfg = state_a.config();
    for i in 0..250 {
        let changes = muster_core::declare(
            &format!("incident {i}"),
            muster_core::Severity::Sev1,
            &["checkout".to_string()],
            &cfg.vocab,
        )
        .expect("declare");
        let declared = changes.clone();
        let overrides = Default::default();
        let reactions = muster_server::reactions::Reactions {
            cfg: &cfg,
            overrides: &overrides,
            now: t0(),
        };
        a.declare_with_policy("alice", t0(), changes, |inc, st| {
            reactions
                .declared(
                    inc,
                    st,
                    &declared,
                    "alice",
                    muster_server::reactions::Opener::Person,
                )
                .into_parts()
        })
        .await
        .expect("declared");
    }
    clock.set(minutes(60));
    let (ha, hb) = (Timers::new(state_a), Timers::new(state_b));
    let sa = Scheduler::new(a.clone(), clock.clone())
        .with_owner("node-a")
        .with_batch(25);
    let sb = Scheduler::new(b.clone(), clock.clone())
        .with_owner("node-b")
        .with_batch(25);
    let mut total = 0;
    loop {
        let (fa, fb) = tokio::join!(sa.tick(&ha), sb.tick(&hb));
        let n = fa.expect("a") + fb.expect("b");
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 1250);
    let mut owners = std::collections::BTreeSet::new();
    for i in 1..=250 {
        let n = IncidentNumber(i);
        let timers = a.timers_for_incident(n).await.expect("timers");
        let fired: Vec<_> = timers.iter().filter(|t| t.fired_at.is_some()).collect();
        assert_eq!(fired.len(), 5, "INC-{i}: {timers:?}");
        owners.extend(fired.iter().filter_map(|t| t.fired_by.clone()));
        let outbox = a.outbox_for_incident(n).await.expect("outbox");
        let keys: std::collections::BTreeSet<_> =
            outbox.iter().map(|o| o.idempotency_key.clone()).collect();
        assert_eq!(keys.len(), outbox.len());
        // staff-major-incidents (3 actions), two warnings, page + notify, pr-oncall notify,
        // the sev1-payments playbook's two alias notifications, legal told at declaration
        // and, unacknowledged at 1 h, legal on call paged and the executives told.
        assert_eq!(outbox.len(), 13, "INC-{i}: {keys:?}");
        let fired_records = a
            .timeline(n, 0, 1000)
            .await
            .expect("timeline")
            .into_iter()
            .filter(|e| e.change.kind() == "policy_fired")
            .count();
        assert_eq!(fired_records, 7, "INC-{i}: each firing recorded once");
    }
    assert!(
        owners.iter().all(|o| o == "node-a" || o == "node-b"),
        "{owners:?}"
    );
    a.close().await;
    b.close().await;
}

both_policies!(
    pages_reach_whoever_a_runtime_override_puts_on_call,
    demo_dir(),
    |p| async move {
        let configured = p.on_call("platform-secondary", minutes(20));
        let stand_in = if configured == ["erin"] {
            "bob"
        } else {
            "erin"
        };
        let body = json!({
            "person": stand_in,
            "from": minutes(0).to_string(),
            "to": minutes(60).to_string(),
            "reason": "covering during the game day"
        });
        let (s, v) = p
            .app
            .post_as(
                &p.app.admin,
                "/api/v1/schedules/platform-secondary/overrides",
                body,
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let id = p.app.declare("Checkout down").await;
        p.at(minutes(20)).await;
        let page = p
            .item(&id, "blast-radius-20m:deadline:1:missed:0")
            .await
            .expect("page queued at 20 min");
        assert_eq!(
            page.payload["to"],
            json!([stand_in]),
            "the override is honoured"
        );
    }
);

both_policies!(
    a_lone_responder_gets_help_after_15_minutes,
    demo_dir(),
    |p| async move {
        let alone = p.app.declare("Alone at night").await;
        let paired = p.app.declare("Two on it").await;
        for id in [&alone, &paired] {
            let (s, v) = p
                .app
                .post(
                    &format!("/api/v1/incidents/{id}/responders"),
                    json!({"person": "alice"}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["responders"], json!(["alice"]));
        }
        p.at(minutes(10)).await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{paired}/responders"),
                json!({"person": "bob"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        p.at(minutes(14)).await;
        assert!(
            p.fired(&alone, "no-solo-heroics").await.is_empty(),
            "not before 15 min"
        );
        p.at(minutes(15)).await;
        let fired = p.fired(&alone, "no-solo-heroics").await;
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert!(
            p.fired(&paired, "no-solo-heroics").await.is_empty(),
            "two responders: no page"
        );

        // Leaving is recorded, and leaving twice is a conflict.
        let path = format!("/api/v1/incidents/{paired}/responders/bob");
        let (s, v, _) = p
            .app
            .send(reqwest::Method::DELETE, &path, Some(&p.app.responder), None)
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["responders"], json!(["alice"]));
        let (s, _, _) = p
            .app
            .send(reqwest::Method::DELETE, &path, Some(&p.app.responder), None)
            .await;
        assert_eq!(s, 409);
    }
);

both_policies!(
    security_incidents_bring_in_legal_at_once,
    demo_dir(),
    |p| async move {
        let (s, v) = p
            .app
            .post(
                "/api/v1/incidents",
                json!({"title": "Leaked API keys", "severity": "SEV2", "incident_type": "security"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["incident_type"], "security");
        let id = v["id"].as_str().unwrap().to_string();
        let legal: Vec<OutboxRecord> = p
            .outbox(&id)
            .await
            .into_iter()
            .filter(|o| o.idempotency_key.contains("legal-on-data-incidents"))
            .collect();
        assert!(
            legal
                .iter()
                .any(|o| o.payload["action"]["notify"]["alias"] == "legal"),
            "{legal:?}"
        );
        let plain = p.app.declare("Plain outage").await;
        assert!(
            !p.outbox(&plain)
                .await
                .iter()
                .any(|o| o.idempotency_key.contains("legal-on-data-incidents")),
            "only typed incidents"
        );
        let (s, v) = p
            .app
            .post(
                "/api/v1/incidents",
                json!({"title": "x", "severity": "SEV2", "incident_type": "Not A Type"}),
            )
            .await;
        assert_eq!(s, 422, "{v}");
    }
);

both_policies!(
    an_acknowledged_status_update_nudge_does_not_escalate,
    demo_dir(),
    |p| async move {
        let mut ids = Vec::new();
        for title in ["acked", "ignored"] {
            let id = p.app.declare(title).await;
            let (s, v) = p
                .app
                .post(
                    &format!("/api/v1/incidents/{id}/milestones"),
                    json!({"milestone": "acknowledged"}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            ids.push(id);
        }
        p.at(minutes(30)).await;
        let nudge_key = |items: Vec<OutboxRecord>| {
            items
                .into_iter()
                .find(|o| o.idempotency_key.contains("sev1-status-updates") && o.effect == "nudge")
                .map(|o| o.idempotency_key)
                .expect("status update nudge at 30 min")
        };
        let key = nudge_key(p.outbox(&ids[0]).await);
        let engine_key = key.split_once('/').expect("incident prefix").1.to_string();
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{}/nudges/ack", ids[0]),
                json!({"key": engine_key}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        p.at(minutes(41)).await;
        let escalations = |items: Vec<OutboxRecord>| {
            items
                .into_iter()
                .filter(|o| {
                    o.idempotency_key.contains("sev1-status-updates")
                        && o.idempotency_key.contains("escalat")
                })
                .count()
        };
        assert_eq!(
            escalations(p.outbox(&ids[0]).await),
            0,
            "acknowledged: no escalation"
        );
        assert_eq!(
            escalations(p.outbox(&ids[1]).await),
            1,
            "ignored: escalated to the incident commander"
        );
    }
);

both_policies!(
    tasks_from_policies_land_on_the_checklist,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Checkout down").await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{id}/tasks"),
                json!({"title": "Roll back"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = p
            .app
            .patch(
                &format!("/api/v1/incidents/{id}"),
                json!({"status": "resolved"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let titles: Vec<(i64, &str)> = v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["id"].as_i64().unwrap(), t["title"].as_str().unwrap()))
            .collect();
        assert_eq!(
            titles,
            [
                (1, "Open an incident channel and post the first update"),
                // The sev1-payments playbook's checklist, after the policy's task.
                (2, "Open a status page incident"),
                (3, "Page the database on-call if p99 > 2s"),
                (4, "Check the payment provider's status page"),
                (5, "Roll back"),
                (6, "Schedule the post-incident review within 5 working days"),
            ]
        );
    }
);

/// A configuration reload re-plans the armed timers of open incidents: a changed deadline
/// moves (from when it was armed), a removed policy's timers are cancelled, and both are on
/// the timeline, named for the reload.
async fn a_reload_replans_armed_timers(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    let Some(p) = spawn(backend, dir.path()).await else {
        return;
    };
    let id = p.app.declare("Checkout slow").await;
    let due = |clock: &Value, policy: &str, kind: &str| {
        clock["timers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["policy"] == policy && t["kind"] == kind)
            .map(|t| t["due_at"].as_str().unwrap_or_default().to_string())
    };
    let clock = p.clock(&id).await;
    assert_eq!(
        due(&clock, "blast-radius-20m", "deadline").as_deref(),
        Some("2026-03-29T03:32:00Z"),
        "{clock}"
    );
    assert!(due(&clock, "sev1-customers-notified-30m", "deadline").is_some());

    // 20 minutes become 30; the customers deadline leaves the configuration.
    let policies = dir.path().join("policies");
    let blast = std::fs::read_to_string(policies.join("blast-radius.yaml")).expect("read");
    std::fs::write(
        policies.join("blast-radius.yaml"),
        blast.replace("within: 20m", "within: 30m"),
    )
    .expect("write");
    let comms = std::fs::read_to_string(policies.join("communication.yaml")).expect("read");
    let start = comms
        .find("  - id: sev1-customers-notified-30m")
        .expect("policy");
    let end = comms.find("  # Executives").expect("next policy");
    std::fs::write(
        policies.join("communication.yaml"),
        format!("{}{}", &comms[..start], &comms[end..]),
    )
    .expect("write");
    std::fs::remove_dir_all(policies.join("tests")).expect("drop the policy tests");
    p.app.clock.set(minutes(5));
    let (s, v, _) = p
        .app
        .send(
            reqwest::Method::POST,
            "/api/v1/config/reload",
            Some(&p.app.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let clock = p.clock(&id).await;
    assert_eq!(
        due(&clock, "blast-radius-20m", "deadline").as_deref(),
        Some("2026-03-29T03:42:00Z"),
        "{clock}"
    );
    assert_eq!(
        due(&clock, "blast-radius-20m", "deadline_warning").as_deref(),
        Some("2026-03-29T03:37:00Z")
    );
    assert!(
        due(&clock, "sev1-customers-notified-30m", "deadline").is_none(),
        "{clock}"
    );
    let timeline = p.timeline(&id).await;
    let replanned: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["kind"] == "policy_replanned")
        .collect();
    assert_eq!(replanned.len(), 2, "{timeline:#?}");
    assert_eq!(replanned[0]["actor"], "policy:blast-radius-20m");
    assert_eq!(
        (&replanned[0]["data"]["from"], &replanned[0]["data"]["to"]),
        (
            &json!("2026-03-29T03:32:00Z"),
            &json!("2026-03-29T03:42:00Z")
        )
    );
    assert!(timeline.iter().any(|e| e["kind"] == "policy_cancelled"
        && e["data"]["policy"] == "sev1-customers-notified-30m"
        && e["data"]["reason"] == "policy removed from the configuration"));

    // The stored timers moved too: nothing at the old time, the deadline at the new one.
    p.at(minutes(20)).await;
    assert_eq!(p.fired(&id, "blast-radius-20m").await.len(), 0);
    p.at(minutes(30)).await;
    assert!(p.fired(&id, "sev1-customers-notified-30m").await.is_empty());
    p.at(minutes(42)).await;
    let fired = p.fired(&id, "blast-radius-20m").await;
    assert_eq!(fired.len(), 2, "warning at 37, missed at 42: {fired:?}");
    assert!(
        fired[1]["data"]["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("30 min since declared"),
        "{fired:?}"
    );
}

mod a_reload_replans_armed_timers {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::a_reload_replans_armed_timers(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::a_reload_replans_armed_timers(Backend::Postgres).await
    }
}
