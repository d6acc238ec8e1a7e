//! Alert intake (Alertmanager webhook, PagerDuty Events v2, generic events) and the alerts API.
//!
//! Intake endpoints authenticate by the integration key, not a bearer token. Each request is
//! applied in one transaction and answered 2xx only after it committed, so an answered alert
//! is never lost; overload and an unreachable database answer 503 + Retry-After, which
//! Alertmanager retries (it gives up on every 4xx).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use muster_config::{Integration, IntegrationType};
use muster_core::alert::{AlertAction, AlertSignal, AlertStatus};
use muster_core::{Access, IncidentNumber, Severity, Timestamp};
use muster_store::{AlertFilter, Effects, Ingested, StoredAlert};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::extract::{ApiPath, ApiQuery};
use crate::AppState;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::intake::{self, alertmanager, generic, ingest, outcome, pagerduty};
use crate::reactions::AlertReactions;

/// An alert as the API shows it. The source payload is included; integration keys never are.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertView {
    pub id: i64,
    pub integration: String,
    pub dedup_key: String,
    #[schema(example = "firing")]
    pub status: String,
    pub service: String,
    #[schema(value_type = String, example = "SEV1")]
    pub severity: Severity,
    pub summary: String,
    #[schema(value_type = Object)]
    pub labels: muster_core::alert::Labels,
    #[schema(value_type = Object)]
    pub annotations: muster_core::alert::Labels,
    #[schema(value_type = Object)]
    pub payload: Value,
    /// Times the source sent it while open.
    pub count: i64,
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub resolved_at: Option<Timestamp>,
    #[schema(example = "INC-42")]
    pub incident: Option<String>,
}

impl From<StoredAlert> for AlertView {
    fn from(a: StoredAlert) -> Self {
        AlertView {
            id: a.id,
            integration: a.integration,
            dedup_key: a.dedup_key,
            status: a.status.as_str().into(),
            service: a.service,
            severity: a.severity,
            summary: a.summary,
            labels: a.labels,
            annotations: a.annotations,
            payload: a.payload,
            count: a.count,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            resolved_at: a.resolved_at,
            incident: a.incident.map(|n| n.to_string()),
        }
    }
}

/// What an intake request did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntakeResult {
    pub status: String,
    /// One entry per alert in the request, in order.
    pub alerts: Vec<IntakeAlert>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntakeAlert {
    pub dedup_key: String,
    /// `opened`, `joined`, `silenced`, `repeated`, `updated` or `no_open_alert`.
    pub outcome: String,
    pub alert: Option<i64>,
    pub incident: Option<String>,
}

fn rejected(integration: &str, e: ApiError) -> ApiError {
    metrics::counter!("muster_alerts_rejected_total", "integration" => integration.to_string())
        .increment(1);
    e
}

#[utoipa::path(post, path = "/api/v1/heartbeats/{key}", tag = "alerts",
    security(()),
    params(("key" = String, Path, description = "Heartbeat integration key")),
    responses((status = 200, description = "Ping committed; the next one is due within interval + grace", body = IntakeResult),
        (status = 404, description = "Unknown heartbeat key", body = ErrorBody),
        (status = 503, description = "Overloaded or database away; retry", body = ErrorBody)))]
pub async fn heartbeat(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
) -> Result<Json<IntakeResult>, ApiError> {
    let cfg = state.config();
    let integration = integration_for(&cfg, &key, IntegrationType::Heartbeat)?;
    let now = state.clock.now();
    let (signal, next) =
        intake::heartbeat::ping(integration, now).map_err(ApiError::unprocessable)?;
    let (signals, done) = ingest(&state, &integration.id, vec![signal], next).await?;
    Ok(Json(result_view(&signals, done)))
}

/// The integration of this key and kind, borrowed from the configuration the request is
/// answered under (not copied: intake looks it up on every request).
fn integration_for<'c>(
    cfg: &'c crate::LoadedConfig,
    key: &str,
    kind: IntegrationType,
) -> Result<&'c Integration, ApiError> {
    intake::integration_by_key(cfg, key)
        .filter(|i| intake::accepts(i, kind))
        .ok_or_else(|| ApiError::not_found("no integration of this type has this key"))
}

fn signals(
    integration: &Integration,
    raws: Vec<intake::RawAlert>,
) -> Result<Vec<AlertSignal>, ApiError> {
    raws.into_iter()
        .map(|raw| intake::signal(integration, raw))
        .collect::<Result<_, _>>()
        .map_err(ApiError::bad_request)
}

fn result_view(signals: &[AlertSignal], done: Vec<Ingested>) -> IntakeResult {
    IntakeResult {
        status: "ok".into(),
        alerts: signals
            .iter()
            .zip(done)
            .map(|(s, d)| IntakeAlert {
                dedup_key: s.dedup_key.clone(),
                outcome: outcome(d.kind).into(),
                alert: d.alert.as_ref().map(|a| a.id),
                incident: d.alert.and_then(|a| a.incident).map(|n| n.to_string()),
            })
            .collect(),
    }
}

#[utoipa::path(post, path = "/api/v1/integrations/{key}/alertmanager", tag = "alerts",
    security(()),
    params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "Alertmanager webhook payload, version 4"),
    responses((status = 200, description = "Committed", body = IntakeResult),
        (status = 400, description = "Malformed payload or wrong version", body = ErrorBody),
        (status = 404, description = "Unknown integration key", body = ErrorBody),
        (status = 503, description = "Overloaded, database away, or the request is past `limits.alerts_per_request` or `limits.intake_body` (code `too_many_alerts` or `payload_too_large`); retry after Retry-After", body = ErrorBody)))]
pub async fn alertmanager_webhook(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    body: Body,
) -> Result<Json<IntakeResult>, ApiError> {
    receive(
        &state,
        &key,
        IntegrationType::Alertmanager,
        body,
        alertmanager::parse,
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/integrations/{key}/events", tag = "alerts",
    security(()),
    params(("key" = String, Path, description = "Integration key")),
    request_body(content = Object, description = "`{summary, action?, dedup_key?, severity?, labels?, annotations?}`"),
    responses((status = 200, description = "Committed", body = IntakeResult),
        (status = 400, description = "Malformed event", body = ErrorBody),
        (status = 404, description = "Unknown integration key", body = ErrorBody),
        (status = 503, description = "Overloaded, database away, or the body is past `limits.intake_body` (code `payload_too_large`); retry after Retry-After", body = ErrorBody)))]
pub async fn generic_event(
    State(state): State<AppState>,
    ApiPath(key): ApiPath<String>,
    body: Body,
) -> Result<Json<IntakeResult>, ApiError> {
    receive(&state, &key, IntegrationType::Generic, body, |b| {
        generic::parse(b).map(|raw| vec![raw])
    })
    .await
}

/// A source's request: its integration by key (before the body is read), its body read up to
/// `limits.intake_body`, its payload parsed (400 naming the problem, nothing stored), its
/// alerts counted against `limits.alerts_per_request`, routed, committed and answered.
async fn receive(
    state: &AppState,
    key: &str,
    kind: IntegrationType,
    body: Body,
    parse: impl Fn(&[u8]) -> Result<Vec<intake::RawAlert>, String>,
) -> Result<Json<IntakeResult>, ApiError> {
    let cfg = state.config();
    let integration = integration_for(&cfg, key, kind)?;
    let id = integration.id.as_str();
    let limits = &cfg.config.limits;
    let body = intake::read_body(body, limits.intake_body)
        .await
        .map_err(|e| rejected(id, e))?;
    let raws = parse(&body).map_err(|m| rejected(id, ApiError::bad_request(m)))?;
    intake::check_count(raws.len(), limits.alerts_per_request).map_err(|e| rejected(id, e))?;
    drop(body);
    let signals = signals(integration, raws).map_err(|e| rejected(id, e))?;
    let (signals, done) = ingest(state, id, signals, Effects::default()).await?;
    Ok(Json(result_view(&signals, done)))
}

/// `POST /v2/enqueue`: PagerDuty Events API v2, answered in PagerDuty's own shapes (every
/// refusal too: 400, 404, 503 with Retry-After).
pub async fn enqueue(State(state): State<AppState>, body: Body) -> Response {
    match enqueue_inner(&state, body).await {
        Ok(dedup_key) => {
            (StatusCode::ACCEPTED, Json(pagerduty::success(&dedup_key))).into_response()
        }
        Err(Enqueue::Invalid(errors)) => {
            (StatusCode::BAD_REQUEST, Json(pagerduty::invalid(errors))).into_response()
        }
        Err(Enqueue::Refused(e)) => pagerduty_refusal(e),
    }
}

enum Enqueue {
    Invalid(Vec<String>),
    Refused(ApiError),
}

/// An error answer in PagerDuty's shape, with the same status and Retry-After.
fn pagerduty_refusal(e: ApiError) -> Response {
    let body = pagerduty::refused(e.status, &e.message);
    let status = e.status;
    let retry = e.into_response().headers().get(RETRY_AFTER).cloned();
    let mut out = (status, Json(body)).into_response();
    if let Some(retry) = retry {
        out.headers_mut().insert(RETRY_AFTER, retry);
    }
    out
}

async fn enqueue_inner(state: &AppState, body: Body) -> Result<String, Enqueue> {
    let cfg = state.config();
    let limit = cfg.config.limits.intake_body;
    let body = intake::read_body(body, limit)
        .await
        .map_err(Enqueue::Refused)?;
    let event = pagerduty::parse(&body).map_err(Enqueue::Invalid)?;
    drop(body);
    let integration = integration_for(&cfg, &event.routing_key, IntegrationType::PagerdutyEventsV2)
        .map_err(|_| {
            Enqueue::Invalid(vec!["'routing_key' is not a valid integration key".into()])
        })?;
    let mut raw = event.alert;
    if raw.action == AlertAction::Trigger && raw.dedup_key.is_none() {
        raw.dedup_key = Some(new_dedup_key());
    }
    let signal = intake::signal(integration, raw)
        .map_err(|m| Enqueue::Invalid(vec![rejected_msg(&integration.id, m)]))?;
    let dedup_key = signal.dedup_key.clone();
    ingest(state, &integration.id, vec![signal], Effects::default())
        .await
        .map_err(|e| Enqueue::Refused(e.into()))?;
    Ok(dedup_key)
}

fn rejected_msg(integration: &str, m: String) -> String {
    metrics::counter!("muster_alerts_rejected_total", "integration" => integration.to_string())
        .increment(1);
    m
}

/// A fresh dedup key for a trigger without one, as PagerDuty generates (32 hex digits).
fn new_dedup_key() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    /// `firing`, `acknowledged` or `resolved`.
    pub status: Option<String>,
    /// Integration id.
    pub integration: Option<String>,
    /// Alerts of this incident, e.g. INC-42.
    pub incident: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
    /// Only alerts with a smaller id (pagination, newest first).
    pub before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertListParams),
    responses((status = 200, description = "Newest first", body = Vec<AlertView>),
        (status = 400, description = "Malformed filter", body = ErrorBody)))]
pub async fn list_alerts(
    State(state): State<AppState>,
    _caller: Caller,
    ApiQuery(p): ApiQuery<AlertListParams>,
) -> Result<Json<Vec<AlertView>>, ApiError> {
    let status = p
        .status
        .as_deref()
        .map(|s| {
            AlertStatus::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: `{s}` is not one of firing, acknowledged, resolved"
                ))
            })
        })
        .transpose()?;
    let incident = p
        .incident
        .as_deref()
        .map(|s| {
            s.parse::<IncidentNumber>().map_err(|_| {
                ApiError::bad_request(format!("incident: `{s}` is not an incident id"))
            })
        })
        .transpose()?;
    let filter = AlertFilter {
        status,
        integration: p.integration,
        incident,
        limit: p.limit,
        before: p.before,
    };
    let alerts = state.store.alerts(&filter).await?;
    Ok(Json(alerts.into_iter().map(AlertView::from).collect()))
}

#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, description = "OK", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorBody)))]
pub async fn show_alert(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AlertView>, ApiError> {
    let id = alert_id(&id)?;
    let alert = state
        .store
        .alert(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id} not found")))?;
    Ok(Json(alert.into()))
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/ack", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, description = "Acknowledged (its incident too)", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorBody)))]
pub async fn ack_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AlertView>, ApiError> {
    settle(&state, &caller, &id, AlertAction::Acknowledge).await
}

#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = i64, Path, description = "Alert id")),
    responses((status = 200, description = "Resolved (its incident too when it was the last open alert and the integration auto-resolves)", body = AlertView),
        (status = 404, description = "No such alert", body = ErrorBody)))]
pub async fn resolve_alert(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AlertView>, ApiError> {
    settle(&state, &caller, &id, AlertAction::Resolve).await
}

async fn settle(
    state: &AppState,
    caller: &Caller,
    raw_id: &str,
    action: AlertAction,
) -> Result<Json<AlertView>, ApiError> {
    caller.require(Access::Responder)?;
    let id = alert_id(raw_id)?;
    let alert = settle_as(state, &caller.name, id, action)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("alert {id} not found")))?;
    Ok(Json(alert.into()))
}

/// Acknowledges or resolves alert `id` as `actor` (its incident through the reactions, and
/// resolved with its last open alert when the integration auto-resolves): what
/// `POST /api/v1/alerts/{id}/ack` and `/resolve` do after their checks, and the web UI's
/// alert buttons. `None`: no such alert.
pub async fn settle_as(
    state: &AppState,
    actor: &str,
    id: i64,
    action: AlertAction,
) -> Result<Option<StoredAlert>, muster_store::StoreError> {
    let cfg = state.config();
    let Some(existing) = state.store.alert(id).await? else {
        return Ok(None);
    };
    let auto_resolve = cfg
        .config
        .integrations
        .get(&existing.integration)
        .is_some_and(|i| i.auto_resolve);
    let now = state.clock.now();
    let reactor = AlertReactions::new(&cfg, actor.to_string(), now);
    state
        .store
        .settle_alert(id, action, auto_resolve, actor, now, &reactor)
        .await
}

fn alert_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no alert `{raw}`; alert ids are numbers")))
}
