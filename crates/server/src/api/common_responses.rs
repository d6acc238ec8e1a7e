//! The answers any operation can give before its handler runs, documented once for every
//! operation: the extractors (malformed path, query or body), the token check, the load
//! shedder and the database. Listing them by hand on each handler drifted — a client reading
//! the document met 401s, 400s and 415s it did not mention. A handler's own wording of the
//! same status is kept; this only fills what is missing.

use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response, ResponseBuilder};

/// Adds the common answers to every operation of `doc`.
pub fn document(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in operations(item) {
            for (status, description) in answers(op) {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
            if let Some(RefOr::T(overloaded)) = op.responses.responses.get_mut("503") {
                overloaded
                    .headers
                    .entry("Retry-After".into())
                    .or_insert_with(|| RefOr::T(retry_after()));
            }
        }
    }
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.patch,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// Which common answers apply to `op`, from what it takes.
fn answers(op: &Operation) -> Vec<(u16, &'static str)> {
    let params = op.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(p) => Some(p.parameter_in.clone()),
        RefOr::Ref(_) => None,
    });
    let (mut in_path, mut in_query) = (false, false);
    for at in params {
        in_path |= matches!(at, ParameterIn::Path);
        in_query |= matches!(at, ParameterIn::Query);
    }
    let body = op.request_body.is_some();
    let mut out = vec![
        (
            400,
            "Malformed request: a path, query or body that cannot be read",
        ),
        (
            503,
            "Database unavailable or server overloaded; retry after Retry-After",
        ),
    ];
    if needs_token(op) {
        out.push((401, "Missing, unknown, revoked or expired token"));
        out.push((403, "The token's role may not do this"));
    }
    if in_path {
        out.push((404, "Nothing with this id"));
    }
    if body {
        out.push((408, "The body did not arrive within `limits.body_read_timeout` (alert intake answers 503 with Retry-After instead)"));
        out.push((413, "Body larger than the route's limit"));
        out.push((415, "Not JSON"));
    }
    if body || in_query || in_path {
        out.push((422, "A field has an invalid value"));
    }
    out
}

/// The document's default is the bearer token; an operation opts out with `security(())`.
fn needs_token(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_none_or(|reqs| !reqs.contains(&SecurityRequirement::default()))
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
        )
        .build()
}

/// Every 503 says when to come back (the load shedder and an unreachable database both set it).
fn retry_after() -> Header {
    let seconds = ObjectBuilder::new().schema_type(Type::Integer).build();
    HeaderBuilder::new()
        .schema(Some(seconds))
        .description(Some("Seconds to wait before retrying"))
        .build()
}
