//! The Slack app: slash commands, interactivity and events in, Web API calls out.
//!
//! Requests from Slack are verified (`verify`) before anything else and answered within
//! Slack's three seconds: the work runs on the server's side and its result reaches Slack
//! through the outbox (`response_url`, `chat.postMessage`, `chat.update`, …), so a slow or
//! failing Slack never blocks an answer and every call is retried. Slack users are people of
//! the configuration, found by their configured `slack_user` id or by email (`users.info`).
//!
//! - `commands.rs` — `POST /slack/commands` (`/muster declare|ack|sev|role|…`).
//! - `interactions.rs` — `POST /slack/interactions` (buttons, the declare and update modals).
//! - `events.rs` — `POST /slack/events` (url_verification, messages, reactions, joins).
//! - `channel.rs` — the outbox items of an incident's channel and their delivery.
//! - `clock_header.rs` — the channel's header (severity, status, roles, live clock), its
//!   refresh timer, and the brief.
//! - `text.rs` — Slack's `& < >` escapes: text built from incident or alert data is escaped,
//!   text from Slack unescaped.

pub mod channel;
pub mod clock_header;
pub mod commands;
pub mod events;
#[cfg(test)]
mod fuzz_tests;
pub mod interactions;
pub mod text;
pub mod verify;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use muster_core::IncidentNumber;
use muster_notify::{Secret, Slack};
use muster_store::OutboxItem;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::effect::{Effect, SlackResponse};

/// How long a request waits for its work before answering "working on it" (Slack allows 3 s).
pub const ANSWER_WITHIN: Duration = Duration::from_millis(2500);
/// How long looking up a Slack user's email may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_millis(1500);

/// The Slack app's secrets and state of this process.
#[derive(Debug, Default)]
pub struct SlackRuntime {
    signing_secret: Option<Secret>,
    /// For `users.info` while answering a request; sending goes through the deliverer.
    client: Option<Slack>,
    /// Slack user id → person id, for users found by email.
    by_email: Mutex<HashMap<String, String>>,
}

impl SlackRuntime {
    pub fn new(signing_secret: Option<Secret>, client: Option<Slack>) -> SlackRuntime {
        SlackRuntime {
            signing_secret,
            client,
            ..SlackRuntime::default()
        }
    }

    /// Whether requests from Slack can be verified (a signing secret is set).
    pub fn verifies(&self) -> bool {
        self.signing_secret.is_some()
    }

    /// From `MUSTER_SLACK_SIGNING_SECRET`, `MUSTER_SLACK_BOT_TOKEN` and
    /// `MUSTER_SLACK_API_URL`. Without a signing secret every Slack request is refused.
    pub fn from_env() -> SlackRuntime {
        let secret = std::env::var("MUSTER_SLACK_SIGNING_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        let client = muster_notify::http_client().ok().and_then(Slack::from_env);
        SlackRuntime::new(secret, client)
    }
}

/// The `/slack/*` routes (outside `/api/v1`: Slack authenticates by signature, not token).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/slack/commands",
            axum::routing::post(commands::slash_command),
        )
        .route(
            "/slack/interactions",
            axum::routing::post(interactions::interaction),
        )
        .route("/slack/events", axum::routing::post(events::event))
}

/// Verifies a request: `Some` answer (a bare 401 that writes nothing, or 503 when the
/// database is away) when it must not be handled.
pub(crate) async fn refused(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<Response> {
    let now = state.clock.now();
    let secret = state.slack.signing_secret.as_ref().map(Secret::expose);
    let why = match verify::check(secret, headers, body, now.as_second()) {
        Ok(signature) => match first_time(state, &format!("sig:{signature}")).await {
            Ok(true) => return None,
            Ok(false) => verify::Rejection::Replayed,
            Err(e) => return Some(crate::error::ApiError::from(e).into_response()),
        },
        Err(why) => why,
    };
    tracing::warn!(?why, "slack request refused");
    Some(
        crate::error::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the request is not signed by Slack",
        )
        .into_response(),
    )
}

/// Whether `key` is new within the signature window (across every node on the database).
pub(crate) async fn first_time(
    state: &AppState,
    key: &str,
) -> Result<bool, muster_store::StoreError> {
    let window = Duration::from_secs(verify::MAX_AGE_SECS.unsigned_abs() * 2);
    state
        .store
        .first_slack_request(key, state.clock.now(), window)
        .await
}

/// The fields of a form-encoded body.
pub(crate) fn form(body: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// An answer only the caller sees.
pub(crate) fn ephemeral(text: impl Into<String>) -> Response {
    axum::Json(json!({"response_type": "ephemeral", "text": text.into()})).into_response()
}

/// The person a Slack user is: by configured `slack_user` id, else by the email Slack has
/// for them. `None` for a stranger (who may then change nothing).
pub(crate) async fn person_of(state: &AppState, user: &str) -> Option<String> {
    let cfg = state.config();
    if let Some(p) = cfg
        .config
        .people
        .values()
        .find(|p| p.contact.slack_user.as_deref() == Some(user))
    {
        return Some(p.id.clone());
    }
    let rt = &state.slack;
    if let Some(id) = rt
        .by_email
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(user)
    {
        return Some(id.clone());
    }
    let client = rt.client.as_ref()?;
    let email = tokio::time::timeout(LOOKUP_TIMEOUT, client.user_email(user))
        .await
        .ok()?
        .ok()?;
    let person = cfg.config.people.values().find(|p| {
        p.contact
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&email))
    })?;
    rt.by_email
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(user.to_string(), person.id.clone());
    Some(person.id.clone())
}

/// The incident whose channel `channel` is.
pub(crate) async fn incident_of_channel(
    state: &AppState,
    channel: &str,
) -> Result<Option<IncidentNumber>, muster_store::StoreError> {
    Ok(state
        .store
        .slack_channel_by_id(channel)
        .await?
        .map(|c| c.incident))
}

/// An outbox item answering through `response_url` (each URL is answered once per text).
pub(crate) fn response_item(
    incident: Option<IncidentNumber>,
    url: &str,
    body: Value,
) -> OutboxItem {
    let digest = Sha256::digest(format!("{url}\n{body}").as_bytes());
    let response = Effect::SlackResponse(SlackResponse {
        url: url.into(),
        body,
    });
    let key = format!("slack/response:{}", hex::encode(&digest[..12]));
    response.item(key, incident)
}

/// Whether `person` may change `incident` from Slack (`slack.writes`; the rule is
/// `muster_core::access::person_may_change`): the check every Slack change runs under the
/// incident's lock, so the roles and services it reads are the ones the change meets.
pub(crate) fn may_change(
    cfg: &crate::LoadedConfig,
    person: &str,
    incident: &muster_core::Incident,
) -> Result<(), muster_core::DomainError> {
    let scope = cfg.config.slack_scope(person);
    let owners = cfg.config.owners_of_services(&incident.services);
    if muster_core::access::person_may_change(&scope, &owners, incident, person) {
        return Ok(());
    }
    let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
    Err(muster_core::DomainError::Forbidden(format!(
        "{person} is in {scope}; {} belongs to {} (slack.writes: own_teams): ask its \
         commander to add you",
        incident.id,
        owners.join(", ")
    )))
}

/// [`may_change`] for a declaration of `services`.
pub(crate) fn may_declare(
    cfg: &crate::LoadedConfig,
    person: &str,
    services: &[String],
) -> Result<(), String> {
    let scope = cfg.config.slack_scope(person);
    let owners = cfg.config.owners_of_services(services);
    if scope.covers(&owners) {
        return Ok(());
    }
    let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
    Err(format!(
        "{person} is in {scope}; those services belong to {} (slack.writes: own_teams)",
        owners.join(", ")
    ))
}

/// What a refused change says to the person in Slack (the API's error message).
pub(crate) fn refusal(e: muster_store::StoreError) -> String {
    crate::error::ApiError::from(e).message
}

/// Queues an answer to `response_url` (nothing when Slack gave none).
pub(crate) async fn respond_later(
    state: &AppState,
    incident: Option<IncidentNumber>,
    url: Option<&str>,
    body: Value,
) {
    let Some(url) = url.filter(|u| !u.is_empty()) else {
        return;
    };
    let effects = muster_store::Effects {
        timers: Vec::new(),
        outbox: vec![response_item(incident, url, body)],
        ..Default::default()
    };
    if let Err(e) = state.store.apply_effects(state.clock.now(), &effects).await {
        tracing::warn!(error = %e, "queueing a slack response failed");
    }
}

/// Runs `work` in the background, waiting for it until [`ANSWER_WITHIN`] after `arrived`:
/// Slack gets its answer in time either way, and the work finishes (and answers through the
/// outbox) later.
pub(crate) async fn within_deadline<F>(arrived: std::time::Instant, work: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let task = tokio::spawn(work);
    let left = ANSWER_WITHIN.saturating_sub(arrived.elapsed());
    let _ = tokio::time::timeout(left, task).await;
}
