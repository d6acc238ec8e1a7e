//! Heartbeat monitors: each ping resolves the "missed" alert (if open) and arms a durable
//! timer at `interval + grace`; when that timer fires without a newer ping, the missed alert
//! opens (and pages like any alert). The first ping arms the monitor.
//!
//! The timer key is per integration, so each ping moves the one pending deadline.

use jiff::Timestamp;
use muster_config::Integration;
use muster_core::alert::{AlertAction, AlertSignal, Labels};
use muster_store::{Effects, TimerChange, TimerSpec};
use serde_json::{Value, json};

use super::RawAlert;

/// The dedup key of a heartbeat's "missed" alert.
pub const DEDUP_KEY: &str = "heartbeat-missed";

pub fn timer_key(integration: &str) -> String {
    format!("heartbeat:{integration}")
}

/// The integration a heartbeat timer watches, from its payload.
pub fn watched(payload: &Value) -> Option<&str> {
    payload.get("heartbeat").and_then(Value::as_str)
}

fn raw(
    action: AlertAction,
    integration: &Integration,
    summary: String,
    now: Timestamp,
) -> RawAlert {
    RawAlert {
        action,
        dedup_key: Some(DEDUP_KEY.into()),
        summary,
        severity: None,
        labels: Labels::from([("heartbeat".to_string(), integration.id.clone())]),
        annotations: Labels::new(),
        payload: json!({"source": "heartbeat", "at": now.to_string()}),
    }
}

/// A ping: resolve the missed alert, and the timer of the next deadline.
pub fn ping(integration: &Integration, now: Timestamp) -> Result<(AlertSignal, Effects), String> {
    let hb = integration
        .heartbeat
        .as_ref()
        .ok_or("this integration has no heartbeat settings")?;
    let due = now + hb.interval.to_signed() + hb.grace.to_signed();
    let signal = super::signal(
        integration,
        raw(AlertAction::Resolve, integration, String::new(), now),
    )?;
    let effects = Effects {
        timers: vec![TimerChange::Set(TimerSpec {
            key: timer_key(&integration.id),
            incident: None,
            due_at: due,
            payload: json!({"heartbeat": integration.id, "last_ping": now.to_string()}),
        })],
        outbox: Vec::new(),
        ..Default::default()
    };
    Ok((signal, effects))
}

/// The alert a missed heartbeat opens.
pub fn missed(
    integration: &Integration,
    last_ping: Option<&str>,
    now: Timestamp,
) -> Result<AlertSignal, String> {
    let since = last_ping.map_or_else(String::new, |t| format!(" since {t}"));
    let summary = format!("Heartbeat {} missed: no ping{since}", integration.id);
    super::signal(
        integration,
        raw(AlertAction::Trigger, integration, summary, now),
    )
}
