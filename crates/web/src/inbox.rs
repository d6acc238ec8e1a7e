//! The inbox: what `GET /api/v1/inbox` shows — notifications no configured provider could
//! carry (and copies, when so configured), newest first — for the signed-in token's person
//! (when the token is named after one) or for everyone.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use muster_core::IncidentNumber;
use muster_server::AppState;
use muster_store::InboxFilter;
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, render};
use crate::session::Session;
use crate::util::given;

/// Entries a page shows.
const SHOWN: u32 = 100;

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    /// `me` or `all`; default `me` when the token is a person's, else `all`.
    #[serde(default)]
    who: String,
    #[serde(default)]
    incident: String,
}

pub struct EntryRow {
    pub incident: String,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub reason: String,
    pub at: Time,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    /// Whether the token is named after a configured person.
    is_person: bool,
    me: String,
    who: String,
    incident: String,
    entries: Vec<EntryRow>,
}

pub async fn inbox(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<InboxQuery>,
) -> Result<Response, PageError> {
    let is_person = state.config().config.people.contains_key(&session.name);
    let who = match q.who.trim() {
        "" if is_person => "me",
        "" | "all" => "all",
        "me" => "me",
        other => {
            return Err(PageError::invalid(format!(
                "who: `{other}` is not one of me, all"
            )));
        }
    };
    let incident = given(&q.incident)
        .map(|s| {
            s.parse::<IncidentNumber>()
                .map_err(|_| PageError::invalid(format!("incident: `{s}` is not an incident id")))
        })
        .transpose()?;
    let filter = InboxFilter {
        person: (who == "me").then(|| session.name.clone()),
        incident,
        limit: Some(SHOWN),
    };
    let zone = &session.zone;
    let entries = state
        .store
        .inbox(&filter)
        .await?
        .into_iter()
        .map(|e| EntryRow {
            incident: e.incident.map(|n| n.to_string()).unwrap_or_default(),
            recipient: e.recipient,
            subject: e.subject,
            text: e.text,
            reason: e.reason,
            at: Time::new(e.created_at, zone),
        })
        .collect();
    let page = InboxPage {
        layout: Layout::new("Inbox", "inbox", &session, "/inbox"),
        is_person,
        me: session.name.clone(),
        who: who.to_string(),
        incident: q.incident.trim().to_string(),
        entries,
    };
    Ok(render(&page))
}
