//! Alerts from monitoring: what they are and the pure rules applied to them before they are
//! stored — dedup keys, label routing, severity mapping, grouping and auto-resolution.
//!
//! The intake parsers (server) turn each source's payload into [`AlertSignal`]s; the store
//! applies them in one transaction using these rules. Nothing here does IO.

use std::collections::BTreeMap;

pub use jiff::SignedDuration;
use jiff::Timestamp;

use crate::incident::Severity;

/// Labels (or PagerDuty custom details flattened to strings), ordered so encodings are stable.
pub type Labels = BTreeMap<String, String>;

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertStatus {
    Firing,
    Acknowledged,
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<AlertStatus> {
        Some(match s {
            "firing" => AlertStatus::Firing,
            "acknowledged" => AlertStatus::Acknowledged,
            "resolved" => AlertStatus::Resolved,
            _ => return None,
        })
    }

    /// Firing and acknowledged alerts are open: they dedup repeats and keep incidents open.
    pub fn is_open(self) -> bool {
        self != AlertStatus::Resolved
    }
}

/// What the source says happened to the alert identified by a dedup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// One alert event from any source, already routed and mapped: what the store applies.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSignal {
    pub integration: String,
    pub action: AlertAction,
    pub dedup_key: String,
    pub group_key: String,
    pub service: String,
    pub severity: Severity,
    pub summary: String,
    pub labels: Labels,
    pub annotations: Labels,
    /// The source's own JSON for this alert, kept for the record.
    pub payload: serde_json::Value,
    /// Joining an open incident of the same group key is allowed this long after the group's
    /// first alert; `None`: while the incident is open.
    pub group_window: Option<SignedDuration>,
    pub auto_resolve: bool,
}

/// A label-matcher route: every `matches` label must have exactly that value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<'a> {
    pub matches: &'a Labels,
    pub service: &'a str,
}

/// The service of the first route whose matchers all hold, else `default`.
pub fn route<'a>(
    labels: &Labels,
    routes: &[Route<'a>],
    default: Option<&'a str>,
) -> Option<&'a str> {
    routes
        .iter()
        .find(|r| r.matches.iter().all(|(k, v)| labels.get(k) == Some(v)))
        .map(|r| r.service)
        .or(default)
}

/// Severity from the source's severity value through the integration's map. Unmapped or
/// missing values default to SEV2: an alert nobody classified is assumed to matter.
pub fn severity(value: Option<&str>, map: &BTreeMap<String, Severity>) -> Severity {
    value
        .and_then(|v| map.get(v).or_else(|| map.get(&v.to_ascii_lowercase())))
        .copied()
        .unwrap_or(Severity::Sev2)
}

/// A dedup key derived from the label set, for sources that give none: the same labels always
/// give the same key (FNV-1a 64 over a length-prefixed encoding, so no two label sets collide
/// by concatenation).
pub fn labels_key(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for chunk in [&(bytes.len() as u64).to_le_bytes()[..], bytes] {
            for b in chunk {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    };
    for (k, v) in labels {
        feed(k.as_bytes());
        feed(v.as_bytes());
    }
    format!("{h:016x}")
}

/// The group an alert belongs to: the values of the `group_by` labels (`dedup_key` names the
/// alert's own key). No `group_by`: each alert is its own group.
pub fn group_key(group_by: &[String], labels: &Labels, dedup_key: &str) -> String {
    let mut key = String::new();
    if group_by.is_empty() {
        key.push_str("dedup_key=");
        escape_into(&mut key, dedup_key);
        return key;
    }
    for (i, name) in group_by.iter().enumerate() {
        let value = match labels.get(name) {
            Some(v) => v.as_str(),
            None if name == "dedup_key" => dedup_key,
            None => "",
        };
        if i > 0 {
            key.push(',');
        }
        escape_into(&mut key, name);
        key.push('=');
        escape_into(&mut key, value);
    }
    key
}

/// Appends `s` with commas, equals signs and backslashes escaped, so distinct label values
/// give distinct group keys. Written into one string: every alert of every intake request
/// comes through here.
fn escape_into(key: &mut String, s: &str) {
    let mut rest = s;
    while let Some(at) = rest.find(['\\', ',', '=']) {
        key.push_str(&rest[..at]);
        key.push('\\');
        // The three are ASCII: one byte each.
        key.push_str(&rest[at..=at]);
        rest = &rest[at + 1..];
    }
    key.push_str(rest);
}

/// Whether a new alert may join an open incident whose group started at `group_started`.
pub fn joins_group(
    group_started: Timestamp,
    now: Timestamp,
    window: Option<SignedDuration>,
) -> bool {
    match window {
        None => true,
        Some(w) => now.duration_since(group_started) <= w,
    }
}

/// Whether resolving an alert resolves its incident: only when the integration says so and no
/// alert of the incident is still open.
pub fn resolves_incident(auto_resolve: bool, open_alerts_left: u64) -> bool {
    auto_resolve && open_alerts_left == 0
}

/// The incident title for an alert that opens one: its summary, bounded and on one line.
pub fn incident_title(summary: &str) -> String {
    let line: String = summary
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    let line = line.trim();
    if line.is_empty() {
        "Alert".to_string()
    } else {
        line.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn first_matching_route_wins_then_default() {
        let db = labels(&[("service", "postgres")]);
        let ns = labels(&[("namespace", "payments")]);
        let routes = [
            Route {
                matches: &db,
                service: "postgres",
            },
            Route {
                matches: &ns,
                service: "payments-api",
            },
        ];
        let l = labels(&[("namespace", "payments"), ("service", "postgres")]);
        assert_eq!(route(&l, &routes, Some("checkout")), Some("postgres"));
        let l = labels(&[("namespace", "payments")]);
        assert_eq!(route(&l, &routes, Some("checkout")), Some("payments-api"));
        assert_eq!(
            route(&Labels::new(), &routes, Some("checkout")),
            Some("checkout")
        );
        assert_eq!(route(&Labels::new(), &routes, None), None);
    }

    #[test]
    fn severity_maps_and_defaults() {
        let map = BTreeMap::from([("critical".to_string(), Severity::Sev1)]);
        assert_eq!(severity(Some("critical"), &map), Severity::Sev1);
        assert_eq!(severity(Some("CRITICAL"), &map), Severity::Sev1);
        assert_eq!(severity(Some("odd"), &map), Severity::Sev2);
        assert_eq!(severity(None, &map), Severity::Sev2);
    }

    #[test]
    fn group_key_uses_dedup_key_when_named() {
        let l = labels(&[("alertname", "Down")]);
        assert_eq!(group_key(&[], &l, "k1"), "dedup_key=k1");
        assert_eq!(group_key(&["dedup_key".into()], &l, "k1"), "dedup_key=k1");
        assert_eq!(
            group_key(&["alertname".into(), "service".into()], &l, "k"),
            "alertname=Down,service="
        );
    }

    #[test]
    fn group_key_escapes_separators_as_stored_keys_always_have() {
        // Stored group keys must stay byte-identical across versions: each backslash, comma
        // and equals sign gets a backslash in front, in names and values alike.
        let l = labels(&[("a=b", "x\\,y=z"), ("plain", "v")]);
        assert_eq!(
            group_key(&["a=b".into(), "plain".into()], &l, "k"),
            "a\\=b=x\\\\\\,y\\=z,plain=v"
        );
        assert_eq!(group_key(&[], &l, "k,1"), "dedup_key=k\\,1");
    }

    #[test]
    fn window_and_auto_resolve() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let w = Some(SignedDuration::from_mins(5));
        assert!(joins_group(t0, t0 + SignedDuration::from_mins(5), w));
        assert!(!joins_group(t0, t0 + SignedDuration::from_secs(301), w));
        assert!(joins_group(t0, t0 + SignedDuration::from_hours(100), None));
        assert!(resolves_incident(true, 0));
        assert!(!resolves_incident(true, 1));
        assert!(!resolves_incident(false, 0));
    }

    fn label_set() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-z,=]{0,4}", "[a-z,=\\\\]{0,4}", 0..4)
    }

    proptest! {
        #[test]
        fn labels_key_is_deterministic_and_separates(a in label_set(), b in label_set()) {
            prop_assert_eq!(labels_key(&a), labels_key(&a.clone()));
            if a != b {
                // 64-bit hash: a collision on these tiny inputs would be a bug in the encoding.
                prop_assert_ne!(labels_key(&a), labels_key(&b));
            }
        }

        #[test]
        fn group_keys_separate_distinct_values(a in label_set(), b in label_set()) {
            let by: Vec<String> = a.keys().chain(b.keys()).cloned().collect();
            let (ka, kb) = (group_key(&by, &a, "k"), group_key(&by, &b, "k"));
            let same = by.iter().all(|n| a.get(n).map_or("", |v| v) == b.get(n).map_or("", |v| v));
            prop_assert_eq!(ka == kb, same);
        }

        #[test]
        fn title_is_one_bounded_line(s in ".{0,400}") {
            let t = incident_title(&s);
            prop_assert!(!t.is_empty() && t.chars().count() <= 200);
            prop_assert!(!t.chars().any(char::is_control));
        }
    }
}
