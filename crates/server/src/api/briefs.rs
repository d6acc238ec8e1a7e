//! Briefings: "brief me", status-update drafts, hand-off and executive summaries and the
//! post-incident review draft, as JSON (default) or Markdown (`Accept: text/markdown` or
//! `?format=markdown`).
//!
//! The summaries come from the pure `muster_core::brief`; this module only loads their facts
//! (incident, whole timeline, live clock, linked alerts), records when a reader was briefed, and
//! lets the optional language model rewrite a draft, falling back to the deterministic text.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use muster_core::brief::{self, Audience, MAX_BRIEF_LINES};
use muster_core::{IncidentNumber, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery, incident_id};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::views::brief::Loaded;

/// One briefing. `markdown` is what to show; `summary` is the same content as structured data
/// from the deterministic summariser (its fields depend on `kind`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SummaryView {
    #[schema(example = "INC-42")]
    pub incident: String,
    /// `brief`, `status_update`, `handoff`, `exec_summary` or `review`.
    #[schema(example = "brief")]
    pub kind: String,
    #[schema(value_type = String, format = DateTime)]
    pub generated_at: Timestamp,
    /// `deterministic`, or `language_model` when the configured model rewrote the draft.
    #[schema(example = "deterministic")]
    pub generated_by: String,
    /// The model's name when `generated_by` is `language_model`.
    pub model: Option<String>,
    /// Markdown with every piece of free text escaped (no raw HTML ever).
    pub markdown: String,
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BriefParams {
    /// Only what happened at or after this time (RFC 3339). Default: since the caller last asked for
    /// a brief of this incident with `reader=me`, else since the declaration.
    pub since: Option<String>,
    /// `me`: since the calling token's previous brief of this incident (recorded each time).
    pub reader: Option<String>,
    /// `json` (default) or `markdown`.
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DraftParams {
    /// `internal` (default; CAN form) or `customer` (plain words, no names).
    pub audience: Option<String>,
    /// `json` (default) or `markdown`.
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HandoffParams {
    /// The role changing hands, e.g. `incident_commander`. Default: the role that changed
    /// hands last.
    pub role: Option<String>,
    /// `json` (default) or `markdown`.
    pub format: Option<String>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParams {
    /// `json` (default) or `markdown`.
    pub format: Option<String>,
}

/// The facts of `raw_id` with its whole timeline, or 404.
async fn load(state: &AppState, raw_id: &str) -> Result<Loaded, ApiError> {
    let id = incident_id(raw_id)?;
    Loaded::load(state, id).await?.ok_or_else(|| not_found(id))
}

fn not_found(id: IncidentNumber) -> ApiError {
    ApiError::not_found(format!("incident {id} not found"))
}

/// `?format=` wins; otherwise `Accept: text/markdown` asks for Markdown.
pub(super) fn wants_markdown(headers: &HeaderMap, format: Option<&str>) -> Result<bool, ApiError> {
    match format {
        Some("markdown" | "md") => Ok(true),
        Some("json") => Ok(false),
        Some(other) => Err(ApiError::unprocessable(format!(
            "invalid format `{other}`; expected json or markdown"
        ))),
        None => Ok(headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("text/markdown"))),
    }
}

/// A rendered summary on its way out.
struct Rendered {
    kind: &'static str,
    summary: serde_json::Value,
    markdown: String,
}

/// What the language model is asked to do for each kind.
fn instruction(kind: &str, audience: Option<Audience>) -> String {
    let what = match (kind, audience) {
        ("status_update", Some(Audience::Customer)) => {
            "a status update for customers. Do not name people, roles, policies or internal severity codes"
        }
        ("status_update", _) => {
            "an internal status update in CAN form (Conditions, Actions, Needs)"
        }
        ("brief", _) => {
            "a catch-up brief for someone joining the incident late, in at most 12 lines"
        }
        ("handoff", _) => "a hand-off note for the person taking over the role",
        _ => "an executive summary: impact, severity, duration, status, next update",
    };
    format!(
        "You rewrite incident drafts into clear, calm prose. Write {what}. Keep every fact, time \
         and name that is given and add none. Answer in plain Markdown, never HTML."
    )
}

/// The model's prose when it is configured and answers usefully; the deterministic text
/// otherwise. Returns (markdown, generated_by, model).
async fn narrate(
    state: &AppState,
    rendered: &Rendered,
    audience: Option<Audience>,
) -> (String, &'static str, Option<String>) {
    let Some(model) = &state.language_model else {
        return (rendered.markdown.clone(), "deterministic", None);
    };
    let max_lines = (rendered.kind == "brief").then_some(MAX_BRIEF_LINES);
    let fits = |text: &str| max_lines.is_none_or(|n| text.trim().lines().count() <= n);
    match model
        .rewrite(
            &instruction(rendered.kind, audience),
            &rendered.markdown,
            fits,
        )
        .await
    {
        Some(text) => {
            let mut safe = brief::text::untrusted_markdown(&text);
            safe.push('\n');
            (safe, "language_model", Some(model.model().to_string()))
        }
        None => (rendered.markdown.clone(), "deterministic", None),
    }
}

async fn respond(
    state: &AppState,
    loaded: &Loaded,
    rendered: Rendered,
    audience: Option<Audience>,
    markdown: bool,
) -> Response {
    let (text, generated_by, model) = if rendered.kind == "review" {
        // The review keeps its tables: it is a document to edit, not prose to read.
        (rendered.markdown.clone(), "deterministic", None)
    } else {
        narrate(state, &rendered, audience).await
    };
    if markdown {
        let mut resp = text.into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        );
        h.insert(
            "x-muster-generated-by",
            HeaderValue::from_static(generated_by),
        );
        if let Some(v) = model.and_then(|m| HeaderValue::from_str(&m).ok()) {
            h.insert("x-muster-model", v);
        }
        return resp;
    }
    Json(SummaryView {
        incident: loaded.incident.id.to_string(),
        kind: rendered.kind.to_string(),
        generated_at: loaded.now,
        generated_by: generated_by.to_string(),
        model,
        markdown: text,
        summary: rendered.summary,
    })
    .into_response()
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn parse_since(raw: &str) -> Result<Timestamp, ApiError> {
    raw.parse::<Timestamp>().map_err(|_| {
        ApiError::unprocessable(format!(
            "invalid since `{raw}`; expected an RFC 3339 time such as 2026-03-29T03:30:00Z"
        ))
    })
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/brief", tag = "briefings",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), BriefParams),
    responses(
        (status = 200, description = "What happened since `since`, in at most 12 lines", content(
            (SummaryView = "application/json"), (String = "text/markdown"))),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A parameter has an invalid value", body = ErrorBody)))]
pub async fn brief_me(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<BriefParams>,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&headers, p.format.as_deref())?;
    let explicit = p.since.as_deref().map(parse_since).transpose()?;
    let by_reader = match p.reader.as_deref() {
        None => false,
        Some("me") => true,
        Some(other) => {
            return Err(ApiError::unprocessable(format!(
                "invalid reader `{other}`; the only reader is `me` (the calling token)"
            )));
        }
    };
    let id = incident_id(&id)?;
    let last_look = if by_reader && explicit.is_none() {
        state.store.last_brief_look(&caller.name, id).await?
    } else {
        None
    };
    // The last look saw everything up to and including its own instant.
    let after_look = last_look.map(|at| at + jiff::SignedDuration::from_millis(1));
    let from = explicit.or(after_look);
    // This look is recorded while the brief is read, as of before the read: an event that
    // arrives meanwhile is shown again next time, never missed.
    let look = state
        .store
        .record_brief_look(&caller.name, id, state.clock.now());
    // Only the events since then are folded: a brief of a long incident reads what is new.
    let (loaded, looked) = tokio::join!(Loaded::load_brief(&state, id, from), look);
    let (loaded, recent) = loaded?.ok_or_else(|| not_found(id))?;
    // Best effort: a brief that cannot record the look is still worth answering.
    if let Err(e) = looked {
        tracing::warn!(error = %e, incident = %id, "could not record the reader's look");
    }
    let since = from.unwrap_or(loaded.incident.declared_at);
    let b = brief::brief_of(&loaded.facts(), since, &recent);
    let rendered = Rendered {
        kind: "brief",
        summary: to_json(&b),
        markdown: b.markdown(),
    };
    Ok(respond(&state, &loaded, rendered, None, markdown).await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/status-update-draft", tag = "briefings",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), DraftParams),
    responses(
        (status = 200, description = "A status update to edit and post", content(
            (SummaryView = "application/json"), (String = "text/markdown"))),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A parameter has an invalid value", body = ErrorBody)))]
pub async fn status_update_draft(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<DraftParams>,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&headers, p.format.as_deref())?;
    let audience: Audience = p.audience.as_deref().unwrap_or("internal").parse()?;
    let loaded = load(&state, &id).await?;
    let d = brief::status_update_draft(&loaded.facts(), audience);
    let rendered = Rendered {
        kind: "status_update",
        summary: to_json(&d),
        markdown: d.markdown(),
    };
    Ok(respond(&state, &loaded, rendered, Some(audience), markdown).await)
}

/// A hand-off is of a role the configuration knows (none given: the role that changed hands
/// last). The API's check, and the web UI's brief page.
pub fn check_handoff_role(state: &AppState, role: Option<&str>) -> Result<(), ApiError> {
    let Some(role) = role else {
        return Ok(());
    };
    let cfg = state.config();
    if cfg.vocab.roles.iter().any(|r| r == role) {
        return Ok(());
    }
    let known: Vec<&str> = cfg.vocab.roles.iter().map(String::as_str).collect();
    Err(ApiError::unprocessable(format!(
        "unknown role `{role}`; expected one of: {}",
        known.join(", ")
    )))
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/handoff", tag = "briefings",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), HandoffParams),
    responses(
        (status = 200, description = "What the person taking over a role needs to know", content(
            (SummaryView = "application/json"), (String = "text/markdown"))),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A parameter has an invalid value", body = ErrorBody)))]
pub async fn handoff(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<HandoffParams>,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&headers, p.format.as_deref())?;
    check_handoff_role(&state, p.role.as_deref())?;
    let loaded = load(&state, &id).await?;
    let h = brief::handoff(&loaded.facts(), p.role.as_deref());
    let rendered = Rendered {
        kind: "handoff",
        summary: to_json(&h),
        markdown: h.markdown(),
    };
    Ok(respond(&state, &loaded, rendered, None, markdown).await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/exec-summary", tag = "briefings",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), FormatParams),
    responses(
        (status = 200, description = "Impact, severity, duration, status, next update", content(
            (SummaryView = "application/json"), (String = "text/markdown"))),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A parameter has an invalid value", body = ErrorBody)))]
pub async fn exec_summary(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<FormatParams>,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&headers, p.format.as_deref())?;
    let loaded = load(&state, &id).await?;
    let e = brief::exec_summary(&loaded.facts());
    let rendered = Rendered {
        kind: "exec_summary",
        summary: to_json(&e),
        markdown: e.markdown(),
    };
    Ok(respond(&state, &loaded, rendered, None, markdown).await)
}

#[utoipa::path(get, path = "/api/v1/incidents/{id}/review-draft", tag = "briefings",
    params(("id" = String, Path, description = "Incident id, e.g. INC-42"), FormatParams),
    responses(
        (status = 200, description = "The post-incident review draft (always deterministic)", content(
            (SummaryView = "application/json"), (String = "text/markdown"))),
        (status = 404, description = "No such incident", body = ErrorBody),
        (status = 422, description = "A parameter has an invalid value", body = ErrorBody)))]
pub async fn review_draft(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(p): ApiQuery<FormatParams>,
) -> Result<Response, ApiError> {
    let markdown = wants_markdown(&headers, p.format.as_deref())?;
    let loaded = load(&state, &id).await?;
    let r = brief::review_draft(&loaded.facts());
    let rendered = Rendered {
        kind: "review",
        summary: to_json(&r),
        markdown: r.markdown(),
    };
    Ok(respond(&state, &loaded, rendered, None, markdown).await)
}
