//! `POST /slack/interactions`: buttons (acknowledge, claim a role, mark a milestone, snooze
//! a nudge, post an update) and modal submissions (declare, status update).
//!
//! Slack sends a form with one field, `payload`, holding JSON. Button results go to the
//! action's `response_url` through the outbox; a modal's validation errors are the answer
//! itself (`{"response_action":"errors","errors":{block_id: message}}`), so Slack shows them
//! in the modal.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use muster_core::{Command, IncidentNumber, Severity};
use serde_json::{Value, json};

use super::commands::{self, act, milestone};
use super::{ephemeral, form, person_of, respond_later};
use crate::AppState;
use crate::reactions::acknowledge::Answer;
use crate::reactions::{self, AckOutcome, Acknowledgement};

pub async fn interaction(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    if let Some(refused) = super::refused(&state, &headers, &body).await {
        return refused;
    }
    let Some(payload) = form(&body)
        .get("payload")
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    else {
        return crate::error::ApiError::bad_request("field `payload`: expected Slack's JSON")
            .into_response();
    };
    let user = payload
        .pointer("/user/id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(person) = person_of(&state, user).await else {
        let message = format!("Muster does not know you (Slack user {user}); nothing was changed.");
        if payload["type"] == "view_submission" {
            // A modal shows errors by block; the first block of both modals is an input.
            let block = payload
                .pointer("/view/blocks/0/block_id")
                .and_then(Value::as_str)
                .unwrap_or("title")
                .to_string();
            return errors(BTreeMap::from([(block.as_str(), message)]));
        }
        return ephemeral(message);
    };
    match payload["type"].as_str() {
        Some("block_actions") => block_actions(state, person, payload, arrived).await,
        Some("view_submission") => view_submission(state, person, payload, arrived).await,
        _ => StatusCode::OK.into_response(),
    }
}

/// What a button's value carries.
pub(crate) fn value_of(action: &Value) -> Value {
    action["value"]
        .as_str()
        .and_then(|v| serde_json::from_str(v).ok())
        .unwrap_or(Value::Null)
}

fn incident_in(value: &Value) -> Option<IncidentNumber> {
    value["incident"].as_str()?.parse().ok()
}

/// The command a button stands for (`None` for one that opens a modal).
pub fn command_of(action_id: &str, value: &Value, person: &str) -> Option<Command> {
    let text = |k: &str| value[k].as_str().map(String::from);
    match super::clock_header::action_kind(action_id) {
        "muster_ack" => Some(Command::Acknowledge),
        "muster_milestone" => text("milestone").map(|m| milestone(&m)),
        "muster_claim" => text("role").map(|role| Command::AssignRole {
            role,
            person: person.into(),
        }),
        "muster_snooze" => text("key").map(|key| Command::AcknowledgeNudge { key }),
        _ => None,
    }
}

async fn block_actions(
    state: AppState,
    person: String,
    payload: Value,
    arrived: std::time::Instant,
) -> Response {
    let Some(action) = payload.pointer("/actions/0").cloned() else {
        return StatusCode::OK.into_response();
    };
    let action_id = action["action_id"].as_str().unwrap_or_default().to_string();
    let value = value_of(&action);
    let incident = incident_in(&value);
    let response_url = payload["response_url"].as_str().map(String::from);
    if super::clock_header::action_kind(&action_id) == "muster_update" {
        let trigger = payload["trigger_id"].as_str();
        commands::open_view(&state, trigger, update_view(incident)).await;
        return StatusCode::OK.into_response();
    }
    if super::clock_header::action_kind(&action_id) == super::channel::ACK_NOTIFICATION {
        let key = value["key"].as_str().unwrap_or_default().to_string();
        let page = value["page"]
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
        let pressed = Pressed {
            person,
            incident,
            key,
            page,
        };
        acknowledge(state, pressed, response_url, arrived).await;
        return StatusCode::OK.into_response();
    }
    let Some(command) = command_of(&action_id, &value, &person) else {
        return ephemeral(format!("Muster does not know the button `{action_id}`."));
    };
    let worker = state.clone();
    super::within_deadline(arrived, async move {
        let answer = match act(&worker, &person, incident, command).await {
            Ok(Some((_, text))) => {
                json!({"response_type": "in_channel", "replace_original": false, "text": text})
            }
            Ok(None) => return,
            Err(problem) => json!({"response_type": "ephemeral", "replace_original": false,
                "text": format!(":warning: {problem}")}),
        };
        respond_later(&worker, incident, response_url.as_deref(), answer).await;
    })
    .await;
    StatusCode::OK.into_response()
}

/// Who pressed which notification's Acknowledge button (`page`: sent as a page, when).
struct Pressed {
    person: String,
    incident: Option<IncidentNumber>,
    key: String,
    page: Option<jiff::Timestamp>,
}

/// A notification's Acknowledge button: the same path as the API's and every other
/// channel's, answered in the channel.
async fn acknowledge(
    state: AppState,
    p: Pressed,
    response_url: Option<String>,
    arrived: std::time::Instant,
) {
    let worker = state.clone();
    let incident = p.incident;
    super::within_deadline(arrived, async move {
        let Some(id) = incident else { return };
        let (person, key) = (p.person.as_str(), p.key.as_str());
        let answer = Answer {
            person,
            id,
            key,
            channel: Some("slack"),
            page: p.page,
        };
        let outcome = reactions::acknowledge::acknowledge(&worker, &answer).await;
        let (kind, text) = match outcome {
            Ok(AckOutcome::Acknowledged(a)) => ("in_channel", acked(&a, "")),
            Ok(AckOutcome::Already(a)) => ("ephemeral", acked(&a, "Already: ")),
            Ok(AckOutcome::UnknownNotification) => (
                "ephemeral",
                format!(":warning: {id} has no notification `{key}`"),
            ),
            Err(e) => ("ephemeral", format!(":warning: {e}")),
        };
        let answer = json!({"response_type": kind, "replace_original": false, "text": text});
        respond_later(&worker, incident, response_url.as_deref(), answer).await;
    })
    .await;
}

/// `ken acknowledged the notification to alias:legal after 10 min`.
fn acked(a: &Acknowledgement, prefix: &str) -> String {
    format!(
        "{prefix}{} acknowledged the notification to {} after {}",
        a.by,
        a.audience,
        muster_core::words::duration_secs(a.delay_secs)
    )
}

/// The status-update modal of an incident.
pub fn update_view(incident: Option<IncidentNumber>) -> Value {
    json!({
        "type": "modal",
        "callback_id": "muster_update",
        "private_metadata": incident.map(|i| i.to_string()).unwrap_or_default(),
        "title": {"type": "plain_text", "text": "Post a status update"},
        "submit": {"type": "plain_text", "text": "Post"},
        "blocks": [
            {"type": "input", "block_id": "text", "label": {"type": "plain_text", "text": "Update"},
             "element": {"type": "plain_text_input", "action_id": "value", "multiline": true}},
        ],
    })
}

/// A modal input's value (`state.values[block][value]`): text or selected option.
fn input(view: &Value, block: &str) -> String {
    let v = &view["state"]["values"][block]["value"];
    v["value"]
        .as_str()
        .or_else(|| v.pointer("/selected_option/value").and_then(Value::as_str))
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn errors(map: BTreeMap<&str, String>) -> Response {
    axum::Json(json!({"response_action": "errors", "errors": map})).into_response()
}

/// A checked declare form.
pub struct DeclareForm {
    pub title: String,
    pub severity: Severity,
    pub services: Vec<String>,
}

/// Checks the declare modal's fields; the errors are keyed by block id.
pub fn check_declare(
    view: &Value,
    known_services: &std::collections::BTreeSet<String>,
) -> Result<DeclareForm, BTreeMap<&'static str, String>> {
    let mut problems = BTreeMap::new();
    let title = input(view, "title");
    if title.is_empty() {
        problems.insert("title", "A title is needed.".to_string());
    } else if title.chars().count() > muster_core::incident::MAX_TITLE_CHARS {
        problems.insert(
            "title",
            format!(
                "At most {} characters.",
                muster_core::incident::MAX_TITLE_CHARS
            ),
        );
    }
    let severity = input(view, "severity").parse::<Severity>();
    if severity.is_err() {
        problems.insert("severity", "Choose SEV1, SEV2, SEV3 or SEV4.".to_string());
    }
    let services: Vec<String> = input(view, "services")
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let unknown: Vec<&str> = services
        .iter()
        .filter(|s| !known_services.contains(*s))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        problems.insert(
            "services",
            format!("Unknown service: {}.", unknown.join(", ")),
        );
    }
    match severity {
        Ok(severity) if problems.is_empty() => Ok(DeclareForm {
            title,
            severity,
            services,
        }),
        _ => Err(problems),
    }
}

async fn view_submission(
    state: AppState,
    person: String,
    payload: Value,
    arrived: std::time::Instant,
) -> Response {
    let view = &payload["view"];
    match view["callback_id"].as_str() {
        Some("muster_declare") => {
            let cfg = state.config();
            let form = match check_declare(view, &cfg.vocab.services) {
                Ok(f) => f,
                Err(problems) => return errors(problems),
            };
            if let Err(why) = super::may_declare(&cfg, &person, &form.services) {
                return errors(BTreeMap::from([("services", why)]));
            }
            let worker = state.clone();
            super::within_deadline(arrived, async move {
                let declaration = crate::reactions::commit::Declaration {
                    title: &form.title,
                    severity: form.severity,
                    services: &form.services,
                    incident_type: None,
                };
                if let Err(e) = crate::reactions::declare(&worker, &person, declaration).await {
                    tracing::warn!(error = %e, "declaring from the modal failed");
                }
            })
            .await;
            axum::Json(json!({"response_action": "clear"})).into_response()
        }
        Some("muster_update") => {
            let text = input(view, "text");
            if text.is_empty() {
                return errors(BTreeMap::from([("text", "Write the update.".to_string())]));
            }
            let incident = view["private_metadata"]
                .as_str()
                .and_then(|s| s.parse::<IncidentNumber>().ok());
            let Some(id) = incident else {
                return errors(BTreeMap::from([(
                    "text",
                    "This form lost its incident; run the update from the incident's channel."
                        .to_string(),
                )]));
            };
            let worker = state.clone();
            super::within_deadline(arrived, async move {
                let note = Command::AddNote {
                    text: format!("Status update: {text}"),
                };
                let _ = act(&worker, &person, Some(id), note).await;
                let posted = Command::ReachMilestone {
                    milestone: "status_update_posted".into(),
                };
                let _ = act(&worker, &person, Some(id), posted).await;
            })
            .await;
            axum::Json(json!({"response_action": "clear"})).into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(title: &str, sev: Option<&str>, services: &str) -> Value {
        let sev = match sev {
            Some(s) => json!({"selected_option": {"value": s}}),
            None => json!({"selected_option": null}),
        };
        json!({"state": {"values": {
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "severity": {"value": sev},
            "services": {"value": {"type": "plain_text_input", "value": services}},
        }}})
    }

    #[test]
    fn declare_form_errors_are_keyed_by_block() {
        let known = ["checkout".to_string()].into();
        let ok = check_declare(&view("Checkout down", Some("SEV1"), "checkout"), &known)
            .map_err(|e| format!("{e:?}"))
            .expect("valid");
        assert_eq!(ok.services, vec!["checkout"]);
        let bad = check_declare(&view("  ", None, "checkout, nope"), &known)
            .err()
            .expect("invalid");
        assert_eq!(bad["title"], "A title is needed.");
        assert_eq!(bad["severity"], "Choose SEV1, SEV2, SEV3 or SEV4.");
        assert_eq!(bad["services"], "Unknown service: nope.");
    }

    #[test]
    fn buttons_are_commands() {
        let v = json!({"incident": "INC-1", "milestone": "blast_radius_validated"});
        assert_eq!(
            command_of("muster_milestone:blast_radius_validated", &v, "alice"),
            Some(Command::ReachMilestone {
                milestone: "blast_radius_validated".into()
            })
        );
        let v = json!({"incident": "INC-1", "role": "incident_commander"});
        assert_eq!(
            command_of("muster_claim", &v, "bob"),
            Some(Command::AssignRole {
                role: "incident_commander".into(),
                person: "bob".into()
            })
        );
        assert_eq!(
            command_of("muster_ack", &v, "bob"),
            Some(Command::Acknowledge)
        );
        assert_eq!(command_of("nope", &v, "bob"), None);
    }
}
