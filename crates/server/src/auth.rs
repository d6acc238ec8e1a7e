//! Bearer-token authentication: who is calling, and may they do this?
//!
//! Every request reads its token from the database (`Store::authenticate`, on the injected
//! clock): nothing is cached, so a revoked or expired token is refused from its next request
//! on every node. Feed tokens (`Access::Feed`) open calendar feeds only, never the API.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use std::collections::BTreeSet;

use muster_core::{Access, Scope};

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller. Its name is the actor written to the timeline.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub access: Access,
    /// The teams this caller may write for (`crate::scope` decides what a write touches).
    pub scope: Scope,
}

impl Caller {
    /// 403 unless the caller's access includes `needed`.
    pub fn require(&self, needed: Access) -> Result<(), ApiError> {
        if self.access.allows(needed) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token `{}` has role {}; this needs {needed}",
                self.name, self.access
            ),
        ))
    }
}

impl Caller {
    /// 403 unless the caller's teams cover `owners`, the teams that own `what`.
    pub fn require_scope(&self, owners: &BTreeSet<String>, what: &str) -> Result<(), ApiError> {
        crate::scope::require(&self.name, &self.scope, owners, what)
    }
}

/// The answer for a token that is not (or no longer) valid: which of the three is not said.
pub const UNKNOWN_TOKEN: &str = "unknown, revoked or expired token";

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl Caller {
    /// The holder of the request's bearer token, whatever its access.
    async fn authenticated(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing Authorization: Bearer token"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("Authorization header must be `Bearer TOKEN`"))?;
        let owner = state
            .store
            .authenticate(token, state.clock.now())
            .await?
            .ok_or_else(|| unauthorized(UNKNOWN_TOKEN))?;
        if owner.access == Access::Feed {
            return Err(unauthorized(
                "a feed token opens calendar feeds (/ical/…?token=) only, not the API",
            ));
        }
        Ok(Caller {
            name: owner.name,
            access: owner.access,
            scope: owner.scope,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::authenticated(parts, state).await?;
        // A viewer changes nothing: every write is refused here, before its body is read or
        // validated, so the answer is 403 whatever the body (and says nothing of its fields).
        if !parts.method.is_safe() {
            caller.require(Access::Responder)?;
            // A write outside the caller's teams is refused here too, before its body is read.
            crate::scope::check_write(parts, state, &caller.name, &caller.scope).await?;
        }
        Ok(caller)
    }
}

/// A caller with admin access: the extractor answers 403 before the body is read.
pub struct AdminCaller(pub Caller);

impl FromRequestParts<AppState> for AdminCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::authenticated(parts, state).await?;
        caller.require(Access::Admin)?;
        if !parts.method.is_safe() {
            crate::scope::check_write(parts, state, &caller.name, &caller.scope).await?;
        }
        Ok(AdminCaller(caller))
    }
}
