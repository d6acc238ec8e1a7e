//! Small helpers of the policy, catalog, alert and inbox pages.

use muster_server::error::ApiError;

use crate::page::PageError;

/// An API check's refusal as a page: the same status and message.
pub fn api_error(e: ApiError) -> PageError {
    PageError::new(e.status, e.message)
}

/// A form's empty field as `None`.
pub fn given(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_string())
}
