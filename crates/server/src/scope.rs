//! Team scopes: which teams own what a write touches, for tokens limited to teams
//! (`muster_core::access` has the table). The owners are resolved once here, from the route a
//! request matched and its path parameters, before its body is read; the few writes whose
//! owners are in the body (a declaration, a new silence, a new public incident) are checked by
//! their handlers with [`require`] (`Caller::require_scope`).

use std::collections::BTreeSet;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use muster_core::IncidentNumber;

use axum::http::StatusCode;
use muster_core::Scope;

use crate::AppState;
use crate::error::ApiError;

/// Something a write touches that a team may own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    /// Owned by the teams of this incident's services (raw id, as in a path).
    Incident(String),
    /// Owned by the team of this schedule.
    Schedule(String),
    /// Speaks for an internal incident: owned like it.
    PublicIncident(String),
    Alert(String),
    Silence(String),
    /// Services being named (a declaration, a new silence).
    Services(Vec<String>),
}

/// What a write route touches, for the scope check.
enum Target {
    Owned(Owned),
    /// Its owners are in the body: the handler checks them.
    InBody,
    /// Touches no team's incidents, schedules or alerts (drills are exercises).
    Shared,
    /// Concerns every team.
    Global(&'static str),
}

/// Refuses (403) a write by a caller limited to teams when its target belongs to other teams.
/// A target that does not exist passes: the handler answers 404 as it does for anyone.
pub(crate) async fn check_write(
    parts: &mut Parts,
    state: &AppState,
    name: &str,
    scope: &Scope,
) -> Result<(), ApiError> {
    if scope.is_all() {
        return Ok(());
    }
    let route = MatchedPath::from_request_parts(parts, state)
        .await
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    match target(&route, id) {
        Target::InBody | Target::Shared => Ok(()),
        Target::Global(what) => require_every_team(name, scope, what),
        Target::Owned(thing) => {
            let (owners, what) = owners(state, &thing).await?;
            require(name, scope, &owners, &what)
        }
    }
}

/// 403 unless `scope` (token `name`'s) covers `owners`, the teams that own `what`.
pub fn require(
    name: &str,
    scope: &Scope,
    owners: &BTreeSet<String>,
    what: &str,
) -> Result<(), ApiError> {
    if scope.covers(owners) {
        return Ok(());
    }
    let owners: Vec<&str> = owners.iter().map(String::as_str).collect();
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "token `{name}` is limited to {scope}; {what} belongs to {}",
            owners.join(", ")
        ),
    ))
}

/// 403 for a token limited to teams: `what` concerns every team.
pub fn require_every_team(name: &str, scope: &Scope, what: &str) -> Result<(), ApiError> {
    if scope.is_all() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("token `{name}` is limited to {scope}; {what} concerns every team"),
    ))
}

/// The teams that own `thing`, and how a refusal names it. Empty when no team owns it or it
/// does not exist (then the caller's own lookup answers 404).
pub async fn owners(
    state: &AppState,
    thing: &Owned,
) -> Result<(BTreeSet<String>, String), ApiError> {
    let cfg = state.config();
    let config = &cfg.config;
    Ok(match thing {
        Owned::Incident(raw) => (
            incident_owners(state, raw).await?,
            format!("incident {raw}"),
        ),
        Owned::Schedule(id) => (config.owners_of_schedule(id), format!("schedule `{id}`")),
        Owned::PublicIncident(id) => match state.store.public_incident(id).await? {
            Some(public) => {
                let number = public.incident.to_string();
                let owners = incident_owners(state, &number).await?;
                (owners, format!("incident {number}"))
            }
            None => (BTreeSet::new(), String::new()),
        },
        Owned::Alert(raw) => {
            let service = match raw.parse::<i64>() {
                Ok(n) => state.store.alert(n).await?.map(|a| a.service),
                Err(_) => None,
            };
            of_service(config, service, format!("alert {raw}"))
        }
        Owned::Silence(raw) => {
            let service = match raw.parse::<i64>() {
                Ok(n) => state.store.silence(n).await?.map(|s| s.service),
                Err(_) => None,
            };
            of_service(config, service, format!("silence {raw}"))
        }
        Owned::Services(services) => {
            let what = match services.as_slice() {
                [one] => format!("service `{one}`"),
                _ => "the services named".to_string(),
            };
            (config.owners_of_services(services), what)
        }
    })
}

/// The owners of a thing that belongs to `service` (none when there is no such thing).
fn of_service(
    config: &muster_config::Config,
    service: Option<String>,
    what: String,
) -> (BTreeSet<String>, String) {
    match service {
        Some(s) => (config.owners_of_services([&s]), what),
        None => (BTreeSet::new(), String::new()),
    }
}

/// The target of a write route. Unknown write routes are global: a new route is refused to
/// limited tokens until it is given a target here (the authorization matrix test fails
/// otherwise).
fn target(route: &str, id: String) -> Target {
    let under = |prefix: &str| route == prefix || route.starts_with(&format!("{prefix}/"));
    if under("/api/v1/incidents/{id}") {
        Target::Owned(Owned::Incident(id))
    } else if under("/api/v1/schedules/{id}/overrides")
        || route == "/api/v1/schedules/{id}/take-pager"
    {
        Target::Owned(Owned::Schedule(id))
    } else if under("/api/v1/status-page/incidents/{id}") {
        Target::Owned(Owned::PublicIncident(id))
    } else if under("/api/v1/alerts/{id}") {
        Target::Owned(Owned::Alert(id))
    } else if route == "/api/v1/silences/{id}" {
        Target::Owned(Owned::Silence(id))
    } else if matches!(
        route,
        "/api/v1/incidents" | "/api/v1/silences" | "/api/v1/status-page/incidents"
    ) {
        Target::InBody
    } else if under("/api/v1/drills") {
        Target::Shared
    } else if route == "/api/v1/config/reload" {
        Target::Global("reloading the configuration")
    } else {
        Target::Global("this operation")
    }
}

/// The teams that own incident `raw` (empty when it does not exist or no team owns it).
pub async fn incident_owners(state: &AppState, raw: &str) -> Result<BTreeSet<String>, ApiError> {
    let Ok(number) = raw.parse::<IncidentNumber>() else {
        return Ok(BTreeSet::new());
    };
    let Some(incident) = state.store.incident(number).await? else {
        return Ok(BTreeSet::new());
    };
    Ok(state.config().config.owners_of_services(&incident.services))
}
