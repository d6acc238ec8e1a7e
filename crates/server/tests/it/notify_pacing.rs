//! Waiting is not failing, on both backends and the simulated clock: a message over its
//! provider's rate limit, or a notification-rule step not yet due, is deferred without using
//! up a retry attempt and sent when its time comes.

use std::collections::BTreeMap;

use jiff::SignedDuration;
use muster_core::{Clock, IncidentNumber};
use muster_store::{OutboxRecord, OutboxState};
use serde_json::json;

use crate::notify::{Rig, of_kind, rig_with};
use crate::support::Backend;

const INCIDENTS: i64 = 3;

async fn deliveries(rig: &Rig, n: i64) -> Vec<OutboxRecord> {
    rig.store
        .outbox_for_incident(IncidentNumber(n))
        .await
        .expect("outbox")
        .into_iter()
        .filter(|r| r.effect == "delivery")
        .collect()
}

fn address(r: &OutboxRecord) -> &str {
    r.payload["chain"][0]["address"].as_str().unwrap_or("")
}

/// Slack messages received so far, per channel.
fn per_channel(rig: &Rig) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in rig.slack.requests() {
        *out.entry(r.json()["channel"].as_str().unwrap_or("").to_string())
            .or_default() += 1;
    }
    out
}

async fn a_channel_over_its_rate_waits_without_failing(backend: Backend) {
    let Some(rig) = rig_with(backend, |dir| {
        std::fs::write(
            dir.join("notifications.yaml"),
            "notifications:\n  rate_limits:\n    slack_channel: { rate: 1/s }\n",
        )
        .expect("write config");
    })
    .await
    else {
        return;
    };
    let mut ids = Vec::new();
    for n in 0..INCIDENTS {
        ids.push(rig.app.declare(&format!("Checkout is failing {n}")).await);
    }
    rig.drain_without_advancing().await;
    // Three declarations at one instant: one message per channel now, the others wait.
    let sent = per_channel(&rig);
    assert_eq!(sent.get("#payments"), Some(&1), "{sent:?}");
    assert!(sent.values().all(|n| *n == 1), "{sent:?}");
    let mut waiting = Vec::new();
    for n in 1..=INCIDENTS {
        waiting.extend(
            deliveries(&rig, n)
                .await
                .into_iter()
                .filter(|r| address(r) == "#payments" && r.state != OutboxState::Delivered),
        );
    }
    assert_eq!(waiting.len(), INCIDENTS as usize - 1);
    let now = rig.app.clock.now();
    let mut slots: Vec<i64> = waiting
        .iter()
        .map(|r| {
            assert_eq!((r.state, r.attempts), (OutboxState::Queued, 0), "{r:?}");
            (r.next_attempt_at.as_millisecond() - now.as_millisecond()) / 1000
        })
        .collect();
    slots.sort();
    assert_eq!(slots, [1, 2], "spread one second apart");

    // A second later exactly one more, and so on.
    for k in 1..INCIDENTS {
        rig.app.clock.advance(SignedDuration::from_secs(1));
        rig.drain_without_advancing().await;
        let sent = per_channel(&rig);
        assert_eq!(sent.get("#payments"), Some(&(k as usize + 1)), "{sent:?}");
    }
    let sent = per_channel(&rig);
    assert!(
        sent.values().all(|n| *n == INCIDENTS as usize),
        "every channel once per incident: {sent:?}"
    );
    for (n, id) in (1..=INCIDENTS).zip(&ids) {
        for r in deliveries(&rig, n).await {
            assert_eq!((r.state, r.attempts), (OutboxState::Delivered, 1), "{r:?}");
        }
        let events = rig.timeline(id).await;
        assert!(of_kind(&events, "notification_failed").is_empty(), "{id}");
    }
}

/// A page's SMS step waits five minutes; waiting does not count as an attempt.
async fn a_later_rule_step_keeps_its_attempts(backend: Backend) {
    let Some(rig) = rig_with(backend, |_| {}).await else {
        return;
    };
    let id = rig.app.declare("Page").await;
    rig.drain_without_advancing().await;
    let page = muster_store::OutboxItem {
        idempotency_key: format!("{id}/test-page"),
        incident: Some(IncidentNumber(1)),
        effect: "page".into(),
        payload: json!({"incident": id, "policy": "test", "reason": "test page", "to": ["alice"]}),
    };
    let effects = muster_store::Effects {
        timers: vec![],
        outbox: vec![page],
        ..Default::default()
    };
    rig.store
        .apply_effects(rig.app.clock.now(), &effects)
        .await
        .expect("queue page");
    rig.drain_without_advancing().await;
    let sms = |rows: Vec<OutboxRecord>| {
        rows.into_iter()
            .find(|r| r.payload["chain"][0]["channel"] == "sms")
            .expect("an SMS step")
    };
    let waiting = sms(deliveries(&rig, 1).await);
    assert_eq!((waiting.state, waiting.attempts), (OutboxState::Queued, 0));
    rig.app.clock.advance(SignedDuration::from_secs(6 * 60));
    rig.drain_without_advancing().await;
    assert_eq!(rig.sms.requests().len(), 1);
    let sent = sms(deliveries(&rig, 1).await);
    assert_eq!((sent.state, sent.attempts), (OutboxState::Delivered, 1));
}

/// A 429 holds back the channel it came from: the next message there waits for Retry-After
/// (deferred, no attempt used) while other channels carry on.
async fn a_429_pauses_its_channel(backend: Backend) {
    let Some(rig) = rig_with(backend, |_| {}).await else {
        return;
    };
    rig.slack
        .script(muster_testkit::fakes::Reply::RateLimited(30), 1);
    rig.app.declare("Checkout is failing").await;
    rig.drain_without_advancing().await;
    let first = rig.slack.requests();
    let limited = first[0].json()["channel"]
        .as_str()
        .unwrap_or("")
        .to_string();
    rig.app.declare("Checkout is failing again").await;
    rig.drain_without_advancing().await;
    let second: Vec<String> = rig.slack.requests()[first.len()..]
        .iter()
        .map(|r| r.json()["channel"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(!second.contains(&limited), "{limited} in {second:?}");
    assert!(second.len() >= 4, "other channels carry on: {second:?}");
    let held = deliveries(&rig, 2)
        .await
        .into_iter()
        .find(|r| r.payload["chain"][0]["address"] == limited.as_str())
        .expect("the paused channel's message");
    assert_eq!((held.state, held.attempts), (OutboxState::Queued, 0));
    let wait = held.next_attempt_at.as_millisecond() - rig.app.clock.now().as_millisecond();
    assert!(wait >= 30_000, "{wait} ms");
    rig.app.clock.advance(SignedDuration::from_secs(45));
    rig.drain_without_advancing().await;
    let sent = rig.slack.requests()[first.len()..]
        .iter()
        .filter(|r| r.json()["channel"] == limited.as_str())
        .count();
    // The held message, and the first incident's retry.
    assert_eq!(sent, 2);
    for n in 1..=2 {
        for r in deliveries(&rig, n).await {
            assert_eq!(r.state, OutboxState::Delivered, "{r:?}");
        }
    }
}

crate::on_both_backends!(
    a_channel_over_its_rate_waits_without_failing,
    a_later_rule_step_keeps_its_attempts,
    a_429_pauses_its_channel
);
