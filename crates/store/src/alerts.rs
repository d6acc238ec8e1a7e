//! Alerts: dedup, grouping into incidents and resolution, each in one transaction with the
//! incident it opens, joins, acknowledges or resolves.
//!
//! The store decides nothing about incidents: an [`AlertReactor`] (the server's policy glue)
//! supplies the declaring changes and the policies' reaction, exactly as the `*_with_policy`
//! calls do, so the first page of a new alert is in the outbox when the transaction commits.
//! On PostgreSQL, transactions on the same group or dedup key are serialised by advisory
//! locks, so concurrent deliveries of one alert never open two incidents.

use muster_core::alert::{self, AlertAction, AlertSignal, AlertStatus, Labels};
use muster_core::{Change, Incident, IncidentNumber, Severity, Timestamp};
use serde_json::Value;
use sqlx::{PgConnection, SqliteConnection};

use crate::alert_batch::{AlertBatchQueries, Job};
use crate::codec::{decode_severity, from_ms, ms, to_millis_precision};
use crate::effects::{EffectQueries, Effects, decode_json, encode_json};
use crate::error::{corrupt, db_err};
use crate::overrides::{OverrideQueries, ScheduleOverride};
use crate::policy_state::PolicyStateQueries;
use crate::queries::Queries;
use crate::sqlite_update::OpenTx;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};
use std::time::Instant;

/// Alerts listed when the filter gives no limit, and the most one call returns.
pub const DEFAULT_ALERT_LIMIT: u32 = 50;
pub const MAX_ALERT_LIMIT: u32 = 500;

/// An alert as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub id: i64,
    pub integration: String,
    pub dedup_key: String,
    pub group_key: String,
    pub status: AlertStatus,
    pub service: String,
    pub severity: Severity,
    pub summary: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub payload: Value,
    /// How many times the source sent it while open.
    pub count: i64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub incident: Option<IncidentNumber>,
}

/// What applying a signal did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestKind {
    /// A new alert that opened a new incident.
    Opened,
    /// A new alert that joined an open incident of its group.
    Joined,
    /// A new alert for a service in a maintenance window or silence: stored, no incident.
    Silenced,
    /// A repeat of an open alert: counted, nothing else.
    Repeated,
    /// An open alert was acknowledged or resolved.
    Updated,
    /// Acknowledge/resolve for a key with no open alert: nothing to do.
    NoOpenAlert,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ingested {
    pub kind: IngestKind,
    pub alert: Option<AlertRef>,
}

/// The alert a signal landed on, as intake answers it: no labels or payload to copy (the
/// caller has the signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRef {
    pub id: i64,
    pub dedup_key: String,
    pub status: AlertStatus,
    /// Times received while open, this signal included.
    pub count: i64,
    pub incident: Option<IncidentNumber>,
}

impl From<&StoredAlert> for AlertRef {
    fn from(a: &StoredAlert) -> AlertRef {
        AlertRef {
            id: a.id,
            dedup_key: a.dedup_key.clone(),
            status: a.status,
            count: a.count,
            incident: a.incident,
        }
    }
}

/// What the alert asks of its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentAction {
    Acknowledge,
    Resolve,
}

/// The incident side of alert intake, supplied by the server (config and policies).
pub trait AlertReactor: Sync {
    /// Whether [`AlertReactor::prepare`] is still to be called before a reaction.
    fn needs_overrides(&self) -> bool {
        false
    }
    /// Takes the schedules' live run-time overrides, read inside the transaction just before
    /// its first declaration or update: a batch that only stores alerts never reads them.
    fn prepare(&self, overrides: Vec<ScheduleOverride>) {
        drop(overrides);
    }
    /// The declaring changes of the incident a new alert opens.
    fn declare(&self, signal: &AlertSignal) -> Result<Vec<Change>, StoreError>;
    /// The policies' reaction to that new incident (its `state` starts `Null`).
    fn declared(
        &self,
        incident: &Incident,
        state: &mut Value,
        declared: &[Change],
    ) -> (Vec<Change>, Effects);
    /// The changes and effects of acknowledging or resolving `incident` (none when they do
    /// not apply, e.g. already acknowledged).
    fn update(
        &self,
        incident: &Incident,
        state: &mut Value,
        action: IncidentAction,
    ) -> (Vec<Change>, Effects);
}

/// Filters for listing alerts; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub integration: Option<String>,
    pub incident: Option<IncidentNumber>,
    pub limit: Option<u32>,
    /// Only alerts with an id below this (newest first).
    pub before: Option<i64>,
}

pub(crate) type AlertRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
);

const ALERT_COLUMNS: &str = "id, integration, dedup_key, group_key, status, service, severity, \
     summary, labels, annotations, payload, count, first_seen, last_seen, resolved_at, incident";

fn decode_labels(text: &str) -> Result<Labels, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("labels", e))
}

pub(crate) fn encode_labels(labels: &Labels) -> Result<String, StoreError> {
    serde_json::to_string(labels)
        .map_err(|e| StoreError::Internal(format!("cannot encode labels: {e}")))
}

/// An alert's JSON columns, encoded where the request is handled (in parallel) rather than in
/// the group commit, which is intake's one serial step.
#[derive(Debug, Clone, Default)]
pub struct EncodedAlert {
    pub labels: String,
    pub annotations: String,
    pub payload: String,
}

/// The JSON columns of `signal`'s alert.
pub fn encode_alert(signal: &AlertSignal) -> Result<EncodedAlert, StoreError> {
    Ok(EncodedAlert {
        labels: encode_labels(&signal.labels)?,
        annotations: encode_labels(&signal.annotations)?,
        payload: encode_json(&signal.payload)?,
    })
}

pub(crate) fn decode_alert(r: AlertRow) -> Result<StoredAlert, StoreError> {
    Ok(StoredAlert {
        id: r.0,
        integration: r.1,
        dedup_key: r.2,
        group_key: r.3,
        status: AlertStatus::parse(&r.4).ok_or_else(|| corrupt("alert status", &r.4))?,
        service: r.5,
        severity: decode_severity(&r.6)?,
        summary: r.7,
        labels: decode_labels(&r.8)?,
        annotations: decode_labels(&r.9)?,
        payload: decode_json(&r.10)?,
        count: r.11,
        first_seen: from_ms(r.12)?,
        last_seen: from_ms(r.13)?,
        resolved_at: r.14.map(from_ms).transpose()?,
        incident: r.15.map(IncidentNumber),
    })
}

/// Statements and steps of alert intake, per connection type (see [`Queries`]).
pub(crate) trait AlertQueries {
    async fn alert_by_id(&mut self, id: i64) -> Result<Option<StoredAlert>, StoreError>;
    async fn set_alert_status(
        &mut self,
        id: i64,
        status: AlertStatus,
        at: i64,
    ) -> Result<Option<StoredAlert>, StoreError>;
    async fn open_alerts_of(&mut self, incident: IncidentNumber) -> Result<i64, StoreError>;
    async fn incident_resolved(
        &mut self,
        incident: Option<IncidentNumber>,
    ) -> Result<bool, StoreError>;
    async fn list_alerts(&mut self, f: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError>;
    /// Hands the reactor the live run-time overrides, read in this transaction, if it has
    /// not had them yet.
    async fn prepare_reactor<R: AlertReactor>(&mut self, reactor: &R) -> Result<(), StoreError>;
    /// Declares the incident `signal` opens; returns its number and whether to wake.
    async fn declare_for<R: AlertReactor>(
        &mut self,
        signal: &AlertSignal,
        actor: &str,
        now: Timestamp,
        reactor: &R,
    ) -> Result<(IncidentNumber, bool), StoreError>;
    /// Acknowledges or resolves `id` through the reactor; returns whether to wake.
    async fn act_on_incident<R: AlertReactor>(
        &mut self,
        id: IncidentNumber,
        actor: &str,
        now: Timestamp,
        reactor: &R,
        action: IncidentAction,
    ) -> Result<bool, StoreError>;
    /// Acknowledges or resolves an open alert and, as the rules say, its incident.
    async fn settle_alert<R: AlertReactor>(
        &mut self,
        open: StoredAlert,
        action: AlertAction,
        auto_resolve: bool,
        actor: &str,
        now: Timestamp,
        reactor: &R,
    ) -> Result<(Option<StoredAlert>, bool), StoreError>;
}

macro_rules! impl_alert_queries {
    ($conn:ty) => {
        impl AlertQueries for $conn {
            async fn alert_by_id(&mut self, id: i64) -> Result<Option<StoredAlert>, StoreError> {
                let sql = format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1");
                let row: Option<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode_alert).transpose()
            }

            async fn set_alert_status(
                &mut self,
                id: i64,
                status: AlertStatus,
                at: i64,
            ) -> Result<Option<StoredAlert>, StoreError> {
                let resolved = (status == AlertStatus::Resolved).then_some(at);
                let sql = format!(
                    "UPDATE alerts SET status = $2, last_seen = $3, resolved_at = $4 \
                     WHERE id = $1 RETURNING {ALERT_COLUMNS}"
                );
                let row: Option<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(status.as_str())
                    .bind(at)
                    .bind(resolved)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode_alert).transpose()
            }

            async fn open_alerts_of(&mut self, incident: IncidentNumber) -> Result<i64, StoreError> {
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM alerts WHERE incident = $1 AND status <> 'resolved'",
                )
                .bind(incident.0)
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn incident_resolved(
                &mut self,
                incident: Option<IncidentNumber>,
            ) -> Result<bool, StoreError> {
                let Some(n) = incident else {
                    return Ok(false);
                };
                let status: Option<String> =
                    sqlx::query_scalar("SELECT status FROM incidents WHERE number = $1")
                        .bind(n.0)
                        .fetch_optional(&mut *self)
                        .await
                        .map_err(db_err)?;
                Ok(status.as_deref() == Some("resolved"))
            }

            async fn list_alerts(&mut self, f: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
                let limit = f.limit.unwrap_or(DEFAULT_ALERT_LIMIT).min(MAX_ALERT_LIMIT);
                let sql = format!(
                    "SELECT {ALERT_COLUMNS} FROM alerts WHERE ($1 IS NULL OR status = $1) \
                     AND ($2 IS NULL OR integration = $2) AND ($3 IS NULL OR incident = $3) \
                     AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5"
                );
                let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(f.status.map(AlertStatus::as_str))
                    .bind(f.integration.as_deref())
                    .bind(f.incident.map(|n| n.0))
                    .bind(f.before)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode_alert).collect()
            }

            async fn prepare_reactor<R: AlertReactor>(
                &mut self,
                reactor: &R,
            ) -> Result<(), StoreError> {
                if reactor.needs_overrides() {
                    reactor.prepare(self.all_live_overrides().await?);
                }
                Ok(())
            }

            async fn declare_for<R: AlertReactor>(
                &mut self,
                signal: &AlertSignal,
                actor: &str,
                now: Timestamp,
                reactor: &R,
            ) -> Result<(IncidentNumber, bool), StoreError> {
                self.prepare_reactor(reactor).await?;
                let changes = reactor.declare(signal)?;
                let react = |incident: &Incident, state: &mut Value| {
                    reactor.declared(incident, state, &changes)
                };
                let (incident, _, wake) =
                    self.declare_incident(changes.clone(), now, actor, react).await?;
                let number = incident.id;
                Ok((number, wake))
            }

            async fn act_on_incident<R: AlertReactor>(
                &mut self,
                id: IncidentNumber,
                actor: &str,
                now: Timestamp,
                reactor: &R,
                action: IncidentAction,
            ) -> Result<bool, StoreError> {
                let Some(before) = self.lock_incident(id).await? else {
                    return Ok(false);
                };
                let mut state = self.load_policy_state(id).await?;
                let original = state.clone();
                self.prepare_reactor(reactor).await?;
                let (changes, effects) = reactor.update(&before, &mut state, action);
                self.append_changes(&before, now, actor, changes, &effects.acted_by)
                    .await?;
                let wake = self.apply_effects(ms(now), &effects).await?;
                if state != original {
                    self.save_policy_state(id, &state, ms(now)).await?;
                }
                Ok(wake)
            }

            async fn settle_alert<R: AlertReactor>(
                &mut self,
                open: StoredAlert,
                action: AlertAction,
                auto_resolve: bool,
                actor: &str,
                now: Timestamp,
                reactor: &R,
            ) -> Result<(Option<StoredAlert>, bool), StoreError> {
                let (status, incident_action) = match action {
                    AlertAction::Acknowledge => {
                        (AlertStatus::Acknowledged, Some(IncidentAction::Acknowledge))
                    }
                    AlertAction::Resolve => (AlertStatus::Resolved, None),
                    AlertAction::Trigger => (open.status, None),
                };
                let updated = self.set_alert_status(open.id, status, ms(now)).await?;
                let mut wake = false;
                if let Some(incident) = open.incident {
                    let act = match incident_action {
                        Some(a) => Some(a),
                        None if status == AlertStatus::Resolved => {
                            let left = self.open_alerts_of(incident).await?;
                            alert::resolves_incident(auto_resolve, u64::try_from(left).unwrap_or(1))
                                .then_some(IncidentAction::Resolve)
                        }
                        None => None,
                    };
                    if let Some(a) = act {
                        wake = self.act_on_incident(incident, actor, now, reactor, a).await?;
                    }
                }
                Ok((updated, wake))
            }

        }

    };
}

impl_alert_queries!(SqliteConnection);
impl_alert_queries!(PgConnection);

/// A new alert's row for the batch, without its labels, annotations and payload: the batch
/// writes those from its signal rather than copying them.
pub(crate) fn new_alert(
    signal: &AlertSignal,
    now: Timestamp,
    incident: Option<IncidentNumber>,
) -> StoredAlert {
    StoredAlert {
        id: 0,
        integration: signal.integration.clone(),
        dedup_key: signal.dedup_key.clone(),
        group_key: signal.group_key.clone(),
        status: AlertStatus::Firing,
        service: signal.service.clone(),
        severity: signal.severity,
        summary: signal.summary.clone(),
        labels: Labels::new(),
        annotations: Labels::new(),
        payload: Value::Null,
        count: 1,
        first_seen: now,
        last_seen: now,
        resolved_at: None,
        incident,
    }
}

/// SQLite's group commit. The batch begins the transaction with a plain `BEGIN IMMEDIATE`
/// under the one lock it takes to read and write, and a batch that only stores alerts also
/// commits under it: one hand-off to sqlx's thread instead of three. If the batch fails, or
/// its future is dropped or panics, with the transaction possibly open, the connection is
/// rolled back or else closed instead of returned to the pool: closing rolls back.
async fn sqlite_intake<R: AlertReactor>(
    writer: &sqlx::SqlitePool,
    jobs: &[Job<'_>],
    now: Timestamp,
    reactor: &R,
) -> Result<(Vec<Vec<Ingested>>, bool), StoreError> {
    let started = Instant::now();
    let mut tx = OpenTx::acquire(writer).await?;
    let result = match tx.0.ingest_batch(jobs, now, reactor, true).await {
        Ok((out, wake, committed)) => {
            if !committed {
                sqlx::query("COMMIT")
                    .execute(&mut *tx.0)
                    .await
                    .map_err(db_err)?;
            }
            tx.1 = false;
            Ok((out, wake))
        }
        Err(e) => {
            // If even the rollback fails, the guard closes the connection (which rolls back).
            if sqlx::query("ROLLBACK").execute(&mut *tx.0).await.is_ok() {
                tx.1 = false;
            }
            Err(e)
        }
    };
    let elapsed = started.elapsed();
    if elapsed > SLOW_WRITE {
        tracing::debug!(elapsed_ms = elapsed.as_millis() as u64, "slow intake batch");
    }
    result
}

impl Store {
    /// Applies alert signals in one transaction (one commit, so one fsync, for a whole
    /// webhook), with `extra` effects (e.g. a heartbeat's next deadline). Returns what each
    /// signal did, in order. Nothing is stored if any fails.
    pub async fn ingest_alerts<R: AlertReactor>(
        &self,
        signals: &[AlertSignal],
        extra: &Effects,
        actor: &str,
        now: Timestamp,
        reactor: &R,
    ) -> Result<Vec<Ingested>, StoreError> {
        let mut out = self
            .ingest_alert_batch(&[(signals, extra, actor, &[])], now, reactor)
            .await?;
        Ok(out.pop().unwrap_or_default())
    }

    /// Group commit: several requests' signals in one transaction (one fsync), each request
    /// with its own extra effects and actor. Returns each request's results, in order; if any
    /// fails, nothing is stored and the caller retries them one by one.
    pub async fn ingest_alert_batch<R: AlertReactor>(
        &self,
        jobs: &[Job<'_>],
        now: Timestamp,
        reactor: &R,
    ) -> Result<Vec<Vec<Ingested>>, StoreError> {
        let now = to_millis_precision(now);
        let (out, wake) = match &self.backend {
            Backend::Sqlite { writer, .. } => sqlite_intake(writer, jobs, now, reactor).await?,
            Backend::Postgres(_) => {
                let (out, wake, _) = write_tx!(self, |conn| {
                    conn.ingest_batch(jobs, now, reactor, false).await
                })?;
                (out, wake)
            }
        };
        if wake {
            self.wake.wake();
        }
        Ok(out)
    }

    /// Acknowledges or resolves alert `id` by hand (API, CLI). `None` when there is no such
    /// alert; an alert that is already resolved is returned unchanged.
    pub async fn settle_alert<R: AlertReactor>(
        &self,
        id: i64,
        action: AlertAction,
        auto_resolve: bool,
        actor: &str,
        now: Timestamp,
        reactor: &R,
    ) -> Result<Option<StoredAlert>, StoreError> {
        let now = to_millis_precision(now);
        let (out, wake) = write_tx!(self, |conn| {
            let Some(found) = conn.alert_by_id(id).await? else {
                return Ok((None, false));
            };
            if !found.status.is_open() {
                return Ok((Some(found), false));
            }
            conn.settle_alert(found, action, auto_resolve, actor, now, reactor)
                .await
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(out)
    }

    pub async fn alert(&self, id: i64) -> Result<Option<StoredAlert>, StoreError> {
        read!(self, |conn| conn.alert_by_id(id).await)
    }

    /// Newest first; see [`AlertFilter`].
    pub async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<StoredAlert>, StoreError> {
        read!(self, |conn| conn.list_alerts(filter).await)
    }
}
