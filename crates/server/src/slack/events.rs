//! `POST /slack/events`: the Events API.
//!
//! `url_verification` is answered with its challenge. In an incident's channel, messages go
//! onto the timeline as notes (every message, or those pinned with the configured reaction,
//! per `slack.timeline`), and members joining or leaving the channel join or leave the
//! incident as responders (which the solo-responder policies watch). Events from strangers,
//! bots and other channels are acknowledged and ignored.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use muster_config::TimelineCapture;
use muster_core::{Command, IncidentNumber};
use serde_json::{Value, json};

use super::{incident_of_channel, person_of};
use crate::AppState;

pub async fn event(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let arrived = std::time::Instant::now();
    if let Some(refused) = super::refused(&state, &headers, &body).await {
        return refused;
    }
    let Ok(envelope) = serde_json::from_slice::<Value>(&body) else {
        return crate::error::ApiError::bad_request("body: expected Slack's JSON").into_response();
    };
    match envelope["type"].as_str() {
        Some("url_verification") => {
            axum::Json(json!({"challenge": envelope["challenge"]})).into_response()
        }
        Some("event_callback") => {
            // Slack retries an event it thinks was lost, signed anew: handle each id once.
            if let Some(event_id) = envelope["event_id"].as_str() {
                match super::first_time(&state, &format!("event:{event_id}")).await {
                    Ok(true) => {}
                    Ok(false) => return StatusCode::OK.into_response(),
                    Err(e) => return crate::error::ApiError::from(e).into_response(),
                }
            }
            let worker = state.clone();
            super::within_deadline(arrived, async move {
                if let Err(e) = handle(&worker, &envelope["event"]).await {
                    tracing::warn!(error = %e, "slack event not handled");
                }
            })
            .await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}

/// What an event means for the incident of its channel.
enum Meaning {
    Note(String),
    Pinned { channel: String, ts: String },
    Join,
    Leave,
}

fn meaning(event: &Value, capture: TimelineCapture, reaction: &str) -> Option<(String, Meaning)> {
    let text = |k: &str| event[k].as_str().map(String::from);
    match event["type"].as_str()? {
        // Edits, joins and bot posts carry a subtype; only people's own words are kept.
        "message" if capture == TimelineCapture::All && event.get("subtype").is_none() => {
            Some((text("channel")?, Meaning::Note(text("text")?)))
        }
        "reaction_added"
            if capture == TimelineCapture::Reaction
                && event["reaction"].as_str() == Some(reaction)
                && event.pointer("/item/type").and_then(Value::as_str) == Some("message") =>
        {
            let channel = event.pointer("/item/channel")?.as_str()?.to_string();
            let ts = event.pointer("/item/ts")?.as_str()?.to_string();
            Some((channel.clone(), Meaning::Pinned { channel, ts }))
        }
        "member_joined_channel" => Some((text("channel")?, Meaning::Join)),
        "member_left_channel" => Some((text("channel")?, Meaning::Leave)),
        _ => None,
    }
}

async fn handle(state: &AppState, event: &Value) -> Result<(), String> {
    let cfg = state.config();
    let Some(slack) = cfg.config.slack.as_ref() else {
        return Ok(());
    };
    if event.get("bot_id").is_some() {
        return Ok(());
    }
    let Some((channel, what)) = meaning(event, slack.timeline, &slack.reaction) else {
        return Ok(());
    };
    let Some(id) = incident_of_channel(state, &channel)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let user = event["user"].as_str().unwrap_or_default();
    let Some(person) = person_of(state, user).await else {
        return Ok(());
    };
    let command = match what {
        Meaning::Note(text) => Command::AddNote { text },
        Meaning::Join => Command::Join {
            person: person.clone(),
        },
        Meaning::Leave => Command::Leave {
            person: person.clone(),
        },
        Meaning::Pinned { channel, ts } => {
            // Pinning puts someone's message on the timeline: the pinner's change.
            let cfg = state.config();
            let incident = state.store.incident(id).await.map_err(|e| e.to_string())?;
            if let Some(Err(e)) = incident.map(|i| super::may_change(&cfg, &person, &i)) {
                tracing::info!(incident = %id, error = %e, "slack pin refused");
                return Ok(());
            }
            return capture(state, id, &channel, &ts).await;
        }
    };
    // A refusal (already a responder, incident resolved, another team's) is not an error for
    // Slack.
    let cfg = state.config();
    let guarded = crate::reactions::apply_guarded(state, &person, id, command, |inc| {
        super::may_change(&cfg, &person, inc)
    });
    if let Err(e) = guarded.await {
        tracing::info!(incident = %id, error = %e, "slack event refused");
    }
    Ok(())
}

/// A pinned message is fetched (its text is not in the reaction event) and noted, once.
async fn capture(
    state: &AppState,
    id: IncidentNumber,
    channel: &str,
    ts: &str,
) -> Result<(), String> {
    let capture = crate::effect::Effect::SlackCapture(crate::effect::SlackCapture {
        channel: channel.into(),
        ts: ts.into(),
    });
    let item = capture.item(format!("{id}/slack:pin:{ts}"), Some(id));
    let effects = muster_store::Effects {
        timers: Vec::new(),
        outbox: vec![item],
        ..Default::default()
    };
    state
        .store
        .apply_effects(state.clock.now(), &effects)
        .await
        .map_err(|e| e.to_string())
}
