//! The Slack app end to end: requests signed exactly as Slack signs them, a fake Slack Web
//! API recording every call, the scheduler and the deliverer driven on the simulated clock,
//! on both backends.

use jiff::SignedDuration;
use muster_core::{Clock, Timestamp};
use muster_notify::{Secret, Slack, http_client};
use muster_server::AppState;
use muster_server::deliver::{Channels, Deliverer};
use muster_server::scheduler::Scheduler;
use muster_server::slack::SlackRuntime;
use muster_server::timers::Timers;
use muster_testkit::fakes::{self, Fake, Recorded};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{Backend, T0, TestApp, copy_dir, demo_dir, spawn_app_with};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

/// HMAC-SHA256 written out from RFC 2104, independent of the server's code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |x: u8| block.iter().map(|b| b ^ x).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// What Slack sends in `X-Slack-Signature` for `body` sent at `timestamp`.
fn slack_signature(secret: &str, timestamp: &str, body: &str) -> String {
    let base = format!("v0:{timestamp}:{body}");
    format!(
        "v0={}",
        hex::encode(hmac_sha256(secret.as_bytes(), base.as_bytes()))
    )
}

#[test]
fn the_harness_signs_like_slacks_published_example() {
    let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    assert_eq!(
        slack_signature(SIGNING_SECRET, "1531420618", body),
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    );
    // And the server computes the same.
    assert_eq!(
        muster_server::slack::verify::signature(
            SIGNING_SECRET.as_bytes(),
            "1531420618",
            body.as_bytes()
        ),
        slack_signature(SIGNING_SECRET, "1531420618", body)
    );
}

pub(crate) struct Rig {
    pub(crate) app: TestApp,
    pub(crate) slack: Fake,
    deliverer: Deliverer,
    scheduler: Scheduler,
    handler: Timers,
    pub(crate) state: AppState,
    _dir: tempfile::TempDir,
}

pub(crate) const SLACK_YAML: &str =
    "slack:\n  command: /muster\n  timeline: reaction\n  reaction: pushpin\n";

async fn rig(backend: Backend, slack_yaml: &str) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), slack_yaml).expect("slack.yaml");
    rig_in(backend, dir).await
}

pub(crate) async fn rig_in(backend: Backend, dir: tempfile::TempDir) -> Option<Rig> {
    let slack = fakes::slack().await;
    let http = http_client().expect("client");
    let client = Slack::new(http, &slack.url, Secret::new("xoxb-test"));
    let runtime = SlackRuntime::new(Some(Secret::new(SIGNING_SECRET)), Some(client.clone()));
    let mut captured: Option<AppState> = None;
    let app = spawn_app_with(backend, dir.path(), |s| {
        let s = s.with_slack(runtime);
        captured = Some(s.clone());
        s
    })
    .await?;
    let state = captured?;
    let channels = Channels {
        slack: Some(client),
        ..Channels::default()
    };
    let deliverer = Deliverer::new(state.clone(), channels).with_owner("test-deliverer");
    let scheduler = Scheduler::new(state.store.clone(), app.clock.clone()).with_owner("test");
    let handler = Timers::new(state.clone());
    Some(Rig {
        app,
        slack,
        deliverer,
        scheduler,
        handler,
        state,
        _dir: dir,
    })
}

pub(crate) fn minutes(m: i64) -> Timestamp {
    T0.parse::<Timestamp>().expect("t0") + SignedDuration::from_mins(m)
}

fn form_body(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

impl Rig {
    /// POSTs `body` to `path`, signed at `timestamp` with `secret`.
    async fn post_signed_as(
        &self,
        path: &str,
        body: &str,
        content_type: &str,
        timestamp: i64,
        secret: &str,
    ) -> (u16, Value) {
        let ts = timestamp.to_string();
        let resp = self
            .app
            .http
            .post(format!("{}{path}", self.app.base))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", &ts)
            .header("x-slack-signature", slack_signature(secret, &ts, body))
            .body(body.to_string())
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

    async fn post_signed(&self, path: &str, body: &str, content_type: &str) -> (u16, Value) {
        let now = self.app.clock.now().as_second();
        self.post_signed_as(path, body, content_type, now, SIGNING_SECRET)
            .await
    }

    /// `/muster <text>` from `user` in `channel`.
    pub(crate) async fn command(&self, user: &str, channel: &str, text: &str) -> (u16, Value) {
        let response_url = format!("{}/response.hook", self.slack.url);
        let body = form_body(&[
            ("token", "unused"),
            ("team_id", "T0TEAM"),
            ("channel_id", channel),
            ("user_id", user),
            ("command", "/muster"),
            ("text", text),
            ("response_url", &response_url),
            ("trigger_id", "1.2.trigger"),
        ]);
        self.post_signed(
            "/slack/commands",
            &body,
            "application/x-www-form-urlencoded",
        )
        .await
    }

    pub(crate) async fn interaction(&self, payload: &Value) -> (u16, Value) {
        let body = form_body(&[("payload", &payload.to_string())]);
        self.post_signed(
            "/slack/interactions",
            &body,
            "application/x-www-form-urlencoded",
        )
        .await
    }

    async fn event(&self, event: Value) -> (u16, Value) {
        self.event_with_id(event, None).await
    }

    async fn event_with_id(&self, event: Value, id: Option<&str>) -> (u16, Value) {
        let mut body = json!({"type": "event_callback", "team_id": "T0TEAM", "event": event});
        if let Some(id) = id {
            body["event_id"] = json!(id);
        }
        self.post_signed("/slack/events", &body.to_string(), "application/json")
            .await
    }

    /// Delivers until nothing is due (the clock stays where it is).
    pub(crate) async fn deliver(&self) {
        for _ in 0..50 {
            if self.deliverer.tick().await.expect("deliver") == 0 {
                return;
            }
        }
    }

    /// Moves the clock, fires what is due, delivers what that queued.
    pub(crate) async fn at(&self, at: Timestamp) {
        self.app.clock.set(at);
        self.scheduler.tick(&self.handler).await.expect("tick");
        self.deliver().await;
    }

    pub(crate) fn calls(&self, method: &str) -> Vec<Recorded> {
        self.slack
            .requests()
            .into_iter()
            .filter(|r| r.path == format!("/{method}"))
            .collect()
    }

    pub(crate) fn in_channel(&self, method: &str, channel: &str) -> Vec<Value> {
        self.calls(method)
            .iter()
            .map(Recorded::json)
            .filter(|v| v["channel"] == channel)
            .collect()
    }

    pub(crate) async fn timeline(&self, id: &str) -> Vec<Value> {
        let (s, v) = self
            .app
            .get(&format!("/api/v1/incidents/{id}/timeline"))
            .await;
        assert_eq!(s, 200, "{v}");
        v.as_array().cloned().unwrap_or_default()
    }

    pub(crate) async fn incidents(&self) -> Vec<Value> {
        let (s, v) = self.app.get("/api/v1/incidents").await;
        assert_eq!(s, 200, "{v}");
        v.as_array().cloned().unwrap_or_default()
    }
}

fn texts(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|v| v["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The buttons of a posted message's blocks.
pub(crate) fn buttons(message: &Value) -> Vec<Value> {
    message["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .collect()
}

pub(crate) async fn declare_checkout_in_slack(rig: &Rig) -> Value {
    let (s, v) = rig
        .command("U0ALICE", "C0GENERAL", "declare sev1 checkout errors")
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    incidents[0].clone()
}

async fn end_to_end_on_the_simulated_clock(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    let incident = declare_checkout_in_slack(&rig).await;
    assert_eq!(incident["id"], "INC-1");
    assert_eq!(incident["severity"], "SEV1");
    assert_eq!(incident["title"], "checkout errors");
    assert_eq!(incident["services"], json!(["checkout"]));
    assert_eq!(incident["declared_by"], "alice");

    // The channel, the invitations and the header.
    let created = rig.calls("conversations.create");
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].json()["name"], "inc-1-checkout-errors");
    let invites = rig.in_channel("conversations.invite", "C0NEWCHAN");
    assert!(
        invites
            .iter()
            .any(|i| i["users"].as_str().unwrap_or_default().contains("U0ALICE")),
        "{invites:?}"
    );
    let headers = rig.in_channel("chat.postMessage", "C0NEWCHAN");
    assert_eq!(headers.len(), 1, "{headers:?}");
    let header = headers[0]["text"].as_str().unwrap_or_default();
    assert!(
        header.contains("INC-1 · SEV1 · checkout errors"),
        "{header}"
    );
    assert!(header.contains("Elapsed: 0 s"), "{header}");
    assert!(
        header.contains("blast_radius_validated (blast-radius-20m): 20 min left, due 03:32 UTC"),
        "{header}"
    );
    // Slack refuses a block whose buttons share an action id.
    let ids: Vec<String> = buttons(&headers[0])
        .iter()
        .map(|b| b["action_id"].as_str().unwrap_or_default().to_string())
        .collect();
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(
        ids.contains(&"muster_milestone:blast_radius_validated".to_string()),
        "{ids:?}"
    );
    // The answer through response_url names the channel.
    let answers: Vec<Value> = rig
        .calls("response.hook")
        .iter()
        .map(Recorded::json)
        .collect();
    assert!(
        answers.iter().any(|a| a["response_type"] == "in_channel"
            && a["text"].as_str().unwrap_or_default().contains(
                "alice declared INC-1 SEV1 checkout errors — join #inc-1-checkout-errors"
            )),
        "{answers:?}"
    );

    // The live clock: chat.update of the header as the simulated clock advances, every
    // minute once the deadline is under ten minutes away.
    for m in 1..=14 {
        rig.at(minutes(m)).await;
    }
    let updates = texts(&rig.in_channel("chat.update", "C0NEWCHAN"));
    for elapsed in ["Elapsed: 1 min", "Elapsed: 6 min"] {
        assert!(
            updates.iter().any(|u| u.contains(elapsed)),
            "{elapsed}: {updates:?}"
        );
    }
    for m in 10..=14 {
        let elapsed = format!("Elapsed: {m} min");
        let left = format!("{} min left", 20 - m);
        assert!(
            updates
                .iter()
                .any(|u| u.contains(&elapsed) && u.contains(&left)),
            "{elapsed}: {updates:?}"
        );
    }
    assert!(
        !updates.iter().any(|u| u.contains("Elapsed: 2 min")),
        "{updates:?}"
    );

    // Bob becomes ops lead from the channel: he is invited, and the nudge will find him.
    let (_, v) = rig
        .command("U0ALICE", "C0NEWCHAN", "role ops <@U0BOB|bob>")
        .await;
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    let invited: Vec<String> = rig
        .in_channel("conversations.invite", "C0NEWCHAN")
        .iter()
        .map(|i| i["users"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(invited.iter().any(|u| u == "U0BOB"), "{invited:?}");
    let roles = texts(&rig.in_channel("chat.update", "C0NEWCHAN"));
    assert!(
        roles.last().is_some_and(|u| u.contains(" · ops_lead: bob")),
        "{roles:?}"
    );
    let nudges_before = rig.in_channel("chat.postMessage", "C0NEWCHAN").len();
    assert_eq!(nudges_before, 1, "only the header so far");

    // Minute 15: the blast-radius nudge in the channel, with a button to act.
    rig.at(minutes(15)).await;
    let posted = rig.in_channel("chat.postMessage", "C0NEWCHAN");
    assert_eq!(posted.len(), 2, "{posted:?}");
    let nudge = &posted[1];
    assert!(
        nudge["text"]
            .as_str()
            .unwrap_or_default()
            .contains("5 min left"),
        "{nudge}"
    );
    let validated = buttons(nudge)
        .into_iter()
        .find(|b| b["text"]["text"] == "Blast radius validated")
        .expect("a 'Blast radius validated' button");
    assert!(
        buttons(nudge)
            .iter()
            .any(|b| b["action_id"] == "muster_snooze"),
        "{nudge}"
    );
    // And as a direct message to the ops lead, with the same buttons.
    let dms = rig.in_channel("chat.postMessage", "U0BOB");
    let dm = dms
        .iter()
        .find(|m| {
            m["text"]
                .as_str()
                .unwrap_or_default()
                .contains("5 min left")
        })
        .expect("the nudge as a DM to bob");
    assert!(
        buttons(dm)
            .iter()
            .any(|b| b["text"]["text"] == "Blast radius validated"),
        "{dm}"
    );

    // Snoozing is acknowledging the nudge, on the timeline.
    let snooze = buttons(nudge)
        .into_iter()
        .find(|b| b["action_id"] == "muster_snooze")
        .expect("snooze");
    let (s, _) = rig
        .interaction(&json!({"type": "block_actions", "user": {"id": "U0BOB"},
            "response_url": format!("{}/response.hook", rig.slack.url), "actions": [snooze]}))
        .await;
    assert_eq!(s, 200);
    assert!(
        rig.timeline("INC-1")
            .await
            .iter()
            .any(|e| e["kind"] == "nudge_acknowledged"
                && e["data"]["key"] == "blast-radius-20m:deadline:1:warn:0"
                && e["actor"] == "bob"),
        "snoozed"
    );

    // Bob presses it.
    rig.app.clock.set(minutes(16));
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0BOB", "username": "bob"},
        "channel": {"id": "C0NEWCHAN"},
        "trigger_id": "2.3.trigger",
        "response_url": format!("{}/response.hook", rig.slack.url),
        "actions": [validated],
    });
    let (s, v) = rig.interaction(&payload).await;
    assert_eq!(s, 200, "{v}");
    let timeline = rig.timeline("INC-1").await;
    let reached = timeline
        .iter()
        .find(|e| {
            e["kind"] == "milestone_reached" && e["data"]["milestone"] == "blast_radius_validated"
        })
        .expect("milestone on the timeline");
    assert_eq!(reached["actor"], "bob");
    let outcome = timeline
        .iter()
        .find(|e| e["kind"] == "deadline_outcome" && e["data"]["policy"] == "blast-radius-20m")
        .expect("deadline outcome");
    assert_eq!(outcome["data"]["met"], true);
    assert_eq!(outcome["data"]["margin_secs"], 240);
    assert_eq!(outcome["data"]["by"], "bob");

    // The header shows it, and the answer says who did it.
    rig.deliver().await;
    let last = texts(&rig.in_channel("chat.update", "C0NEWCHAN"))
        .pop()
        .expect("an update after the button");
    assert!(last.contains("Elapsed: 16 min"), "{last}");
    assert!(!last.contains("blast_radius_validated"), "{last}");
    let answers = texts(
        &rig.calls("response.hook")
            .iter()
            .map(Recorded::json)
            .collect::<Vec<_>>(),
    );
    assert!(
        answers
            .iter()
            .any(|a| a == "bob marked blast_radius_validated on INC-1."),
        "{answers:?}"
    );
    // Nothing pages at minute 20.
    rig.at(minutes(20)).await;
    assert!(
        !rig.timeline("INC-1")
            .await
            .iter()
            .any(|e| e["kind"] == "deadline_outcome" && e["data"]["met"] == false)
    );
}

async fn forged_expired_and_replayed_requests_leave_no_trace(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    let body = form_body(&[
        ("channel_id", "C0GENERAL"),
        ("user_id", "U0ALICE"),
        ("command", "/muster"),
        ("text", "declare sev1 checkout errors"),
        ("response_url", &format!("{}/response.hook", rig.slack.url)),
    ]);
    let form = "application/x-www-form-urlencoded";
    let now = rig.app.clock.now().as_second();
    for path in ["/slack/commands", "/slack/interactions", "/slack/events"] {
        // Signed with another secret.
        let (s, v) = rig
            .post_signed_as(path, &body, form, now, "not-the-secret")
            .await;
        assert_eq!(s, 401, "{path}: {v}");
        assert_eq!(v["error"]["code"], "unauthorized");
        // Signed right, but six minutes old.
        let (s, _) = rig
            .post_signed_as(path, &body, form, now - 360, SIGNING_SECRET)
            .await;
        assert_eq!(s, 401, "{path}");
        // From the future.
        let (s, _) = rig
            .post_signed_as(path, &body, form, now + 360, SIGNING_SECRET)
            .await;
        assert_eq!(s, 401, "{path}");
    }
    // Unsigned.
    let resp = rig
        .app
        .http
        .post(format!("{}/slack/commands", rig.app.base))
        .header("content-type", form)
        .body(body.clone())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    // A tampered body under a valid signature.
    let ts = now.to_string();
    let resp = rig
        .app
        .http
        .post(format!("{}/slack/commands", rig.app.base))
        .header("content-type", form)
        .header("x-slack-request-timestamp", &ts)
        .header(
            "x-slack-signature",
            slack_signature(SIGNING_SECRET, &ts, &body),
        )
        .body(body.replace("sev1", "sev4"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 401);
    rig.deliver().await;
    assert!(rig.incidents().await.is_empty());
    assert!(
        rig.slack.requests().is_empty(),
        "{:?}",
        rig.slack.requests()
    );

    // The real one passes once; the same request again is a replay.
    let (s, _) = rig
        .post_signed_as("/slack/commands", &body, form, now, SIGNING_SECRET)
        .await;
    assert_eq!(s, 200);
    let (s, v) = rig
        .post_signed_as("/slack/commands", &body, form, now, SIGNING_SECRET)
        .await;
    assert_eq!(s, 401, "{v}");
    rig.deliver().await;
    assert_eq!(rig.incidents().await.len(), 1);
    assert_eq!(rig.calls("conversations.create").len(), 1);
}

async fn usage_errors_and_strangers_change_nothing(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    let (s, v) = rig.command("U0ALICE", "C0GENERAL", "dance").await;
    assert_eq!(s, 200);
    assert_eq!(v["response_type"], "ephemeral");
    let text = v["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("unknown subcommand `dance`."), "{text}");
    assert!(text.contains("/muster declare [sev1-4] <title>"), "{text}");

    let (_, v) = rig.command("U0ALICE", "C0GENERAL", "sev 9").await;
    assert!(
        v["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with("unknown severity `9`"),
        "{v}"
    );

    let (_, v) = rig.command("U0ALICE", "C0GENERAL", "ack").await;
    assert_eq!(v["response_type"], "ephemeral");
    assert!(
        v["text"]
            .as_str()
            .unwrap_or_default()
            .contains("This is not an incident's channel"),
        "{v}"
    );

    // Somebody Slack knows but the configuration does not.
    let (s, v) = rig
        .command("U9NOBODY", "C0GENERAL", "declare sev1 checkout errors")
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["response_type"], "ephemeral");
    assert!(
        v["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Muster does not know you"),
        "{v}"
    );
    let payload = json!({"type": "block_actions", "user": {"id": "U9NOBODY"},
        "actions": [{"action_id": "muster_ack", "value": "{\"incident\":\"INC-1\"}"}]});
    let (_, v) = rig.interaction(&payload).await;
    assert!(
        v["text"]
            .as_str()
            .unwrap_or_default()
            .contains("nothing was changed"),
        "{v}"
    );

    rig.deliver().await;
    assert!(rig.incidents().await.is_empty());
    let calls: Vec<String> = rig
        .slack
        .requests()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert!(calls.iter().all(|p| p == "/users.info"), "{calls:?}");

    // In the incident's channel the same command works.
    let _ = declare_checkout_in_slack(&rig).await;
    let (_, v) = rig.command("U0BOB", "C0NEWCHAN", "ack").await;
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    let timeline = rig.timeline("INC-1").await;
    assert!(
        timeline.iter().any(|e| e["kind"] == "milestone_reached"
            && e["data"]["milestone"] == "acknowledged"
            && e["actor"] == "bob"),
        "{timeline:?}"
    );
    // A bad argument in the channel: usage, and nothing changes.
    let before = rig.timeline("INC-1").await.len();
    let (_, v) = rig.command("U0BOB", "C0NEWCHAN", "status sleeping").await;
    assert!(
        v["text"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown status `sleeping`"),
        "{v}"
    );
    assert_eq!(rig.timeline("INC-1").await.len(), before);

    // comms_lead approves public updates: in Slack, where nobody is an admin, only the
    // incident commander assigns it (or claims it).
    let comms = |e: &Value| {
        e["kind"] == "role_assigned" && e["data"]["role"] == "comms_lead" && e["actor"] == "bob"
    };
    let (_, v) = rig
        .command("U0BOB", "C0NEWCHAN", "role comms <@U0CAROL|carol>")
        .await;
    assert_eq!(v["response_type"], "ephemeral");
    rig.deliver().await;
    let refusal = "only the incident's incident_commander or an admin may assign comms_lead";
    assert!(
        rig.calls("response.hook")
            .iter()
            .map(Recorded::json)
            .any(|a| a["text"].as_str().unwrap_or_default().contains(refusal)),
        "bob is told why"
    );
    assert!(!rig.timeline("INC-1").await.iter().any(comms));
    let claim = json!({"type": "block_actions", "user": {"id": "U0BOB"},
        "actions": [{"action_id": "muster_claim", "value": "{\"incident\":\"INC-1\",\"role\":\"comms_lead\"}"}]});
    let _ = rig.interaction(&claim).await;
    rig.deliver().await;
    assert!(
        !rig.timeline("INC-1").await.iter().any(comms),
        "nor claimed"
    );
    let _ = rig
        .command("U0BOB", "C0NEWCHAN", "role ic <@U0BOB|bob>")
        .await;
    // (Worded differently: Slack's replay guard drops a second identical request.)
    let _ = rig
        .command("U0BOB", "C0NEWCHAN", "role comms_lead <@U0CAROL|carol>")
        .await;
    rig.deliver().await;
    assert!(
        rig.timeline("INC-1")
            .await
            .iter()
            .any(|e| comms(e) && e["data"]["person"] == "carol"),
        "the commander assigns it"
    );
}

async fn events_join_leave_and_pinned_messages(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    let (s, v) = rig
        .post_signed(
            "/slack/events",
            &json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}).to_string(),
            "application/json",
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Declared through the API: the channel is created all the same.
    let id = rig.app.declare("Checkout is failing").await;
    rig.deliver().await;
    assert_eq!(
        rig.calls("conversations.create")[0].json()["name"],
        "inc-1-checkout-is-failing"
    );

    let (s, _) = rig
        .event(json!({"type": "member_joined_channel", "user": "U0BOB", "channel": "C0NEWCHAN"}))
        .await;
    assert_eq!(s, 200);
    let (_, v) = rig.app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(v["responders"], json!(["bob"]), "{v}");
    rig.event(json!({"type": "member_left_channel", "user": "U0BOB", "channel": "C0NEWCHAN"}))
        .await;
    let (_, v) = rig.app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(v["responders"], json!([]), "{v}");

    // In reaction mode a plain message is not kept; a pinned one is, once.
    let before = rig.timeline(&id).await.len();
    rig.event(
        json!({"type": "message", "user": "U0BOB", "channel": "C0NEWCHAN",
        "text": "just chatting", "ts": "1774753000.000100"}),
    )
    .await;
    assert_eq!(rig.timeline(&id).await.len(), before);
    for _ in 0..2 {
        rig.event(
            json!({"type": "reaction_added", "user": "U0BOB", "reaction": "pushpin",
            "item": {"type": "message", "channel": "C0NEWCHAN", "ts": "1774753000.000200"}}),
        )
        .await;
    }
    rig.deliver().await;
    let notes: Vec<Value> = rig
        .timeline(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "note_added")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["data"]["text"], "pinned message");
    assert_eq!(notes[0]["actor"], "alice");
    // Messages elsewhere are none of Muster's business.
    rig.event(json!({"type": "member_joined_channel", "user": "U0BOB", "channel": "C0RANDOM"}))
        .await;
    let (_, v) = rig.app.get(&format!("/api/v1/incidents/{id}")).await;
    assert_eq!(v["responders"], json!([]), "{v}");
}

async fn every_message_is_kept_when_configured(backend: Backend) {
    let Some(rig) = rig(backend, "slack:\n  timeline: all\n").await else {
        return;
    };
    let id = rig.app.declare("Checkout is failing").await;
    rig.deliver().await;
    // Slack retries an event it thinks was lost (signed anew): it is kept once.
    for _ in 0..2 {
        let (s, _) = rig
            .event_with_id(
                json!({"type": "message", "user": "U0BOB", "channel": "C0NEWCHAN",
                    "text": "rolling back the deploy", "ts": "1774753000.000100"}),
                Some("Ev0ROLLBACK"),
            )
            .await;
        assert_eq!(s, 200);
        rig.app.clock.advance(SignedDuration::from_secs(1));
    }
    rig.event(
        json!({"type": "message", "subtype": "bot_message", "bot_id": "B1",
        "channel": "C0NEWCHAN", "text": "beep", "ts": "1774753000.000200"}),
    )
    .await;
    let notes: Vec<Value> = rig
        .timeline(&id)
        .await
        .into_iter()
        .filter(|e| e["kind"] == "note_added")
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert_eq!(notes[0]["data"]["text"], "rolling back the deploy");
    assert_eq!(notes[0]["actor"], "bob");
}

async fn a_failing_slack_is_retried_and_never_blocks(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    rig.slack.script(fakes::Reply::Status(503), 3);
    let started = std::time::Instant::now();
    let (s, _) = rig
        .command("U0ALICE", "C0GENERAL", "declare sev2 checkout slow")
        .await;
    assert_eq!(s, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    rig.deliver().await;
    // Later, Slack is back: the channel and header arrive.
    for m in 1..=5 {
        rig.at(minutes(m)).await;
    }
    assert_eq!(rig.in_channel("chat.postMessage", "C0NEWCHAN").len(), 1);
    let created = rig.calls("conversations.create");
    assert!(created.len() >= 2, "retried: {created:?}");
    assert_eq!(rig.incidents().await.len(), 1);

    // A name Slack has already: the next free one.
    rig.slack.script_path(
        "/conversations.create",
        fakes::Reply::SlackError("name_taken".into()),
        1,
    );
    rig.command("U0ALICE", "C0GENERAL", "declare sev3 checkout slow")
        .await;
    rig.deliver().await;
    let names: Vec<Value> = rig
        .calls("conversations.create")
        .iter()
        .map(|r| r.json()["name"].clone())
        .collect();
    assert_eq!(
        names[names.len() - 2..],
        [json!("inc-2-checkout-slow"), json!("inc-2-checkout-slow-2")]
    );
}

async fn modals_buttons_and_queries(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    // `declare` without a title opens the modal.
    let (s, _) = rig.command("U0ALICE", "C0GENERAL", "declare").await;
    assert_eq!(s, 200);
    rig.deliver().await;
    let opened = rig.calls("views.open");
    assert_eq!(opened.len(), 1);
    let view = &opened[0].json();
    assert_eq!(view["trigger_id"], "1.2.trigger");
    assert_eq!(view["view"]["callback_id"], "muster_declare");

    // A submission with problems is answered with the errors, by block.
    let values = |title: &str, sev: Value, services: &str| {
        json!({"title": {"value": {"type": "plain_text_input", "value": title}},
            "severity": {"value": {"type": "static_select", "selected_option": sev}},
            "services": {"value": {"type": "plain_text_input", "value": services}}})
    };
    let submit = |values: Value| {
        json!({"type": "view_submission", "user": {"id": "U0ALICE"},
            "view": {"callback_id": "muster_declare", "state": {"values": values}}})
    };
    let (s, v) = rig
        .interaction(&submit(values("", Value::Null, "checkout, nowhere")))
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"response_action": "errors", "errors": {
            "title": "A title is needed.",
            "severity": "Choose SEV1, SEV2, SEV3 or SEV4.",
            "services": "Unknown service: nowhere."}})
    );
    assert!(rig.incidents().await.is_empty());
    let (s, v) = rig
        .interaction(&submit(values(
            "Payments slow",
            json!({"value": "SEV2"}),
            "payments-api",
        )))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["response_action"], "clear");
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0]["severity"], "SEV2");
    assert_eq!(incidents[0]["services"], json!(["payments-api"]));
    rig.deliver().await;

    // The header's buttons: claim the commander role, open the update modal, post it.
    let header = rig.in_channel("chat.postMessage", "C0NEWCHAN")[0].clone();
    let press = |action: Value| {
        json!({"type": "block_actions", "user": {"id": "U0BOB"}, "trigger_id": "9.9.trigger",
            "response_url": format!("{}/response.hook", rig.slack.url), "actions": [action]})
    };
    let button = |id: &str| {
        buttons(&header)
            .into_iter()
            .find(|b| b["action_id"].as_str().unwrap_or_default().starts_with(id))
            .expect("button")
    };
    let claim = button("muster_claim");
    let role: Value = serde_json::from_str(claim["value"].as_str().unwrap_or("{}")).expect("value");
    let role = role["role"].as_str().expect("role").to_string();
    rig.interaction(&press(claim)).await;
    let (_, v) = rig.app.get("/api/v1/incidents/INC-1").await;
    assert_eq!(v["roles"][&role]["person"], "bob", "{v}");
    rig.interaction(&press(button("muster_update"))).await;
    rig.deliver().await;
    let opened = rig.calls("views.open");
    assert_eq!(opened.len(), 2);
    assert_eq!(opened[1].json()["view"]["private_metadata"], "INC-1");
    let text = json!({"value": {"type": "plain_text_input", "value": "Rolled back; watching."}});
    let submitted = json!({"type": "view_submission", "user": {"id": "U0BOB"},
        "view": {"callback_id": "muster_update", "private_metadata": "INC-1",
            "state": {"values": {"text": text}}}});
    let (_, v) = rig.interaction(&submitted).await;
    assert_eq!(v["response_action"], "clear");
    let timeline = rig.timeline("INC-1").await;
    assert!(timeline.iter().any(|e| e["kind"] == "note_added"
        && e["data"]["text"] == "Status update: Rolled back; watching."
        && e["actor"] == "bob"));
    assert!(
        timeline.iter().any(|e| e["kind"] == "milestone_reached"
            && e["data"]["milestone"] == "status_update_posted")
    );

    // The other subcommands, in the channel.
    for text in [
        "sev 1",
        "status investigating",
        "milestone mitigated",
        "update Error rate falling.",
    ] {
        let (s, v) = rig.command("U0BOB", "C0NEWCHAN", text).await;
        assert_eq!(s, 200, "{text}: {v}");
    }
    let (_, v) = rig.app.get("/api/v1/incidents/INC-1").await;
    assert_eq!(v["severity"], "SEV1", "{v}");
    // Reaching `mitigated` moves the status on from `investigating`.
    assert_eq!(v["status"], "mitigated", "{v}");
    assert!(
        rig.timeline("INC-1")
            .await
            .iter()
            .any(|e| e["kind"] == "status_changed"
                && e["data"]["to"] == "investigating"
                && e["actor"] == "bob")
    );
    assert!(
        v["milestones"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["milestone"] == "mitigated"),
        "{v}"
    );
    assert!(
        rig.timeline("INC-1")
            .await
            .iter()
            .any(|e| e["kind"] == "note_added"
                && e["data"]["text"] == "Status update: Error rate falling.")
    );

    // brief, oncall and page answer through response_url.
    rig.command("U0BOB", "C0NEWCHAN", "brief").await;
    rig.command("U0BOB", "C0NEWCHAN", "oncall platform-primary")
        .await;
    rig.command("U0BOB", "C0NEWCHAN", "page erin disk full")
        .await;
    rig.deliver().await;
    let answers: Vec<Value> = rig
        .calls("response.hook")
        .iter()
        .map(Recorded::json)
        .collect();
    let answers = texts(&answers);
    assert!(
        answers.iter().any(
            |a| a.starts_with("*INC-1 · SEV1 · mitigated* — Payments slow")
                && a.contains("bob")
                && a.contains("*Milestones:*")
                && a.contains("*Pending:*")
                && a.contains("blast radius validated")
                && !a.contains("**")
        ),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("On call for platform-primary now: ")),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a == "bob paged erin."),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a == "bob set severity SEV1 on INC-1."),
        "{answers:?}"
    );

    // Resolving: the last header says so and offers no buttons.
    rig.command("U0BOB", "C0NEWCHAN", "resolve").await;
    rig.deliver().await;
    let last = rig
        .in_channel("chat.update", "C0NEWCHAN")
        .pop()
        .expect("update");
    assert!(
        last["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Status: resolved"),
        "{last}"
    );
    assert!(buttons(&last).is_empty(), "{last}");
    // A stranger's modal submission is refused in the modal.
    let (_, v) = rig
        .interaction(
            &json!({"type": "view_submission", "user": {"id": "U9NOBODY"},
            "view": {"callback_id": "muster_declare", "state": {"values": {}}}}),
        )
        .await;
    assert_eq!(v["response_action"], "errors", "{v}");
    assert_eq!(rig.incidents().await.len(), 1);
    assert!(
        rig.in_channel("chat.postMessage", "U0ERIN")
            .iter()
            .any(|m| m["text"].as_str().unwrap_or_default().contains("disk full")),
        "{:?}",
        rig.calls("chat.postMessage")
    );
}

async fn people_are_found_by_email(backend: Backend) {
    // Grace has no Slack id in this configuration, only her email.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    let people = dir.path().join("people.yaml");
    let text = std::fs::read_to_string(&people).expect("people");
    assert!(text.contains("slack_user: U0GRACE, "));
    let text = text.replace("slack_user: U0GRACE, ", "").replace(
        "notification_rules: [ { channel: slack, after: 0m }, { channel: sms, after: 5m }, { channel: phone, after: 10m } ]",
        "notification_rules: [ { channel: sms, after: 0m } ]",
    );
    std::fs::write(&people, text).expect("write");
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    let Some(rig) = rig_in(backend, dir).await else {
        return;
    };
    let (_, v) = rig
        .command("U0GRACE", "C0GENERAL", "declare sev3 checkout slow")
        .await;
    assert_eq!(v["response_type"], "ephemeral", "{v}");
    rig.deliver().await;
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{v}");
    assert_eq!(incidents[0]["declared_by"], "grace");
    let asked: Vec<Value> = rig.calls("users.info").iter().map(Recorded::json).collect();
    assert_eq!(asked, vec![json!({"user": "U0GRACE"})]);
    // Her Slack id for the invitation is looked up by email too.
    let looked: Vec<Value> = rig
        .calls("users.lookupByEmail")
        .iter()
        .map(Recorded::json)
        .collect();
    assert!(
        looked.contains(&json!({"email": "grace@example.com"})),
        "{looked:?}"
    );
    let invites = rig.in_channel("conversations.invite", "C0NEWCHAN");
    assert!(
        invites
            .iter()
            .any(|i| i["users"].as_str().unwrap_or_default().contains("U0LOOKED")),
        "{invites:?}"
    );
    // Known now: a second command needs no lookup.
    rig.command("U0GRACE", "C0NEWCHAN", "ack").await;
    assert_eq!(rig.calls("users.info").len(), 1);
}

crate::on_both_backends!(
    end_to_end_on_the_simulated_clock,
    forged_expired_and_replayed_requests_leave_no_trace,
    usage_errors_and_strangers_change_nothing,
    events_join_leave_and_pinned_messages,
    every_message_is_kept_when_configured,
    a_failing_slack_is_retried_and_never_blocks,
    modals_buttons_and_queries,
    people_are_found_by_email
);

async fn a_drill_started_from_slack_stays_out_of_slack(backend: Backend) {
    let Some(rig) = rig(backend, SLACK_YAML).await else {
        return;
    };
    let (s, v) = rig
        .command(
            "U0ALICE",
            "C0GENERAL",
            "drill start sev1-3am-blast-radius x60 incident_commander=<@U0DAVE|dave> ops_lead=erin",
        )
        .await;
    assert_eq!(s, 200, "{v}");
    rig.deliver().await;
    let incidents = rig.incidents().await;
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert_eq!(incidents[0]["exercise"], true);
    assert_eq!(incidents[0]["declared_by"], "alice");
    let (_, drill) = rig.app.get("/api/v1/drills/INC-1").await;
    assert_eq!(
        drill["participants"]["incident_commander"], "dave",
        "{drill}"
    );
    assert_eq!(drill["participants"]["ops_lead"], "erin");
    assert_eq!(drill["speed"], 60.0);
    let answers: Vec<Value> = rig
        .calls("response.hook")
        .iter()
        .map(Recorded::json)
        .collect();
    assert!(
        answers.iter().any(|a| a["text"]
            .as_str()
            .unwrap_or_default()
            .contains("alice started drill `sev1-3am-blast-radius` as INC-1")),
        "{answers:?}"
    );
    // A drill's incident gets no channel, no header, no invitation.
    assert!(rig.calls("conversations.create").is_empty());
    assert!(rig.calls("chat.postMessage").is_empty());
    let (s, v) = rig
        .command("U0ALICE", "C0GENERAL", "drill start no-such-drill")
        .await;
    assert_eq!(s, 200, "{v}");
    rig.deliver().await;
    let answers: Vec<Value> = rig
        .calls("response.hook")
        .iter()
        .map(Recorded::json)
        .collect();
    assert!(
        answers.iter().any(|a| a["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no drill scenario `no-such-drill`")),
        "{answers:?}"
    );
}

mod a_drill_started_from_slack_stays_out_of_slack {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::a_drill_started_from_slack_stays_out_of_slack(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::a_drill_started_from_slack_stays_out_of_slack(Backend::Postgres).await
    }
}
