//! Operational endpoints (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`) and the
//! request-level middleware: metrics and load shedding.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{BoxError, Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use muster_core::{Severity, Status};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::openapi::OpenApi;

use crate::AppState;
use crate::error::ApiError;
use crate::in_flight::RouteClass;

const LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The process-wide Prometheus recorder (the `metrics` facade is global by design).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Only fails on an empty bucket list, which LATENCY_BUCKETS is not.
        let builder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be sparse");
        }
        handle
    })
}

pub fn router(openapi: Arc<OpenApi>) -> Router<AppState> {
    let encoded = Arc::new(OnceLock::new());
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route(
            "/openapi.json",
            get(move || openapi_json(openapi.clone(), encoded.clone())),
        )
}

/// The API description, encoded on the first request and kept: cloning and encoding the
/// whole document per request cost megabytes of allocations each time, which the allocator
/// then keeps.
async fn openapi_json(doc: Arc<OpenApi>, encoded: Arc<OnceLock<axum::body::Bytes>>) -> Response {
    let body = match encoded.get() {
        Some(body) => body.clone(),
        None => match serde_json::to_vec(doc.as_ref()) {
            Ok(bytes) => encoded.get_or_init(|| bytes.into()).clone(),
            Err(e) => {
                tracing::error!(error = %e, "cannot encode the API description");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        },
    };
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the database answers a read and takes a write ([`muster_store::Store::ping_write`]):
/// a node that can read but not write (a read-only standby, a locked SQLite file) would
/// accept alerts it cannot store.
async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "not ready");
        return ApiError::unavailable("database unreachable").into_response();
    }
    if let Err(e) = state.store.ping_write().await {
        tracing::warn!(error = %e, "not ready: the database takes no write");
        return ApiError::unavailable("database not writable").into_response();
    }
    Json(json!({ "status": "ready", "database": state.store.backend() })).into_response()
}

/// Whether the request may read `/metrics`: always without a configured `metrics.token`,
/// otherwise only with `Authorization: Bearer <token>` (compared as SHA-256 digests in
/// constant time).
fn metrics_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let cfg = state.config();
    let Some(token) = &cfg.config.metrics.token else {
        return true;
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    let wanted = Sha256::digest(token.expose().as_bytes());
    bool::from(Sha256::digest(presented.as_bytes()).ct_eq(&wanted))
}

async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !metrics_allowed(&state, &headers) {
        let mut resp = ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "/metrics needs `Authorization: Bearer` with the configured metrics token",
        )
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            axum::http::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    let handle = prometheus();
    handle.run_upkeep();
    let mut text = handle.render();
    // Incident gauges are read from the database at scrape time, so every node reports the
    // shared truth and nothing process-global can go stale.
    match state.store.incident_counts().await {
        Ok(counts) => {
            text.push_str("# HELP muster_incidents Incidents by status and severity.\n");
            text.push_str("# TYPE muster_incidents gauge\n");
            for status in Status::ALL {
                for severity in Severity::ALL {
                    let n = counts
                        .iter()
                        .find(|c| c.status == status && c.severity == severity)
                        .map_or(0, |c| c.count);
                    text.push_str(&format!(
                        "muster_incidents{{status=\"{status}\",severity=\"{severity}\"}} {n}\n"
                    ));
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "incident gauges unavailable"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Counts requests and measures their latency per route template (never per raw path, so
/// incident ids do not explode label cardinality).
pub async fn track_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("muster_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("muster_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// Sheds load: beyond its route class's in-flight budget a request is answered 503 with
/// Retry-After at once, rather than queueing until clients time out (`in_flight.rs`). Health
/// checks are never shed.
pub async fn shed_load(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(class) = RouteClass::of(req.uri().path()) else {
        return next.run(req).await;
    };
    match state.in_flight.try_acquire(class) {
        Some(_permit) => next.run(req).await,
        None => {
            metrics::counter!("muster_http_shed_total", "class" => class.name()).increment(1);
            ApiError::unavailable(format!(
                "server overloaded ({} requests); retry later",
                class.name()
            ))
            .into_response()
        }
    }
}

/// A request that ran past [`REQUEST_TIMEOUT`].
pub async fn timed_out(err: BoxError) -> ApiError {
    if err.is::<tower::timeout::error::Elapsed>() {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "request timed out",
        );
    }
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "unhandled error",
    )
}

/// Bound on how long one request may take before it is answered with 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
