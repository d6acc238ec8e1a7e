//! Team scopes: which teams own what a write touches, for tokens limited to teams
//! (`muster_core::access` has the table). The owners are resolved once here, from the route a
//! request matched and its path parameters, before its body is read; the few writes whose
//! owners are in the body (a declaration, a new silence, a new public incident) are checked by
//! their handlers with [`Caller::require_scope`].

use std::collections::BTreeSet;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::request::Parts;
use muster_core::IncidentNumber;

use crate::AppState;
use crate::auth::Caller;
use crate::error::ApiError;

/// What a write route touches, for the scope check.
enum Target {
    /// Owned by the teams of this incident's services.
    Incident(String),
    /// Owned by the team of this schedule.
    Schedule(String),
    /// Speaks for an internal incident: owned like it.
    PublicIncident(String),
    Alert(String),
    Silence(String),
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
    caller: &Caller,
) -> Result<(), ApiError> {
    if caller.scope.is_all() {
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
        Target::Global(what) => caller.require_every_team(what),
        Target::Incident(raw) => {
            let owners = incident_owners(state, &raw).await?;
            caller.require_scope(&owners, &format!("incident {raw}"))
        }
        Target::Schedule(id) => {
            let owners = state.config().config.owners_of_schedule(&id);
            caller.require_scope(&owners, &format!("schedule `{id}`"))
        }
        Target::PublicIncident(id) => {
            let Some(public) = state.store.public_incident(&id).await? else {
                return Ok(());
            };
            let number = public.incident.to_string();
            let owners = incident_owners(state, &number).await?;
            caller.require_scope(&owners, &format!("incident {number}"))
        }
        Target::Alert(raw) => {
            let Ok(n) = raw.parse::<i64>() else {
                return Ok(());
            };
            let Some(alert) = state.store.alert(n).await? else {
                return Ok(());
            };
            let owners = state.config().config.owners_of_services([&alert.service]);
            caller.require_scope(&owners, &format!("alert {n}"))
        }
        Target::Silence(raw) => {
            let Ok(n) = raw.parse::<i64>() else {
                return Ok(());
            };
            let Some(silence) = state.store.silence(n).await? else {
                return Ok(());
            };
            let owners = state.config().config.owners_of_services([&silence.service]);
            caller.require_scope(&owners, &format!("silence {n}"))
        }
    }
}

/// The target of a write route. Unknown write routes are global: a new route is refused to
/// limited tokens until it is given a target here (the authorization matrix test fails
/// otherwise).
fn target(route: &str, id: String) -> Target {
    let under = |prefix: &str| route == prefix || route.starts_with(&format!("{prefix}/"));
    if under("/api/v1/incidents/{id}") {
        Target::Incident(id)
    } else if under("/api/v1/schedules/{id}/overrides") {
        Target::Schedule(id)
    } else if under("/api/v1/status-page/incidents/{id}") {
        Target::PublicIncident(id)
    } else if under("/api/v1/alerts/{id}") {
        Target::Alert(id)
    } else if route == "/api/v1/silences/{id}" {
        Target::Silence(id)
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
