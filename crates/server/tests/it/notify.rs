//! Notifications end to end: a declaration's playbook notifications resolved, rendered and
//! delivered to a fake Slack Web API and a real SMTP server (aiosmtpd), with fallback,
//! retries and dead letters, on both backends.

use std::time::Duration;

use jiff::SignedDuration;
use muster_core::Clock;
use muster_notify::{Email, Push, Secret, Slack, Sms, Voice, http_client};
use muster_server::AppState;
use muster_server::deliver::{Channels, Deliverer, Retry};
use muster_server::hooks::AnswerHooks;
use muster_testkit::fakes::{self, Fake, Reply, Smtpd};
use serde_json::Value;

use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with};

pub(crate) struct Rig {
    pub app: TestApp,
    pub state: AppState,
    pub store: muster_store::Store,
    pub sms: Fake,
    pub deliverer: Deliverer,
    pub slack: Fake,
    pub smtpd: Smtpd,
    pub voice: Fake,
    pub ntfy: Fake,
    _dir: tempfile::TempDir,
}

/// The base URL the deliverer puts in links, and the provider signs webhooks with.
pub(crate) const PUBLIC_URL: &str = "https://muster.example.com";
/// The SMS and voice accounts' auth tokens, which sign their webhooks.
pub(crate) const SMS_TOKEN: &str = "sms-auth-token";
pub(crate) const VOICE_TOKEN: &str = "voice-auth-token";

/// The demo with an email list on `payments-leads`, so a SEV1 on checkout reaches people
/// by Slack and a list by email.
async fn rig(backend: Backend) -> Option<Rig> {
    rig_with(backend, |_| {}).await
}

/// [`rig`] with the configuration directory changed by `edit` first.
pub(crate) async fn rig_with(backend: Backend, edit: impl FnOnce(&std::path::Path)) -> Option<Rig> {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    edit(dir.path());
    let aliases = dir.path().join("aliases.yaml");
    let text = std::fs::read_to_string(&aliases).expect("aliases");
    let text = text.replace(
        "    people: [alice, grace]\n",
        "    people: [alice, grace]\n    emails: [payments-leads@example.com]\n",
    );
    std::fs::write(&aliases, text).expect("write aliases");
    let mut state: Option<AppState> = None;
    let app = spawn_app_with(backend, dir.path(), |s| {
        let hooks = AnswerHooks::new(
            PUBLIC_URL,
            Some(Secret::new(SMS_TOKEN)),
            Some(Secret::new(VOICE_TOKEN)),
        );
        let s = s.with_answer_hooks(hooks);
        state = Some(s.clone());
        s
    })
    .await?;
    let slack = fakes::slack().await;
    let sms = fakes::sms().await;
    let smtpd = Smtpd::start().expect("python3 -m aiosmtpd (pip install aiosmtpd)");
    let voice = fakes::voice().await;
    let ntfy = fakes::ntfy().await;
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
            Secret::new(SMS_TOKEN),
            "+15005550006",
        )),
        voice: Some(Voice::new(
            http.clone(),
            &voice.url,
            "AC2",
            Secret::new(VOICE_TOKEN),
            "+15005550007",
        )),
        push: Some(Push::new(http, &ntfy.url, Some(Secret::new("tk_ntfy")))),
        webhook: None,
    };
    let retry = Retry {
        base: Duration::from_secs(1),
        max: Duration::from_secs(10),
        attempts: 3,
    };
    let state = state?;
    let store = state.store.clone();
    let app_state = state.clone();
    let deliverer = Deliverer::new(state, channels)
        .with_retry(retry)
        .with_base_url(PUBLIC_URL);
    Some(Rig {
        app,
        state: app_state,
        store,
        sms,
        deliverer,
        slack,
        smtpd,
        voice,
        ntfy,
        _dir: dir,
    })
}

impl Rig {
    /// Ticks, moving the simulated clock a minute each time, until nothing is left to do.
    async fn drain(&self) {
        for _ in 0..30 {
            let handled = self.deliverer.tick().await.expect("tick");
            if handled == 0 {
                self.app.clock.advance(SignedDuration::from_secs(60));
                if self.deliverer.tick().await.expect("tick") == 0 {
                    return;
                }
            }
        }
    }

    /// Ticks until nothing is due now (the clock stays where it is).
    pub async fn drain_without_advancing(&self) {
        for _ in 0..30 {
            if self.deliverer.tick().await.expect("tick") == 0 {
                return;
            }
        }
    }

    pub async fn timeline(&self, id: &str) -> Vec<Value> {
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
}

pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

async fn sev1_notifies_playbook_aliases_by_slack_and_email(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = rig.app.declare("Checkout is failing").await;
    rig.drain().await;
    let posts = rig.slack.requests();
    let to: Vec<String> = posts
        .iter()
        .map(|r| r.json()["channel"].as_str().unwrap_or("").to_string())
        .collect();
    for who in [
        "U0ALICE",
        "U0GRACE",
        "U0CAROL",
        "U0JUDY",
        "#payments",
        "#comms",
    ] {
        assert!(to.contains(&who.to_string()), "{who} not in {to:?}");
    }
    // One message per recipient: carol is in the alias and maybe on call, still once.
    let carol = to.iter().filter(|c| *c == "U0CAROL").count();
    assert_eq!(carol, 1, "{to:?}");
    let text = posts[0].json()["text"].as_str().unwrap_or("").to_string();
    assert!(
        text.contains("*SEV1 declared:* Checkout is failing"),
        "{text}"
    );
    assert!(
        text.contains(&format!("https://muster.example.com/incidents/{id}")),
        "{text}"
    );

    // The list, and carol, whose rules say Slack and email at once; legal, told of every
    // SEV1 (its list, and frank and ken, whose rules start with email).
    let mail = rig.smtpd.wait_for(5, Duration::from_secs(10)).await;
    let mut to: Vec<String> = mail
        .iter()
        .filter_map(|m| fakes::email_header(m, "To"))
        .collect();
    to.sort();
    assert_eq!(
        to,
        [
            "carol@example.com",
            "frank@example.com",
            "ken@example.com",
            "legal@example.com",
            "payments-leads@example.com"
        ]
    );
    let list = mail
        .iter()
        .find(|m| fakes::email_header(m, "To").as_deref() == Some("payments-leads@example.com"))
        .expect("list mail");
    assert_eq!(
        fakes::email_header(list, "Subject").as_deref(),
        Some(format!("[{id}] SEV1 Checkout is failing").as_str())
    );
    assert_eq!(
        fakes::email_header(list, "From").as_deref(),
        Some("Muster <muster@example.com>")
    );
    assert!(fakes::email_header(list, "Message-ID").is_some_and(|m| m.contains("payments-leads")));
    let body = fakes::email_body(list);
    assert!(
        body.contains("*SEV1 declared:* Checkout is failing"),
        "{body}"
    );
    assert!(body.contains("Affected services: checkout"), "{body}");

    let events = rig.timeline(&id).await;
    let sent = of_kind(&events, "notification_sent");
    assert_eq!(sent.len(), posts.len() + 5, "{sent:?}");
    assert!(
        sent.iter()
            .all(|e| e["data"]["latency_ms"].as_i64().is_some())
    );
    assert_eq!(of_kind(&events, "notification_queued").len(), 3);
    assert!(of_kind(&events, "notification_failed").is_empty());
}

async fn slack_down_falls_back_to_email_on_the_timeline(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    rig.slack.always(Reply::Status(500));
    let id = rig.app.declare("Checkout is failing").await;
    rig.drain().await;
    let mail = rig.smtpd.wait_for(8, Duration::from_secs(10)).await;
    let to: Vec<String> = mail
        .iter()
        .filter_map(|m| fakes::email_header(m, "To"))
        .collect();
    for who in [
        "alice@example.com",
        "grace@example.com",
        "carol@example.com",
        "judy@example.com",
    ] {
        assert_eq!(to.iter().filter(|t| *t == who).count(), 1, "{who}: {to:?}");
    }
    // carol's Slack step falls back to SMS: her email step is already under way. Legal,
    // told of every SEV1, by email anyway: its list, frank and ken.
    assert_eq!(to.len(), 8, "{to:?}");
    let events = rig.timeline(&id).await;
    let failed = of_kind(&events, "notification_failed");
    assert!(
        failed
            .iter()
            .any(|e| e["data"]["to"] == "person:carol" && e["data"]["fallback"] == "sms"),
        "{failed:?}"
    );
    let fell_back: Vec<&&Value> = failed
        .iter()
        .filter(|e| e["data"]["to"] == "person:alice" && e["data"]["fallback"] == "email")
        .collect();
    assert_eq!(fell_back.len(), 1, "{failed:?}");
    assert!(
        failed
            .iter()
            .any(|e| e["data"]["retry_in_ms"].as_i64().is_some())
    );
    assert!(
        of_kind(&events, "notification_sent")
            .iter()
            .any(|e| e["data"]["to"] == "person:alice" && e["data"]["channel"] == "email")
    );
    // A Slack channel has no other provider: it falls back to the inbox, which takes it, so
    // nothing is a dead letter.
    assert!(
        failed.iter().any(|e| {
            e["data"]["to"].as_str().unwrap_or("").contains("#payments")
                && e["data"]["fallback"] == "inbox"
                && e["data"]["error"].as_str().unwrap_or("").contains("500")
        }),
        "{failed:?}"
    );
    assert!(
        of_kind(&events, "notification_sent").iter().any(|e| {
            e["data"]["to"].as_str().unwrap_or("").contains("#payments")
                && e["data"]["channel"] == "inbox"
        }),
        "{events:#?}"
    );
    let (s, dead) = rig.app.get("/api/v1/outbox/dead-letters").await;
    assert_eq!(s, 200, "{dead}");
    assert_eq!(dead, serde_json::json!([]));
    let (s, _, _) = rig
        .app
        .send(
            reqwest::Method::GET,
            "/api/v1/outbox/dead-letters",
            Some(&rig.app.viewer),
            None,
        )
        .await;
    assert_eq!(s, 403);
}

async fn channel_not_found_is_permanent_and_rate_limits_wait(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    rig.slack.script(Reply::RateLimited(30), 1);
    let id = rig.app.declare("Checkout is failing").await;
    rig.deliverer.tick().await.expect("tick");
    rig.deliverer.tick().await.expect("tick");
    let events = rig.timeline(&id).await;
    let waited = of_kind(&events, "notification_failed");
    assert_eq!(waited.len(), 1, "{waited:?}");
    assert!(
        waited[0]["data"]["retry_in_ms"].as_i64().unwrap_or(0) >= 30_000,
        "{waited:?}"
    );
    rig.drain().await;
    // Every Slack answer is now `channel_not_found`: a channel falls back to the inbox at
    // once (a permanent error is not retried), a person to email.
    rig.slack
        .always(Reply::SlackError("channel_not_found".into()));
    let id = rig.app.declare("Checkout is failing again").await;
    rig.drain().await;
    let events = rig.timeline(&id).await;
    assert!(
        of_kind(&events, "notification_failed")
            .iter()
            .any(|e| e["data"]["to"] == "person:alice" && e["data"]["fallback"] == "email")
    );
    assert!(
        of_kind(&events, "notification_failed").iter().any(|e| {
            e["data"]["error"]
                .as_str()
                .unwrap_or("")
                .contains("channel_not_found")
                && e["data"]["fallback"] == "inbox"
                && e["data"]["retry_in_ms"].is_null()
        }),
        "{events:#?}"
    );
    // No delivered item is ever sent again: every Slack request is for a distinct attempt.
    let before = rig.slack.requests().len();
    rig.drain().await;
    assert_eq!(rig.slack.requests().len(), before);
}

/// A page follows the person's notification rules: Slack at once, SMS 5 minutes later unless
/// the incident is acknowledged by then.
async fn pages_follow_notification_rules_until_acknowledged(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    for (n, ack) in [(1, true), (2, false)] {
        let id = rig.app.declare(&format!("Page {n}")).await;
        rig.drain().await;
        let texts_before = rig.sms.requests().len();
        let page = muster_store::OutboxItem {
            idempotency_key: format!("{id}/test-page"),
            incident: Some(muster_core::IncidentNumber(n)),
            effect: "page".into(),
            payload: serde_json::json!({"incident": id, "policy": "test", "reason": "test page", "to": ["alice"]}),
        };
        let effects = muster_store::Effects {
            timers: vec![],
            outbox: vec![page],
            ..Default::default()
        };
        let now = rig.app.clock.now();
        rig.store
            .apply_effects(now, &effects)
            .await
            .expect("queue page");
        rig.deliverer.tick().await.expect("tick");
        rig.deliverer.tick().await.expect("tick");
        let slack_pages = rig
            .slack
            .requests()
            .iter()
            .filter(|r| {
                r.json()["channel"] == "U0ALICE"
                    && r.json()["text"]
                        .as_str()
                        .unwrap_or("")
                        .starts_with("You are paged")
            })
            .count();
        assert_eq!(slack_pages, n as usize, "Slack at once");
        if ack {
            let (s, v) = rig
                .app
                .post(
                    &format!("/api/v1/incidents/{id}/milestones"),
                    serde_json::json!({"milestone": "acknowledged"}),
                )
                .await;
            assert!(s == 200 || s == 201, "{v}");
        }
        rig.app.clock.advance(SignedDuration::from_secs(4 * 60));
        rig.deliverer.tick().await.expect("tick");
        assert_eq!(
            rig.sms.requests().len(),
            texts_before,
            "no SMS before 5 min"
        );
        rig.app.clock.advance(SignedDuration::from_secs(7 * 60));
        rig.deliverer.tick().await.expect("tick");
        let texts = rig.sms.requests().len() - texts_before;
        assert_eq!(texts, usize::from(!ack), "acknowledged: {ack}");
        if !ack {
            assert_eq!(
                rig.sms
                    .requests()
                    .last()
                    .and_then(|r| r.form("To"))
                    .as_deref(),
                Some("+442079460001")
            );
        }
    }
}

/// Two deliverers (two nodes) on one database: each notification is sent once.
async fn two_deliverers_send_each_notification_once(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let a = rig.deliverer.clone().with_owner("node-a");
    let b = rig.deliverer.clone().with_owner("node-b");
    for n in 0..5 {
        rig.app.declare(&format!("Checkout is failing {n}")).await;
    }
    for _ in 0..10 {
        let (x, y) = tokio::join!(a.tick(), b.tick());
        if x.expect("tick a") + y.expect("tick b") == 0 {
            break;
        }
    }
    let mut per: std::collections::BTreeMap<(String, String), usize> = Default::default();
    for r in rig.slack.requests() {
        let j = r.json();
        let key = (
            j["channel"].as_str().unwrap_or("").to_string(),
            j["text"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
        );
        *per.entry(key).or_default() += 1;
    }
    assert!(per.len() >= 5 * 6, "{per:?}");
    assert!(per.values().all(|n| *n == 1), "sent twice: {per:?}");
}

/// A policy's nudge renders its template with the time left to the deadline.
async fn a_deadline_warning_says_how_long_is_left(backend: Backend) {
    let Some(rig) = rig(backend).await else {
        return;
    };
    let id = rig.app.declare("Checkout is failing").await;
    let (s, v) = rig
        .app
        .post(
            &format!("/api/v1/incidents/{id}/roles"),
            serde_json::json!({"role": "ops_lead", "person": "bob"}),
        )
        .await;
    assert!(s == 200 || s == 201, "{v}");
    rig.drain_without_advancing().await;
    let before = rig.slack.requests().len();
    let scheduler =
        muster_server::scheduler::Scheduler::new(rig.state.store.clone(), rig.app.clock.clone());
    let handler = muster_server::timers::Timers::new(rig.state.clone());
    rig.app.clock.advance(SignedDuration::from_secs(15 * 60));
    scheduler.tick(&handler).await.expect("scheduler");
    rig.drain_without_advancing().await;
    let texts: Vec<String> = rig.slack.requests()[before..]
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("the blast radius is not validated yet")
                && t.contains("5 min left before more people are paged")),
        "{id}: {texts:?}"
    );
    assert!(
        rig.slack.requests()[before..]
            .iter()
            .any(|r| r.json()["channel"] == "U0BOB")
    );
}

crate::on_both_backends!(
    sev1_notifies_playbook_aliases_by_slack_and_email,
    slack_down_falls_back_to_email_on_the_timeline,
    channel_not_found_is_permanent_and_rate_limits_wait,
    pages_follow_notification_rules_until_acknowledged,
    two_deliverers_send_each_notification_once,
    a_deadline_warning_says_how_long_is_left
);
