//! Response-time policies, live: the demo's legal SLO (`legal-ack-1h`: legal, told of a SEV1
//! at declaration, acknowledges within 1 h, else legal on call is paged and the executives are
//! told) and a role expectation, on the simulated clock and both backends.

use jiff::SignedDuration;
use muster_core::{Access, IncidentNumber, Timestamp};
use muster_server::AppState;
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use serde_json::{Value, json};

use crate::support::{Backend, T0, TestApp, copy_dir, demo_dir, spawn_app_with};

pub const TELL_LEGAL: &str = "sev1-tell-legal:event:1:0";
const MISSED_PAGE: &str = "legal-ack-1h:deadline:1:missed:0";
const MISSED_EXECS: &str = "legal-ack-1h:deadline:1:missed:1";

pub struct AckApp {
    pub app: TestApp,
    pub state: AppState,
    scheduler: Scheduler,
    handler: Timers,
    /// A token of `ken`, in the legal team and on the legal-oncall rotation.
    pub ken: String,
}

pub async fn spawn(backend: Backend, config: &std::path::Path) -> Option<AckApp> {
    let mut slot = None;
    let app = spawn_app_with(backend, config, |s| {
        slot = Some(s.clone());
        s
    })
    .await?;
    let state = slot.expect("state captured");
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("test");
    let handler = Timers::new(state.clone());
    let ken = state
        .store
        .create_token("ken", Access::Responder, minutes(0))
        .await
        .expect("token");
    Some(AckApp {
        app,
        state,
        scheduler,
        handler,
        ken,
    })
}

pub fn minutes(m: i64) -> Timestamp {
    T0.parse::<Timestamp>().expect("t0") + SignedDuration::from_mins(m)
}

impl AckApp {
    pub async fn at(&self, at: Timestamp) {
        self.app.clock.set(at);
        self.scheduler.tick(&self.handler).await.expect("tick");
    }

    pub async fn outbox_keys(&self, id: &str) -> Vec<String> {
        let n = IncidentNumber(id.trim_start_matches("INC-").parse().expect("number"));
        let items = self
            .state
            .store
            .outbox_for_incident(n)
            .await
            .expect("outbox");
        let prefix = format!("{id}/");
        items
            .into_iter()
            .map(|o| o.idempotency_key.trim_start_matches(&prefix).to_string())
            .collect()
    }

    pub async fn timeline_of(&self, id: &str, kind: &str) -> Vec<Value> {
        let (s, v) = self
            .app
            .get(&format!("/api/v1/incidents/{id}/timeline"))
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array()
            .expect("array")
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect()
    }

    pub async fn ack(&self, token: &str, id: &str, key: &str, body: Value) -> (u16, Value) {
        let path = format!("/api/v1/incidents/{id}/notifications/{key}/ack");
        self.app.post_as(token, &path, body).await
    }
}

macro_rules! both_ack {
    ($name:ident, $config:expr, |$app:ident| $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let Some($app) = spawn(Backend::Sqlite, &$config).await else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some($app) = spawn(Backend::Postgres, &$config).await else {
                    return;
                };
                $body.await
            }
        }
    };
}

fn count(keys: &[String], key: &str) -> usize {
    keys.iter().filter(|k| *k == key).count()
}

both_ack!(
    legal_not_acknowledging_within_the_hour_escalates_once,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Card data in logs").await;
        assert_eq!(count(&p.outbox_keys(&id).await, TELL_LEGAL), 1);

        p.at(minutes(59)).await;
        assert_eq!(count(&p.outbox_keys(&id).await, MISSED_PAGE), 0);
        p.at(minutes(60)).await;
        p.at(minutes(61)).await;
        p.at(minutes(180)).await;

        let keys = p.outbox_keys(&id).await;
        assert_eq!(count(&keys, MISSED_PAGE), 1, "{keys:?}");
        assert_eq!(count(&keys, MISSED_EXECS), 1, "{keys:?}");
        let n = IncidentNumber(id.trim_start_matches("INC-").parse().expect("number"));
        let items = p.state.store.outbox_for_incident(n).await.expect("outbox");
        let page = items
            .iter()
            .find(|o| o.idempotency_key == format!("{id}/{MISSED_PAGE}"))
            .expect("page");
        assert_eq!(page.effect, "page");

        let outcomes = p.timeline_of(&id, "deadline_outcome").await;
        let legal: Vec<&Value> = outcomes
            .iter()
            .filter(|o| o["data"]["policy"] == "legal-ack-1h")
            .collect();
        assert_eq!(legal.len(), 1, "{outcomes:?}");
        assert_eq!(legal[0]["data"]["met"], false);
        assert_eq!(legal[0]["data"]["expect"], "acknowledged_by:alias:legal");
        assert_eq!(legal[0]["data"]["margin_secs"], 0);
        assert_eq!(legal[0]["data"]["due_at"], json!(minutes(60).to_string()));
        let fired = p.timeline_of(&id, "policy_fired").await;
        let reason = fired
            .iter()
            .find(|f| f["data"]["policy"] == "legal-ack-1h")
            .map(|f| f["data"]["reason"].clone());
        assert_eq!(
            reason,
            Some(json!(
                "1 h 00 min since legal notified at 03:12 UTC; not acknowledged by legal"
            ))
        );
    }
);

both_ack!(
    legal_acknowledging_through_the_api_meets_the_slo_with_its_margin,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Card data in logs").await;
        p.at(minutes(10)).await;
        let (s, v) = p.ack(&p.ken, &id, TELL_LEGAL, json!({})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            v,
            json!({"key": TELL_LEGAL, "by": "ken", "audience": "alias:legal",
                   "at": minutes(10).to_string(), "delay_secs": 600, "recorded": true})
        );

        let acks = p.timeline_of(&id, "notification_acknowledged").await;
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0]["actor"], "ken");
        assert_eq!(
            acks[0]["data"],
            json!({"key": TELL_LEGAL, "by": "ken", "audience": "alias:legal", "delay_secs": 600})
        );
        let outcomes = p.timeline_of(&id, "deadline_outcome").await;
        let legal = outcomes
            .iter()
            .find(|o| o["data"]["policy"] == "legal-ack-1h")
            .expect("outcome");
        assert_eq!(legal["data"]["met"], true);
        assert_eq!(legal["data"]["margin_secs"], 3000);
        assert_eq!(legal["data"]["by"], "ken");
        assert_eq!(legal["data"]["expect"], "acknowledged_by:alias:legal");

        // Asked again (by an admin for frank): the first record, nothing written.
        p.at(minutes(12)).await;
        let (s, again) = p
            .ack(&p.app.admin, &id, TELL_LEGAL, json!({"person": "frank"}))
            .await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["by"], "ken");
        assert_eq!(again["delay_secs"], 600);
        assert_eq!(again["recorded"], false);
        assert_eq!(
            p.timeline_of(&id, "notification_acknowledged").await.len(),
            1
        );

        p.at(minutes(180)).await;
        let keys = p.outbox_keys(&id).await;
        assert_eq!(count(&keys, MISSED_PAGE), 0, "{keys:?}");
        assert_eq!(count(&keys, MISSED_EXECS), 0, "{keys:?}");

        let (s, review) = p
            .app
            .get(&format!("/api/v1/incidents/{id}/review-draft"))
            .await;
        assert_eq!(s, 200, "{review}");
        let md = review["markdown"].as_str().unwrap_or_default();
        assert!(
            md.contains("| legal-ack-1h | acknowledged by legal |"),
            "{md}"
        );
        assert!(
            md.contains("ken acknowledged the notification to legal after 10 min"),
            "{md}"
        );
    }
);

both_ack!(
    acknowledging_refuses_strangers_unknown_keys_and_other_people_s_names,
    demo_dir(),
    |p| async move {
        let id = p.app.declare("Card data in logs").await;
        // alice (the responder token) is not in legal.
        let (s, v) = p.ack(&p.app.responder, &id, TELL_LEGAL, json!({})).await;
        assert_eq!(s, 422, "{v}");
        assert_eq!(
            v["error"]["message"],
            "invalid person: `alice` is not among the recipients of alias:legal \
             (notification `sev1-tell-legal:event:1:0`)"
        );
        let (s, v) = p.ack(&p.ken, &id, "nope:event:1:0", json!({})).await;
        assert_eq!(s, 404, "{v}");
        assert_eq!(
            v["error"]["message"],
            "no notification `nope:event:1:0` in this incident"
        );
        let (s, v) = p.ack(&p.ken, "INC-999", TELL_LEGAL, json!({})).await;
        assert_eq!(s, 404, "{v}");
        // Only an admin names someone else.
        let (s, v) = p
            .ack(&p.ken, &id, TELL_LEGAL, json!({"person": "frank"}))
            .await;
        assert_eq!(s, 403, "{v}");
        assert!(
            p.timeline_of(&id, "notification_acknowledged")
                .await
                .is_empty()
        );
    }
);

/// The demo plus `scribe-10m`: a SEV3's scribe is named within 10 minutes.
fn with_scribe_policy() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "muster-scribe-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    copy_dir(&demo_dir(), &dir);
    std::fs::write(
        dir.join("policies/scribe.yaml"),
        "policies:\n  - id: scribe-10m\n    when: { severity: [SEV3] }\n    \
         deadline: { within: 10m, of: declared, expect: { role: scribe } }\n    \
         on_missed: [ nudge: { role: incident_commander } ]\n",
    )
    .expect("write policy");
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

both_ack!(
    a_role_expectation_is_met_by_whoever_takes_the_role,
    with_scribe_policy(),
    |p| async move {
        let declare = json!({"title": "Slow search", "severity": "SEV3", "services": ["checkout"]});
        let (s, v) = p.app.post("/api/v1/incidents", declare.clone()).await;
        assert_eq!(s, 201, "{v}");
        let taken = v["id"].as_str().expect("id").to_string();
        let (s, v) = p.app.post("/api/v1/incidents", declare).await;
        assert_eq!(s, 201, "{v}");
        let untaken = v["id"].as_str().expect("id").to_string();

        p.at(minutes(4)).await;
        let (s, v) = p
            .app
            .post(
                &format!("/api/v1/incidents/{taken}/roles"),
                json!({"role": "scribe", "person": "bob"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        p.at(minutes(30)).await;

        let met = p.timeline_of(&taken, "deadline_outcome").await;
        assert_eq!(met.len(), 1, "{met:?}");
        assert_eq!(met[0]["data"]["expect"], "role:scribe");
        assert_eq!(met[0]["data"]["met"], true);
        assert_eq!(met[0]["data"]["margin_secs"], 360);
        assert_eq!(met[0]["data"]["by"], "bob");
        assert_eq!(
            count(
                &p.outbox_keys(&taken).await,
                "scribe-10m:deadline:1:missed:0"
            ),
            0
        );

        let missed = p.timeline_of(&untaken, "deadline_outcome").await;
        assert_eq!(missed.len(), 1, "{missed:?}");
        assert_eq!(missed[0]["data"]["met"], false);
        assert_eq!(
            count(
                &p.outbox_keys(&untaken).await,
                "scribe-10m:deadline:1:missed:0"
            ),
            1
        );
    }
);
