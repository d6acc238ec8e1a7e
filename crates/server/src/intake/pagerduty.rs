//! PagerDuty Events API v2 (`POST /v2/enqueue`): the event checks and answers PagerDuty
//! gives, so its client libraries and Alertmanager's `pagerduty_configs` work unchanged.

use axum::http::StatusCode;
use muster_core::alert::{AlertAction, Labels};
use serde_json::{Map, Value, json};

use super::RawAlert;

pub const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
const MAX_DEDUP_KEY: usize = 255;

/// A valid event: its routing key and the alert it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub routing_key: String,
    pub alert: RawAlert,
}

/// 202 body.
pub fn success(dedup_key: &str) -> Value {
    json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key})
}

/// 400 body.
pub fn invalid(errors: Vec<String>) -> Value {
    json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors})
}

/// The body of any other refusal (404, 413, 429, 503…), in the same shape; `status` names
/// the kind as PagerDuty's own refusals do (`throttle event` for 429).
pub fn refused(status: StatusCode, message: &str) -> Value {
    let kind = match status {
        StatusCode::TOO_MANY_REQUESTS => "throttle event",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        StatusCode::PAYLOAD_TOO_LARGE => "payload too large",
        StatusCode::NOT_FOUND => "not found",
        s if s.is_server_error() => "error",
        _ => "invalid event",
    };
    json!({"status": kind, "message": message, "errors": [message]})
}

/// Checks an event as PagerDuty does; every problem found is listed.
pub fn parse(body: &[u8]) -> Result<Event, Vec<String>> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| vec!["Event object is not valid JSON".into()])?;
    let Some(obj) = value.as_object() else {
        return Err(vec!["Event object must be a JSON object".into()]);
    };
    let mut errors = Vec::new();
    let routing_key = text(obj, "routing_key");
    if routing_key.is_none() {
        errors.push("'routing_key' is missing or blank".to_string());
    }
    let action = match text(obj, "event_action").as_deref() {
        None => {
            errors.push("'event_action' is missing or blank".into());
            None
        }
        Some("trigger") => Some(AlertAction::Trigger),
        Some("acknowledge") => Some(AlertAction::Acknowledge),
        Some("resolve") => Some(AlertAction::Resolve),
        Some(_) => {
            errors.push(
                "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)".into(),
            );
            None
        }
    };
    let dedup_key = text(obj, "dedup_key");
    if dedup_key
        .as_ref()
        .is_some_and(|k| k.chars().count() > MAX_DEDUP_KEY)
    {
        errors.push(format!(
            "'dedup_key' is too long (max {MAX_DEDUP_KEY} characters)"
        ));
    }
    let mut alert = None;
    match action {
        Some(AlertAction::Trigger) => match trigger(obj, dedup_key.clone()) {
            Ok(a) => alert = Some(a),
            Err(mut e) => errors.append(&mut e),
        },
        Some(action) => {
            if dedup_key.is_none() {
                errors.push("'dedup_key' is missing or blank".into());
            }
            alert = Some(settle(obj, action, dedup_key.clone()));
        }
        None => {}
    }
    match (routing_key, alert) {
        (Some(routing_key), Some(alert)) if errors.is_empty() => Ok(Event { routing_key, alert }),
        _ => Err(errors),
    }
}

fn text(obj: &Map<String, Value>, field: &str) -> Option<String> {
    obj.get(field)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn trigger(obj: &Map<String, Value>, dedup_key: Option<String>) -> Result<RawAlert, Vec<String>> {
    let Some(payload) = obj.get("payload").and_then(Value::as_object) else {
        return Err(vec!["'payload' is missing or blank".into()]);
    };
    let mut errors = Vec::new();
    for field in ["summary", "source", "severity"] {
        if text(payload, field).is_none() {
            errors.push(format!("'payload.{field}' is missing or blank"));
        }
    }
    let severity = text(payload, "severity");
    if let Some(s) = &severity
        && !SEVERITIES.contains(&s.as_str())
    {
        errors.push(
            "'payload.severity' is invalid (must be one of: critical, error, warning, info)".into(),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut labels = Labels::new();
    for field in ["source", "component", "group", "class", "severity"] {
        if let Some(v) = text(payload, field) {
            labels.insert(field.into(), v);
        }
    }
    if let Some(details) = payload.get("custom_details").and_then(Value::as_object) {
        for (k, v) in details {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            labels.entry(k.clone()).or_insert(v);
        }
    }
    let mut annotations = Labels::new();
    for field in ["client", "client_url"] {
        if let Some(v) = text(obj, field) {
            annotations.insert(field.into(), v);
        }
    }
    Ok(RawAlert {
        action: AlertAction::Trigger,
        dedup_key,
        summary: text(payload, "summary").unwrap_or_default(),
        severity,
        labels,
        annotations,
        payload: without_key(obj),
    })
}

fn settle(obj: &Map<String, Value>, action: AlertAction, dedup_key: Option<String>) -> RawAlert {
    RawAlert {
        action,
        dedup_key,
        summary: String::new(),
        severity: None,
        labels: Labels::new(),
        annotations: Labels::new(),
        payload: without_key(obj),
    }
}

/// The event as stored: the routing key is a secret and never kept.
fn without_key(obj: &Map<String, Value>) -> Value {
    let mut obj = obj.clone();
    obj.remove("routing_key");
    Value::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_missing_field() {
        let errs = parse(br#"{"event_action":"trigger","payload":{"severity":"bad"}}"#)
            .expect_err("invalid");
        assert_eq!(
            errs,
            vec![
                "'routing_key' is missing or blank",
                "'payload.summary' is missing or blank",
                "'payload.source' is missing or blank",
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)",
            ]
        );
        let errs = parse(br#"{"routing_key":"k","event_action":"resolve"}"#).expect_err("invalid");
        assert_eq!(errs, vec!["'dedup_key' is missing or blank"]);
    }

    #[test]
    fn reads_a_trigger() {
        let ev = parse(
            br#"{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"critical","custom_details":{"a":1}}}"#,
        )
        .expect("valid");
        assert_eq!(ev.routing_key, "k");
        assert_eq!(ev.alert.labels.get("a").map(String::as_str), Some("1"));
        assert!(ev.alert.payload.get("routing_key").is_none());
    }
}
