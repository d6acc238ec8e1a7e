//! Alertmanager's webhook payload, version 4: each alert's fingerprint is its dedup key
//! (Alertmanager derives it from the label set), `status` says firing or resolved.
//!
//! Alertmanager re-posts a whole group at every `group_interval`; that is harmless because a
//! repeat of an open alert only counts.

use muster_core::alert::{AlertAction, Labels};
use serde::Deserialize;
use serde_json::Value;

use super::RawAlert;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Webhook {
    version: String,
    #[serde(default)]
    group_key: String,
    #[serde(default)]
    receiver: String,
    #[serde(default)]
    external_url: String,
    alerts: Vec<Alert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alert {
    status: String,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    annotations: Labels,
    #[serde(default)]
    starts_at: Option<String>,
    #[serde(default)]
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// Parses a webhook body into its alerts; the error is a message for a 400 answer.
pub fn parse(body: &[u8]) -> Result<Vec<RawAlert>, String> {
    let hook: Webhook =
        serde_json::from_slice(body).map_err(|e| format!("invalid Alertmanager webhook: {e}"))?;
    if hook.version != "4" {
        return Err(format!(
            "unsupported webhook payload version `{}`; Muster reads version 4",
            hook.version
        ));
    }
    hook.alerts
        .into_iter()
        .map(|a| raw_alert(a, &hook.group_key, &hook.receiver, &hook.external_url))
        .collect()
}

fn raw_alert(
    a: Alert,
    group_key: &str,
    receiver: &str,
    external_url: &str,
) -> Result<RawAlert, String> {
    let action = match a.status.as_str() {
        "firing" => AlertAction::Trigger,
        "resolved" => AlertAction::Resolve,
        other => {
            return Err(format!(
                "alert status `{other}` is neither firing nor resolved"
            ));
        }
    };
    let summary = ["summary", "description", "message"]
        .iter()
        .find_map(|k| a.annotations.get(*k))
        .or_else(|| a.labels.get("alertname"))
        .cloned()
        .unwrap_or_else(|| "Alertmanager alert".into());
    // What Alertmanager said of the alert besides its labels, for the record; absent fields
    // are left out, not stored as nulls. Built as a map directly: this runs once per alert.
    let mut payload = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        payload.insert(k.to_string(), Value::String(v));
    };
    put("source", "alertmanager".into());
    put("group_key", group_key.to_string());
    put("receiver", receiver.to_string());
    put("external_url", external_url.to_string());
    put("status", a.status);
    let optional = [
        ("starts_at", a.starts_at),
        ("ends_at", a.ends_at),
        ("generator_url", a.generator_url),
        ("fingerprint", a.fingerprint.clone()),
    ];
    for (k, v) in optional {
        if let Some(v) = v {
            put(k, v);
        }
    }
    Ok(RawAlert {
        action,
        dedup_key: a.fingerprint,
        summary,
        severity: a.labels.get("severity").cloned(),
        labels: a.labels,
        annotations: a.annotations,
        payload: Value::Object(payload),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_version_4_and_refuses_others() {
        let body = br#"{"version":"4","groupKey":"{}:{alertname=\"X\"}","status":"firing","receiver":"r","alerts":[
            {"status":"firing","labels":{"alertname":"X","severity":"critical"},"annotations":{"summary":"X is down"},
             "startsAt":"2026-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p","fingerprint":"abc"}]}"#;
        let alerts = parse(body).expect("parses");
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].dedup_key.as_deref(), Some("abc"));
        assert_eq!(alerts[0].summary, "X is down");
        assert_eq!(alerts[0].severity.as_deref(), Some("critical"));
        assert_eq!(
            alerts[0].payload,
            serde_json::json!({"source": "alertmanager", "group_key": "{}:{alertname=\"X\"}",
                "receiver": "r", "external_url": "", "status": "firing",
                "starts_at": "2026-01-01T00:00:00Z", "ends_at": "0001-01-01T00:00:00Z",
                "generator_url": "http://p", "fingerprint": "abc"})
        );
        let bare =
            br#"{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"Y"}}]}"#;
        let bare = parse(bare).expect("parses");
        assert_eq!(bare[0].action, AlertAction::Resolve);
        // Fields the webhook left out are absent from the record, not nulls.
        assert_eq!(
            bare[0].payload,
            serde_json::json!({"source": "alertmanager", "group_key": "", "receiver": "",
                "external_url": "", "status": "resolved"})
        );
        let v3 = br#"{"version":"3","alerts":[]}"#;
        assert!(parse(v3).unwrap_err().contains("version"));
        assert!(parse(b"{").is_err());
    }
}
