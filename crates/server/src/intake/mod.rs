//! Alert intake: the sources' payloads turned into [`AlertSignal`]s (one parser per source,
//! pure and fuzzable), the integration looked up by its key in constant time, and [`ingest`]:
//! the signals queued for the next group commit, where `reactions::AlertReactions` decides
//! what follows for their incidents.

pub mod alertmanager;
pub mod batch;
pub mod generic;
pub mod heartbeat;
pub mod pagerduty;

use axum::body::{Body, Bytes};
use muster_config::{Integration, IntegrationType};
use muster_core::alert::{self, AlertAction, AlertSignal, Labels, Route};
use muster_store::{Effects, IngestKind, Ingested, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::{AppState, LoadedConfig};

/// Limits on one alert, so a runaway label set cannot fill the database.
pub const MAX_LABELS: usize = 128;
pub const MAX_LABEL_BYTES: usize = 4096;

/// The integration whose key is `key`. Every configured key is compared (as SHA-256 digests,
/// in constant time), so neither timing nor length tells an attacker how close a guess was.
pub fn integration_by_key<'a>(cfg: &'a LoadedConfig, key: &str) -> Option<&'a Integration> {
    let wanted: [u8; 32] = Sha256::digest(key.as_bytes()).into();
    let mut found = None;
    for (integration, have) in cfg
        .config
        .integrations
        .values()
        .zip(&cfg.integration_key_digests)
    {
        if bool::from(have.ct_eq(&wanted)) {
            found = Some(integration);
        }
    }
    found
}

/// Each integration's key digest, in the order of `config.integrations`: computed once per
/// configuration load, not on every intake request.
pub fn key_digests(config: &muster_config::Config) -> Vec<[u8; 32]> {
    config
        .integrations
        .values()
        .map(|i| Sha256::digest(i.key.expose().as_bytes()).into())
        .collect()
}

/// An alert as a parser sees it, before routing.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAlert {
    pub action: AlertAction,
    /// `None`: derived from the labels.
    pub dedup_key: Option<String>,
    pub summary: String,
    pub severity: Option<String>,
    pub labels: Labels,
    pub annotations: Labels,
    pub payload: Value,
}

/// An intake request's body, read up to `limit` bytes (`limits.intake_body`). Past it: 503
/// with Retry-After (code `payload_too_large`), never a 4xx, on which Alertmanager would drop
/// the group for good; a body that breaks off is a 400. The rest of a body that is too large is
/// read and dropped (up to [`DRAIN_FACTOR`] times the limit, within the request timeout), so a
/// sender still writing it gets the answer rather than a broken connection.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt;
    let broken = |e: axum::Error| {
        if crate::body_deadline::is_deadline(&e) {
            // A slow sender is answered like an overloaded one: it retries later.
            let cause = std::error::Error::source(&e).map_or(e.to_string(), ToString::to_string);
            return ApiError::overloaded("body_timeout", cause);
        }
        ApiError::bad_request(format!("cannot read the request body: {e}"))
    };
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut seen: usize = 0;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(broken)?.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        if seen <= limit {
            buf.extend_from_slice(&data);
        } else {
            buf = Vec::new();
            if seen > limit.saturating_mul(DRAIN_FACTOR) {
                break;
            }
        }
    }
    if seen > limit {
        return Err(ApiError::overloaded(
            "payload_too_large",
            format!(
                "the request body is larger than {limit} bytes (limits.intake_body); raise the \
                 limit or send smaller groups"
            ),
        ));
    }
    Ok(Bytes::from(buf))
}

/// How much of a body past the limit is read and dropped before answering, in limits.
pub const DRAIN_FACTOR: usize = 4;

/// The number of alerts in one request against `limits.alerts_per_request`: past it, 503
/// with Retry-After (code `too_many_alerts`), so nothing is dropped while the limit is raised.
pub fn check_count(n: usize, cap: usize) -> Result<(), ApiError> {
    if n <= cap {
        return Ok(());
    }
    Err(ApiError::overloaded(
        "too_many_alerts",
        format!(
            "{n} alerts in one request; at most {cap} are accepted (limits.alerts_per_request)"
        ),
    ))
}

/// Checks the size limits; the message names what is too big.
pub fn check_limits(raw: &RawAlert) -> Result<(), String> {
    for (what, map) in [("labels", &raw.labels), ("annotations", &raw.annotations)] {
        if map.len() > MAX_LABELS {
            return Err(format!("too many {what} (at most {MAX_LABELS})"));
        }
        if let Some((k, _)) = map
            .iter()
            .find(|(k, v)| k.len() > MAX_LABEL_BYTES || v.len() > MAX_LABEL_BYTES)
        {
            let k: String = k.chars().take(64).collect();
            return Err(format!(
                "{what} `{k}` too long (at most {MAX_LABEL_BYTES} bytes)"
            ));
        }
    }
    if raw.summary.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "summary too long (at most {MAX_LABEL_BYTES} bytes)"
        ));
    }
    Ok(())
}

impl RawAlert {
    /// Replaces the control characters of every text (`muster_core::control`), so an alert
    /// carrying one is stored the same on both backends and its siblings are never lost.
    pub fn replace_controls(&mut self) {
        use muster_core::control::{has_forbidden, replace, replace_in, replace_json};
        if let Some(k) = &mut self.dedup_key {
            replace_in(k);
        }
        replace_in(&mut self.summary);
        if let Some(s) = &mut self.severity {
            replace_in(s);
        }
        for map in [&mut self.labels, &mut self.annotations] {
            if map
                .iter()
                .any(|(k, v)| has_forbidden(k) || has_forbidden(v))
            {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (replace(&k).into_owned(), replace(&v).into_owned()))
                    .collect();
            }
        }
        replace_json(&mut self.payload);
    }
}

/// Routes and maps a parsed alert with its integration's rules (control characters replaced
/// first: every source comes through here).
pub fn signal(integration: &Integration, mut raw: RawAlert) -> Result<AlertSignal, String> {
    raw.replace_controls();
    check_limits(&raw)?;
    let routes: Vec<Route<'_>> = integration
        .routes
        .iter()
        .map(|r| Route {
            matches: &r.matches,
            service: &r.service,
        })
        .collect();
    let service = alert::route(&raw.labels, &routes, integration.service.as_deref())
        .ok_or("no route matches the alert's labels and the integration has no service")?
        .to_string();
    let dedup_key = raw
        .dedup_key
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| alert::labels_key(&raw.labels));
    let group_key = alert::group_key(&integration.group_by, &raw.labels, &dedup_key);
    Ok(AlertSignal {
        integration: integration.id.clone(),
        action: raw.action,
        severity: alert::severity(raw.severity.as_deref(), &integration.severity_map),
        dedup_key,
        group_key,
        service,
        summary: raw.summary,
        labels: raw.labels,
        annotations: raw.annotations,
        payload: raw.payload,
        group_window: integration.group_window.map(|d| d.to_signed()),
        auto_resolve: integration.auto_resolve,
    })
}

/// Whether an integration of type `kind` may receive on an endpoint of type `endpoint`.
pub fn accepts(integration: &Integration, endpoint: IntegrationType) -> bool {
    integration.kind == endpoint
}

pub fn outcome(kind: IngestKind) -> &'static str {
    match kind {
        IngestKind::Opened => "opened",
        IngestKind::Joined => "joined",
        IngestKind::Silenced => "silenced",
        IngestKind::Repeated => "repeated",
        IngestKind::Updated => "updated",
        IngestKind::NoOpenAlert => "no_open_alert",
    }
}

/// Queues the signals for the next group commit, waits for it, and counts them per
/// integration. Answers with the signals (moved, not copied, through the queue) and what
/// each did.
pub async fn ingest(
    state: &AppState,
    integration: &str,
    signals: Vec<AlertSignal>,
    extra: Effects,
) -> Result<(Vec<AlertSignal>, Vec<Ingested>), StoreError> {
    let actor = format!("integration:{integration}");
    let (signals, result) = state.intake().submit(actor, signals, extra).await;
    match &result {
        Ok(done) => count_outcomes(integration, done),
        Err(_) => {
            metrics::counter!("muster_alerts_failed_total", "integration" => integration.to_string())
                .increment(1);
        }
    }
    Ok((signals, result?))
}

/// One counter update per outcome, not per alert: a webhook may carry a thousand.
fn count_outcomes(integration: &str, done: &[Ingested]) {
    let mut counts: Vec<(IngestKind, u64)> = Vec::new();
    for d in done {
        match counts.iter_mut().find(|(k, _)| *k == d.kind) {
            Some((_, n)) => *n += 1,
            None => counts.push((d.kind, 1)),
        }
    }
    for (kind, n) in counts {
        metrics::counter!("muster_alerts_received_total",
            "integration" => integration.to_string(), "outcome" => outcome(kind))
        .increment(n);
    }
}
