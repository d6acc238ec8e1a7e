//! `GET /api/v1/inbox`: notifications no configured provider could carry (and copies of
//! every notification when so configured), newest first.

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use muster_core::IncidentNumber;
use muster_store::{InboxEntry, InboxFilter};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::ApiQuery;
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboxEntryView {
    pub id: i64,
    /// The delivery's idempotency key (stored once per key).
    #[schema(example = "INC-7/page:1/person:alice/inbox")]
    pub key: String,
    #[schema(example = "INC-7")]
    pub incident: Option<String>,
    /// The person id, when the recipient is a person.
    #[schema(example = "alice")]
    pub person: Option<String>,
    /// The recipient as shown: `person:alice`, `#payments`, `legal@example.com`, `alias:pr`.
    #[schema(example = "person:alice")]
    pub recipient: String,
    pub subject: String,
    pub text: String,
    /// Why it is here.
    #[schema(example = "no configured provider reaches them")]
    pub reason: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
}

impl From<InboxEntry> for InboxEntryView {
    fn from(e: InboxEntry) -> Self {
        InboxEntryView {
            id: e.id,
            key: e.key,
            incident: e.incident.map(|n| n.to_string()),
            person: e.person,
            recipient: e.recipient,
            subject: e.subject,
            text: e.text,
            reason: e.reason,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Only entries for this person id.
    pub person: Option<String>,
    /// Only entries of this incident, e.g. INC-42.
    pub incident: Option<String>,
    /// At most this many, newest first (default 100, max 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/inbox", tag = "incidents", params(InboxParams),
    responses((status = 200, description = "Inbox entries, newest first", body = Vec<InboxEntryView>),
        (status = 400, description = "Malformed filter", body = ErrorBody),
        (status = 500, description = "Storage failure", body = ErrorBody)))]
pub async fn list_inbox(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<InboxParams>,
) -> Result<Json<Vec<InboxEntryView>>, ApiError> {
    let incident = p
        .incident
        .as_deref()
        .map(|s| {
            s.parse::<IncidentNumber>().map_err(|_| {
                ApiError::bad_request(format!("incident: `{s}` is not an incident id"))
            })
        })
        .transpose()?;
    let filter = InboxFilter {
        person: p.person,
        incident,
        limit: p.limit,
    };
    let entries = state.store.inbox(&filter).await?;
    Ok(Json(
        entries.into_iter().map(InboxEntryView::from).collect(),
    ))
}
