//! The incident page's forms. Each is checked (form token, then role) before anything is
//! written, and calls the reactions function the API's handler calls, so a change from the
//! page is the same change, with the same policies, as one from the API, Slack or the CLI.
//! On success the answer is a redirect back to the incident page (post/redirect/get).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use muster_core::{Access, Command, IncidentNumber, Severity, Status};
use muster_server::AppState;
use muster_server::reactions;
use muster_server::scope::Owned;
use serde::Deserialize;

use crate::incident::parse_id;
use crate::page::PageError;
use crate::session::{Posted, Session};

fn back(id: IncidentNumber) -> Response {
    Redirect::to(&format!("/incidents/{id}")).into_response()
}

/// The checks every action shares: a responder's session, an incident id that parses, and
/// an incident the session's teams may write.
async fn allowed(
    state: &AppState,
    session: &Session,
    raw: &str,
) -> Result<IncidentNumber, PageError> {
    session.require(Access::Responder)?;
    let id = parse_id(raw)?;
    session
        .require_owner(state, Owned::Incident(id.to_string()))
        .await?;
    Ok(id)
}

async fn run(
    state: &AppState,
    session: &Session,
    id: IncidentNumber,
    command: Command,
) -> Result<Response, PageError> {
    reactions::apply(state, &session.name, id, command).await?;
    Ok(back(id))
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn acknowledge(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    run(&state, &p.session, id, Command::Acknowledge).await
}

#[derive(Debug, Deserialize)]
pub struct MilestoneForm {
    #[serde(default)]
    milestone: String,
}

pub async fn milestone(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<MilestoneForm>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    // As the API: `acknowledged` is the acknowledge command.
    let command = match p.form.milestone.as_str() {
        "acknowledged" => Command::Acknowledge,
        _ => Command::ReachMilestone {
            milestone: p.form.milestone,
        },
    };
    run(&state, &p.session, id, command).await
}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    person: String,
}

pub async fn role(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<RoleForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    let id = allowed(&state, &session, &raw).await?;
    // The API's rule: `comms_lead` only from the incident's commander, or an admin.
    let admin = session.access.allows(Access::Admin);
    let role = form.role.clone();
    let command = Command::AssignRole {
        role: form.role,
        person: form.person,
    };
    reactions::apply_guarded(&state, &session.name, id, command, |inc| {
        if admin {
            return Ok(());
        }
        muster_core::incident::check_assigner(inc, &role, &session.name)
    })
    .await?;
    Ok(back(id))
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

pub async fn status(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<StatusForm>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    let status: Status = p.form.status.parse()?;
    let command = Command::Update {
        title: None,
        severity: None,
        status: Some(status),
        services: None,
    };
    run(&state, &p.session, id, command).await
}

#[derive(Debug, Deserialize)]
pub struct SeverityForm {
    #[serde(default)]
    severity: String,
}

pub async fn severity(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<SeverityForm>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    let severity: Severity = p.form.severity.parse()?;
    let command = Command::Update {
        title: None,
        severity: Some(severity),
        status: None,
        services: None,
    };
    run(&state, &p.session, id, command).await
}

#[derive(Debug, Deserialize)]
pub struct TextForm {
    #[serde(default)]
    text: String,
}

/// A status update, as Slack's `/muster update`: the text as a note, then the
/// `status_update_posted` milestone the cadence policies wait for.
pub async fn status_update(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<TextForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    let id = allowed(&state, &session, &raw).await?;
    if form.text.trim().is_empty() {
        return Err(PageError::invalid("A status update needs some text."));
    }
    let note = Command::AddNote {
        text: format!("Status update: {}", form.text.trim()),
    };
    reactions::apply(&state, &session.name, id, note).await?;
    let posted = Command::ReachMilestone {
        milestone: "status_update_posted".into(),
    };
    // Reaching it again may be refused; the update itself is recorded.
    let _ = reactions::apply(&state, &session.name, id, posted).await;
    Ok(back(id))
}

pub async fn task_done(
    State(state): State<AppState>,
    Path((raw, task_id)): Path<(String, u32)>,
    p: Posted<Empty>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    let command = Command::SetTaskDone {
        task_id,
        done: true,
    };
    run(&state, &p.session, id, command).await
}

pub async fn note(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    p: Posted<TextForm>,
) -> Result<Response, PageError> {
    let id = allowed(&state, &p.session, &raw).await?;
    run(
        &state,
        &p.session,
        id,
        Command::AddNote { text: p.form.text },
    )
    .await
}
