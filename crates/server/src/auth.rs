//! Bearer-token authentication: who is calling, and may they do this?
//!
//! Every request reads its token from the database (`Store::authenticate`, on the injected
//! clock): nothing is cached, so a revoked or expired token is refused from its next request
//! on every node. Feed tokens (`Access::Feed`) open calendar feeds only, never the API.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use muster_core::Access;

use crate::AppState;
use crate::error::ApiError;

/// The authenticated caller. Its name is the actor written to the timeline.
#[derive(Debug, Clone)]
pub struct Caller {
    pub name: String,
    pub access: Access,
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
        Ok(AdminCaller(caller))
    }
}
