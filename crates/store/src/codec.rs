//! Conversions at the storage boundary: timestamps as epoch milliseconds, JSON as text, enums
//! as their serde strings.

use muster_core::{Access, Change, Incident, Scope, Severity, Status, TimelineEvent, Timestamp};

use crate::StoreError;
use crate::error::corrupt;

/// The database keeps milliseconds, so every time the store writes is cut to milliseconds
/// first; otherwise a snapshot (full precision) would differ from the replay of its timeline.
pub(crate) fn to_millis_precision(t: Timestamp) -> Timestamp {
    Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t)
}

pub(crate) fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

pub(crate) fn from_ms(ms: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(ms).map_err(|e| corrupt("timestamp", e))
}

pub(crate) fn encode_state(incident: &Incident) -> Result<String, StoreError> {
    serde_json::to_string(incident)
        .map_err(|e| StoreError::Internal(format!("cannot encode incident: {e}")))
}

pub(crate) fn decode_state(state: &str) -> Result<Incident, StoreError> {
    serde_json::from_str(state).map_err(|e| corrupt("incident", e))
}

pub(crate) fn encode_services(services: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(services)
        .map_err(|e| StoreError::Internal(format!("cannot encode services: {e}")))
}

/// The `data` part of a change's `{"kind", "data"}` form, as JSON text.
pub(crate) fn encode_change_data(change: &Change) -> Result<String, StoreError> {
    let value = serde_json::to_value(change)
        .map_err(|e| StoreError::Internal(format!("cannot encode change: {e}")))?;
    let data = value
        .get("data")
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    Ok(data.to_string())
}

pub(crate) fn decode_change(kind: &str, data: &str) -> Result<Change, StoreError> {
    // One parse of `{"kind":…,"data":…}` straight into the change: a long timeline is read
    // whole by briefings and reports, and a `Value` tree per event doubled the cost.
    let tag = serde_json::to_string(kind).map_err(|e| corrupt("timeline event kind", e))?;
    let mut doc = String::with_capacity(data.len() + tag.len() + 18);
    doc.push_str("{\"kind\":");
    doc.push_str(&tag);
    if data.trim() != "null" {
        doc.push_str(",\"data\":");
        doc.push_str(data);
    }
    doc.push('}');
    serde_json::from_str(&doc).map_err(|e| corrupt(&format!("timeline event of kind `{kind}`"), e))
}

/// A timeline row: (seq, at, actor, kind, data).
pub(crate) type EventRow = (i64, i64, String, String, String);

pub(crate) fn decode_event(row: EventRow) -> Result<TimelineEvent, StoreError> {
    let (seq, at, actor, kind, data) = row;
    Ok(TimelineEvent {
        seq,
        at: from_ms(at)?,
        actor,
        change: decode_change(&kind, &data)?,
    })
}

pub(crate) fn decode_status(s: &str) -> Result<Status, StoreError> {
    s.parse().map_err(|e| corrupt("status", e))
}

pub(crate) fn decode_severity(s: &str) -> Result<Severity, StoreError> {
    s.parse().map_err(|e| corrupt("severity", e))
}

/// A token's teams column: comma-separated team ids, `NULL` for every team.
pub(crate) fn encode_scope(scope: &Scope) -> Option<String> {
    scope.team_list().map(|t| t.join(","))
}

pub(crate) fn decode_scope(teams: Option<&str>) -> Scope {
    Scope::teams(
        teams
            .into_iter()
            .flat_map(|t| t.split(','))
            .filter(|t| !t.is_empty()),
    )
}

pub(crate) fn decode_access(s: &str) -> Result<Access, StoreError> {
    s.parse().map_err(|e: String| corrupt("access", e))
}

/// Stamps the changes of one command as the events that follow `last_seq`.
pub(crate) fn stamp(
    last_seq: i64,
    at: Timestamp,
    actor: &str,
    changes: Vec<Change>,
    acted_by: &std::collections::BTreeMap<usize, String>,
) -> Vec<TimelineEvent> {
    changes
        .into_iter()
        .zip(last_seq + 1..)
        .enumerate()
        .map(|(i, (change, seq))| TimelineEvent {
            seq,
            at,
            actor: acted_by.get(&i).map_or(actor, String::as_str).to_string(),
            change,
        })
        .collect()
}

/// SHA-256 of a token, lower-case hex: what the database keeps instead of the secret.
pub(crate) fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_kind_and_data() {
        let change = Change::TaskAdded {
            task_id: 3,
            title: "page db team".into(),
            assignee: None,
        };
        let data = encode_change_data(&change).unwrap();
        assert_eq!(decode_change(change.kind(), &data).unwrap(), change);
    }

    #[test]
    fn a_corrupt_event_is_an_error_naming_its_kind() {
        let err = decode_change("task_added", "{\"task_id\": 3,").unwrap_err();
        assert!(
            err.to_string()
                .contains("timeline event of kind `task_added`"),
            "{err}"
        );
        // Data cannot smuggle a second kind into the event.
        let err = decode_change(
            "note_added",
            "{\"text\":\"x\"},\"kind\":\"incident_reopened\"",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`note_added`"), "{err}");
    }

    #[test]
    fn times_are_cut_to_milliseconds() {
        let t = Timestamp::from_nanosecond(1_700_000_000_123_456_789).unwrap();
        let cut = to_millis_precision(t);
        assert_eq!(from_ms(ms(cut)).unwrap(), cut);
        assert_eq!(ms(cut), 1_700_000_000_123);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(
            token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
