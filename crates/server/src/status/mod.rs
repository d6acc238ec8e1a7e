//! The public status page, no token needed: `GET /status` (HTML, no JavaScript),
//! `/status/api/v2/{summary,status,components,incidents}.json` and
//! `/status/api/v2/incidents/unresolved.json` (Atlassian Statuspage's public API shapes), and
//! `/status/history.atom` (RFC 4287). Everything is read from published updates only
//! (`Store::published_incidents`); drafts cannot reach these handlers. Every answer carries
//! the security headers of [`headers`] (a CSP that allows no script).

#[cfg(test)]
mod fuzz_tests;
mod headers;
mod model;
mod render;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

pub use headers::content_security_policy;
pub use model::{Model, iso};

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/status", get(html))
        .route("/status/", get(html))
        .route("/status/history.atom", get(atom))
        .route("/status/api/v2/summary.json", get(summary))
        .route("/status/api/v2/status.json", get(status))
        .route("/status/api/v2/components.json", get(components))
        .route("/status/api/v2/incidents.json", get(incidents))
        .route("/status/api/v2/incidents/unresolved.json", get(unresolved))
        .route_layer(axum::middleware::from_fn(headers::secure))
}

async fn load(state: &AppState) -> Result<(muster_config::StatusPage, Model), ApiError> {
    let page = state
        .config()
        .config
        .status_page
        .clone()
        .ok_or_else(|| ApiError::not_found("no status page is configured"))?;
    let incidents = state
        .store
        .published_incidents(muster_store::MAX_PUBLIC_INCIDENTS)
        .await?;
    let model = model::build(&page, &incidents, state.clock.now());
    Ok((page, model))
}

#[derive(Serialize)]
struct Summary {
    page: model::PageJson,
    components: Vec<model::ComponentJson>,
    incidents: Vec<model::IncidentJson>,
    scheduled_maintenances: Vec<serde_json::Value>,
    status: model::StatusJson,
}

async fn summary(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    let (_, m) = load(&state).await?;
    Ok(Json(Summary {
        incidents: m.unresolved(),
        page: m.page,
        components: m.components,
        scheduled_maintenances: Vec::new(),
        status: m.status,
    }))
}

#[derive(Serialize)]
struct StatusOnly {
    page: model::PageJson,
    status: model::StatusJson,
}

async fn status(State(state): State<AppState>) -> Result<Json<StatusOnly>, ApiError> {
    let (_, m) = load(&state).await?;
    Ok(Json(StatusOnly {
        page: m.page,
        status: m.status,
    }))
}

#[derive(Serialize)]
struct Components {
    page: model::PageJson,
    components: Vec<model::ComponentJson>,
}

async fn components(State(state): State<AppState>) -> Result<Json<Components>, ApiError> {
    let (_, m) = load(&state).await?;
    Ok(Json(Components {
        page: m.page,
        components: m.components,
    }))
}

#[derive(Serialize)]
struct Incidents {
    page: model::PageJson,
    incidents: Vec<model::IncidentJson>,
}

async fn incidents(State(state): State<AppState>) -> Result<Json<Incidents>, ApiError> {
    let (_, m) = load(&state).await?;
    Ok(Json(Incidents {
        page: m.page,
        incidents: m.incidents,
    }))
}

async fn unresolved(State(state): State<AppState>) -> Result<Json<Incidents>, ApiError> {
    let (_, m) = load(&state).await?;
    Ok(Json(Incidents {
        incidents: m.unresolved(),
        page: m.page,
    }))
}

async fn html(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (page, m) = load(&state).await?;
    let body = render::html(&page, &m)?;
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response())
}

async fn atom(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (page, m) = load(&state).await?;
    let body = render::atom(&page, &m)?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}
