//! Generic JSON events for sources that speak neither Alertmanager nor PagerDuty:
//! `{"summary": …, "action": "trigger"|"acknowledge"|"resolve", "dedup_key": …,
//! "severity": …, "labels": {…}, "annotations": {…}}`; only `summary` is needed to trigger.

use muster_core::alert::{AlertAction, Labels};
use serde::Deserialize;

use super::RawAlert;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericEvent {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    dedup_key: Option<String>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
}

/// Parses a generic event; the error is a message for a 400/422 answer.
pub fn parse(body: &[u8]) -> Result<RawAlert, String> {
    let payload: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let ev: GenericEvent =
        serde_json::from_value(payload.clone()).map_err(|e| format!("invalid event: {e}"))?;
    let action = match ev.action.as_deref().unwrap_or("trigger") {
        "trigger" => AlertAction::Trigger,
        "acknowledge" => AlertAction::Acknowledge,
        "resolve" => AlertAction::Resolve,
        other => {
            return Err(format!(
                "action `{other}` is not one of trigger, acknowledge, resolve"
            ));
        }
    };
    let summary = ev.summary.unwrap_or_default();
    if action == AlertAction::Trigger && summary.trim().is_empty() {
        return Err("summary: needed to trigger an alert".into());
    }
    if action != AlertAction::Trigger && ev.dedup_key.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "dedup_key: needed to {}",
            ev.action.unwrap_or_default()
        ));
    }
    Ok(RawAlert {
        action,
        dedup_key: ev.dedup_key,
        summary,
        severity: ev.severity,
        labels: ev.labels,
        annotations: ev.annotations,
        payload,
    })
}
