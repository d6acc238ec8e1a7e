//! Acknowledging a notification: `POST /api/v1/incidents/{id}/notifications/{key}/ack`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use jiff::Timestamp;
use muster_core::Access;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{ApiPath, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::reactions::{self, AckOutcome, Acknowledgement};

/// Who acknowledges: the token's owner, or (admins only) the person named.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotificationAckRequest {
    pub person: Option<String>,
}

/// A notification's acknowledgement: the first one, also when asked again.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NotificationAckView {
    pub key: String,
    pub by: String,
    /// `alias:legal`, `schedule:legal-oncall`, `person:alice`.
    pub audience: String,
    #[schema(value_type = String)]
    pub at: Timestamp,
    /// From when the notification was decided.
    pub delay_secs: i64,
    /// False when it had been acknowledged before (nothing was written).
    pub recorded: bool,
}

impl NotificationAckView {
    pub fn of(a: Acknowledgement, recorded: bool) -> Self {
        NotificationAckView {
            key: a.key,
            by: a.by,
            audience: a.audience,
            at: a.at,
            delay_secs: a.delay_secs,
            recorded,
        }
    }
}

/// The view of an acknowledgement outcome, or 404 for an unknown notification.
pub fn answer(key: &str, outcome: AckOutcome) -> Result<NotificationAckView, ApiError> {
    match outcome {
        AckOutcome::Acknowledged(a) => Ok(NotificationAckView::of(a, true)),
        AckOutcome::Already(a) => Ok(NotificationAckView::of(a, false)),
        AckOutcome::UnknownNotification => Err(ApiError::not_found(format!(
            "no notification `{key}` in this incident"
        ))),
    }
}

#[utoipa::path(post, path = "/api/v1/incidents/{id}/notifications/{key}/ack", tag = "incidents",
    request_body(content = Option<NotificationAckRequest>, description = "Optional; `person` for admins only"),
    params(("id" = String, Path, description = "Incident id"),
        ("key" = String, Path, description = "The notification's key (`notification_queued`'s, without the incident prefix)")),
    responses((status = 200, description = "Acknowledged, now or before (then `recorded` is false)", body = NotificationAckView),
        (status = 403, description = "Naming another person needs an admin token", body = ErrorBody),
        (status = 404, description = "No such incident or notification", body = ErrorBody),
        (status = 409, description = "The incident is resolved", body = ErrorBody),
        (status = 422, description = "The person is not a recipient of the notification", body = ErrorBody)))]
pub async fn ack_notification(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, key)): ApiPath<(String, String)>,
    body: Bytes,
) -> Result<Json<NotificationAckView>, ApiError> {
    caller.require(Access::Responder)?;
    let id = incident_id(&id)?;
    let req: NotificationAckRequest = if body.iter().all(u8::is_ascii_whitespace) {
        NotificationAckRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::unprocessable(format!("invalid request body: {e}")))?
    };
    let person = match req.person {
        Some(p) if p != caller.name => {
            caller.require(Access::Admin)?;
            p
        }
        _ => caller.name.clone(),
    };
    let outcome = reactions::acknowledge_notification(&state, &person, id, &key).await?;
    answer(&key, outcome).map(Json)
}
