//! Every statement the store runs, written once and compiled for both backends.
//!
//! [`Queries`] is implemented for `SqliteConnection` and `PgConnection` by one macro, so each
//! SQL text below serves both dialects (sqlx's SQLite accepts `$n` placeholders). The few
//! places where the dialects differ branch on [`Dialect`].

use std::collections::BTreeSet;

use muster_core::{Incident, IncidentNumber, TimelineEvent};
use sqlx::{AssertSqlSafe, PgConnection, SqliteConnection};

use crate::codec::{self, EventRow};
use crate::error::db_err;
use crate::{IncidentCount, IncidentFilter, StoreError, TokenInfo, TokenOwner};

/// Timeline events `[[seq, at, actor, kind, data], …]` inserted by one statement, in order.
pub(crate) const INSERT_EVENTS_SQLITE: &str = "INSERT INTO timeline (incident, seq, at, actor, kind, data) \
     SELECT $1, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, e.value ->> 4 \
     FROM json_each($2) e ORDER BY e.key";
const INSERT_EVENTS_PG: &str = "INSERT INTO timeline (incident, seq, at, actor, kind, data) \
     SELECT $1, (e ->> 0)::bigint, (e ->> 1)::bigint, e ->> 2, e ->> 3, e ->> 4 \
     FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY AS r(e, n) ORDER BY r.n";

pub(crate) const LOAD_POLICY_STATE: &str = "SELECT state FROM policy_state WHERE incident = $1";
pub(crate) const SAVE_POLICY_STATE: &str = "INSERT INTO policy_state (incident, state, \
     updated_at) VALUES ($1, $2, $3) \
     ON CONFLICT (incident) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at";
pub(crate) const INCIDENT_STATE: &str = "SELECT state FROM incidents WHERE number = $1";
/// The incident row from its snapshot; `last_seq = $10` (the snapshot read under the lock)
/// makes a lost lock show up as an error, not as lost events.
pub(crate) const WRITE_SNAPSHOT: &str = "UPDATE incidents SET title = $2, severity = $3, \
     status = $4, services = $5, updated_at = $6, resolved_at = $7, last_seq = $8, state = $9 \
     WHERE number = $1 AND last_seq = $10";
pub(crate) const DELETE_SERVICES: &str = "DELETE FROM incident_services WHERE incident = $1";
pub(crate) const INSERT_SERVICE: &str =
    "INSERT INTO incident_services (service, incident) VALUES ($1, $2)";

/// The events as the JSON array the insert statements take.
pub(crate) fn event_rows(events: &[TimelineEvent]) -> Result<String, StoreError> {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        rows.push(serde_json::json!([
            event.seq,
            codec::ms(event.at),
            event.actor,
            event.change.kind(),
            codec::encode_change_data(&event.change)?,
        ]));
    }
    Ok(serde_json::Value::Array(rows).to_string())
}

/// The error of a snapshot write that matched no row.
pub(crate) fn lost_lock(before: &Incident) -> StoreError {
    StoreError::Internal(format!(
        "{} changed under its lock (expected last_seq {})",
        before.id, before.last_seq
    ))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A value bound to a statement built at run time.
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The list query for `filter`, with its parameters in placeholder order.
pub(crate) fn list_sql(filter: &IncidentFilter) -> (String, Vec<Param>) {
    let mut sql = String::from("SELECT state FROM incidents i WHERE 1 = 1");
    let mut params = Vec::new();
    let placeholder = |params: &mut Vec<Param>, p: Param| {
        params.push(p);
        format!("${}", params.len())
    };
    if let Some(statuses) = &filter.status {
        let list: Vec<String> = statuses
            .iter()
            .map(|s| placeholder(&mut params, Param::Text(s.as_str().into())))
            .collect();
        if list.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND i.status IN ({})", list.join(", ")));
        }
    }
    if let Some(severities) = &filter.severity {
        let list: Vec<String> = severities
            .iter()
            .map(|s| placeholder(&mut params, Param::Text(s.as_str().into())))
            .collect();
        if list.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(&format!(" AND i.severity IN ({})", list.join(", ")));
        }
    }
    if let Some(service) = &filter.service {
        let p = placeholder(&mut params, Param::Text(service.clone()));
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM incident_services s \
             WHERE s.service = {p} AND s.incident = i.number)"
        ));
    }
    if filter.open_only {
        sql.push_str(" AND i.status <> 'resolved'");
    }
    if let Some(before) = filter.before {
        let p = placeholder(&mut params, Param::Int(before.0));
        sql.push_str(&format!(" AND i.number < {p}"));
    }
    let limit = i64::from(
        filter
            .limit
            .unwrap_or(crate::DEFAULT_LIST_LIMIT)
            .min(crate::MAX_LIST_LIMIT),
    );
    let p = placeholder(&mut params, Param::Int(limit));
    sql.push_str(&format!(" ORDER BY i.number DESC LIMIT {p}"));
    (sql, params)
}

/// The statements, per connection type. Private, and only ever called on concrete types, so
/// the futures stay `Send`.
pub(crate) trait Queries {
    const DIALECT: Dialect;

    /// The incident's snapshot; on PostgreSQL the row stays locked until the transaction ends.
    async fn lock_incident(&mut self, id: IncidentNumber) -> Result<Option<Incident>, StoreError>;
    async fn load_incident(&mut self, id: IncidentNumber) -> Result<Option<Incident>, StoreError>;
    async fn incident_exists(&mut self, id: IncidentNumber) -> Result<bool, StoreError>;
    async fn next_incident_number(&mut self) -> Result<i64, StoreError>;
    async fn insert_incident(&mut self, incident: &Incident) -> Result<(), StoreError>;
    /// Writes `after` over `before` (the snapshot read under the lock).
    async fn write_snapshot(
        &mut self,
        before: &Incident,
        after: &Incident,
    ) -> Result<(), StoreError>;
    async fn insert_events(
        &mut self,
        id: IncidentNumber,
        events: &[TimelineEvent],
    ) -> Result<(), StoreError>;
    /// Events with `seq > after` and `at >= since_ms`, oldest first, at most `limit`.
    async fn timeline(
        &mut self,
        id: IncidentNumber,
        after: i64,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEvent>, StoreError>;
    async fn list(&mut self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    async fn counts(&mut self) -> Result<Vec<IncidentCount>, StoreError>;
    async fn ping(&mut self) -> Result<(), StoreError>;
    /// A write statement that changes no row: refused by a read-only database.
    async fn write_probe(&mut self) -> Result<(), StoreError>;
    async fn insert_token(
        &mut self,
        name: &str,
        access: &str,
        hash: &str,
        created_at: i64,
        expires_at: Option<i64>,
        teams: Option<&str>,
    ) -> Result<(), sqlx::Error>;
    async fn token_owner(&mut self, hash: &str, now: i64)
    -> Result<Option<TokenOwner>, StoreError>;
    async fn revoke_token(&mut self, name: &str, at: i64) -> Result<bool, StoreError>;
    async fn tokens(&mut self) -> Result<Vec<TokenInfo>, StoreError>;
}

macro_rules! impl_queries {
    ($conn:ty, $dialect:expr) => {
        impl Queries for $conn {
            const DIALECT: Dialect = $dialect;

            async fn lock_incident(
                &mut self,
                id: IncidentNumber,
            ) -> Result<Option<Incident>, StoreError> {
                let sql = match Self::DIALECT {
                    // The writer transaction (BEGIN IMMEDIATE) already excludes other writers.
                    Dialect::Sqlite => INCIDENT_STATE,
                    // NO KEY UPDATE still serialises writers of the incident, but lets rows that
                    // reference it (alerts, timeline, outbox) take their foreign-key share
                    // lock meanwhile: alert intake never waits for a delivery's timeline write.
                    Dialect::Postgres => {
                        "SELECT state FROM incidents WHERE number = $1 FOR NO KEY UPDATE"
                    }
                };
                let state: Option<String> = sqlx::query_scalar(sql)
                    .bind(id.0)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                state.as_deref().map(codec::decode_state).transpose()
            }

            async fn load_incident(
                &mut self,
                id: IncidentNumber,
            ) -> Result<Option<Incident>, StoreError> {
                let state: Option<String> = sqlx::query_scalar(INCIDENT_STATE)
                    .bind(id.0)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                state.as_deref().map(codec::decode_state).transpose()
            }

            async fn incident_exists(&mut self, id: IncidentNumber) -> Result<bool, StoreError> {
                let found: Option<i64> =
                    sqlx::query_scalar("SELECT number FROM incidents WHERE number = $1")
                        .bind(id.0)
                        .fetch_optional(&mut *self)
                        .await
                        .map_err(db_err)?;
                Ok(found.is_some())
            }

            async fn next_incident_number(&mut self) -> Result<i64, StoreError> {
                // Row-locks the counter until commit: concurrent declares queue here.
                sqlx::query_scalar(
                    "UPDATE counters SET value = value + 1 WHERE name = 'incident' RETURNING value",
                )
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn insert_incident(&mut self, incident: &Incident) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO incidents (number, title, severity, status, services, \
                     declared_at, updated_at, resolved_at, last_seq, state, exercise) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(incident.id.0)
                .bind(&incident.title)
                .bind(incident.severity.as_str())
                .bind(incident.status.as_str())
                .bind(codec::encode_services(&incident.services)?)
                .bind(codec::ms(incident.declared_at))
                .bind(codec::ms(incident.updated_at))
                .bind(incident.resolved_at.map(codec::ms))
                .bind(incident.last_seq)
                .bind(codec::encode_state(incident)?)
                .bind(incident.exercise)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                for service in incident.services.iter().collect::<BTreeSet<_>>() {
                    sqlx::query(
                        "INSERT INTO incident_services (service, incident) VALUES ($1, $2)",
                    )
                    .bind(service)
                    .bind(incident.id.0)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                }
                Ok(())
            }

            async fn write_snapshot(
                &mut self,
                before: &Incident,
                after: &Incident,
            ) -> Result<(), StoreError> {
                let written = sqlx::query(WRITE_SNAPSHOT)
                    .bind(after.id.0)
                    .bind(&after.title)
                    .bind(after.severity.as_str())
                    .bind(after.status.as_str())
                    .bind(codec::encode_services(&after.services)?)
                    .bind(codec::ms(after.updated_at))
                    .bind(after.resolved_at.map(codec::ms))
                    .bind(after.last_seq)
                    .bind(codec::encode_state(after)?)
                    .bind(before.last_seq)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                if written != 1 {
                    return Err(lost_lock(before));
                }
                if before.services != after.services {
                    sqlx::query(DELETE_SERVICES)
                        .bind(after.id.0)
                        .execute(&mut *self)
                        .await
                        .map_err(db_err)?;
                    for service in after.services.iter().collect::<BTreeSet<_>>() {
                        sqlx::query(INSERT_SERVICE)
                            .bind(service)
                            .bind(after.id.0)
                            .execute(&mut *self)
                            .await
                            .map_err(db_err)?;
                    }
                }
                Ok(())
            }

            async fn insert_events(
                &mut self,
                id: IncidentNumber,
                events: &[TimelineEvent],
            ) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                // One statement for all the events: a declaration writes a dozen, and each
                // round trip to PostgreSQL is on the alert → page path.
                let sql = match <Self as Queries>::DIALECT {
                    Dialect::Sqlite => INSERT_EVENTS_SQLITE,
                    Dialect::Postgres => INSERT_EVENTS_PG,
                };
                sqlx::query(sql)
                    .bind(id.0)
                    .bind(event_rows(events)?)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn timeline(
                &mut self,
                id: IncidentNumber,
                after: i64,
                since_ms: i64,
                limit: u32,
            ) -> Result<Vec<TimelineEvent>, StoreError> {
                let rows: Vec<EventRow> = sqlx::query_as(
                    "SELECT seq, at, actor, kind, data FROM timeline \
                     WHERE incident = $1 AND seq > $2 AND at >= $3 ORDER BY seq LIMIT $4",
                )
                .bind(id.0)
                .bind(after)
                .bind(since_ms)
                .bind(i64::from(limit))
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?;
                rows.into_iter().map(codec::decode_event).collect()
            }

            async fn list(&mut self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
                let (sql, params) = list_sql(filter);
                let mut query = sqlx::query_scalar::<_, String>(AssertSqlSafe(sql));
                for param in params {
                    query = match param {
                        Param::Int(v) => query.bind(v),
                        Param::Text(v) => query.bind(v),
                    };
                }
                let states = query.fetch_all(&mut *self).await.map_err(db_err)?;
                states.iter().map(|s| codec::decode_state(s)).collect()
            }

            async fn counts(&mut self) -> Result<Vec<IncidentCount>, StoreError> {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT status, severity, COUNT(*) FROM incidents \
                     GROUP BY status, severity ORDER BY status, severity",
                )
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?;
                rows.into_iter()
                    .map(|(status, severity, count)| {
                        Ok(IncidentCount {
                            status: codec::decode_status(&status)?,
                            severity: codec::decode_severity(&severity)?,
                            count,
                        })
                    })
                    .collect()
            }

            async fn ping(&mut self) -> Result<(), StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn write_probe(&mut self) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM api_tokens WHERE 1 = 0")
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn insert_token(
                &mut self,
                name: &str,
                access: &str,
                hash: &str,
                created_at: i64,
                expires_at: Option<i64>,
                teams: Option<&str>,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO api_tokens \
                     (name, access, token_hash, created_at, expires_at, teams) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(name)
                .bind(access)
                .bind(hash)
                .bind(created_at)
                .bind(expires_at)
                .bind(teams)
                .execute(&mut *self)
                .await?;
                Ok(())
            }

            async fn token_owner(
                &mut self,
                hash: &str,
                now: i64,
            ) -> Result<Option<TokenOwner>, StoreError> {
                let row: Option<(String, String, Option<String>)> = sqlx::query_as(
                    "SELECT name, access, teams FROM api_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)?;
                row.map(|(name, access, teams)| {
                    Ok(TokenOwner {
                        name,
                        access: codec::decode_access(&access)?,
                        scope: codec::decode_scope(teams.as_deref()),
                    })
                })
                .transpose()
            }

            async fn revoke_token(&mut self, name: &str, at: i64) -> Result<bool, StoreError> {
                let revoked = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                )
                .bind(name)
                .bind(at)
                .execute(&mut *self)
                .await
                .map_err(db_err)?
                .rows_affected();
                Ok(revoked > 0)
            }

            async fn tokens(&mut self) -> Result<Vec<TokenInfo>, StoreError> {
                let rows: Vec<(String, String, i64, Option<i64>, Option<String>)> = sqlx::query_as(
                    "SELECT name, access, created_at, expires_at, teams FROM api_tokens \
                     WHERE revoked_at IS NULL ORDER BY name",
                )
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?;
                rows.into_iter()
                    .map(|(name, access, created_at, expires_at, teams)| {
                        Ok(TokenInfo {
                            name,
                            access: codec::decode_access(&access)?,
                            created_at: codec::from_ms(created_at)?,
                            expires_at: expires_at.map(codec::from_ms).transpose()?,
                            scope: codec::decode_scope(teams.as_deref()),
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_queries!(SqliteConnection, Dialect::Sqlite);
impl_queries!(PgConnection, Dialect::Postgres);
