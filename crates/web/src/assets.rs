//! Static assets, compiled into the binary: htmx (vendored from the npm package `htmx.org`,
//! its licence beside it in `assets/`), the stylesheet and the page script.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("../assets/muster.css");
const JS: &[u8] = include_bytes!("../assets/muster.js");

/// Assets change only with the binary; an hour's caching spares the reloads of a live page.
const CACHE: &str = "public, max-age=3600";

pub async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "muster.css" => (CSS, "text/css; charset=utf-8"),
        "muster.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, CACHE)],
        body,
    )
        .into_response()
}
