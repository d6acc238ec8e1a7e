//! Run-time schedule overrides ("Erin covers for Alice from … to …") and the audit trail that
//! records who made or removed each one, when and why.
//!
//! Overrides are never edited: a change is a deletion (kept, with who and when) plus a new
//! override. Every creation and deletion writes an audit entry in the same transaction, and the
//! number of audit entries of a schedule is its revision (the iCalendar `SEQUENCE`).

use std::time::Instant;

use muster_core::Timestamp;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms, to_millis_precision};
use crate::effects::{decode_json, encode_json};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// The most audit entries one call returns.
pub const MAX_AUDIT_ENTRIES: u32 = 1000;

/// An override to store; the caller has validated people and times against the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOverride {
    pub schedule: String,
    pub person: String,
    pub replaces: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: String,
}

/// A stored, live override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleOverride {
    /// `ovr-N`.
    pub id: String,
    pub schedule: String,
    pub person: String,
    pub replaces: Option<String>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    /// e.g. `override.created`, `override.deleted`.
    pub action: String,
    /// e.g. `schedule:payments-primary`.
    pub subject: String,
    pub data: serde_json::Value,
}

type OverrideRow = (
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    String,
    String,
    i64,
);
type AuditRow = (i64, i64, String, String, String, String);

const OVERRIDE_COLUMNS: &str =
    "id, schedule, person, replaces, starts_at, ends_at, reason, created_by, created_at";

fn decode_override(r: OverrideRow) -> Result<ScheduleOverride, StoreError> {
    Ok(ScheduleOverride {
        id: r.0,
        schedule: r.1,
        person: r.2,
        replaces: r.3,
        from: from_ms(r.4)?,
        to: from_ms(r.5)?,
        reason: r.6,
        created_by: r.7,
        created_at: from_ms(r.8)?,
    })
}

fn decode_audit(r: AuditRow) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        id: r.0,
        at: from_ms(r.1)?,
        actor: r.2,
        action: r.3,
        subject: r.4,
        data: decode_json(&r.5)?,
    })
}

fn override_json(o: &ScheduleOverride) -> serde_json::Value {
    serde_json::json!({
        "id": o.id,
        "schedule": o.schedule,
        "person": o.person,
        "replaces": o.replaces,
        "from": o.from.to_string(),
        "to": o.to.to_string(),
        "reason": o.reason,
    })
}

fn subject(schedule: &str) -> String {
    format!("schedule:{schedule}")
}

pub(crate) trait OverrideQueries {
    async fn next_override_id(&mut self) -> Result<String, StoreError>;
    async fn insert_override(&mut self, o: &ScheduleOverride) -> Result<(), StoreError>;
    async fn mark_override_deleted(
        &mut self,
        schedule: &str,
        id: &str,
        actor: &str,
        at: i64,
    ) -> Result<Option<ScheduleOverride>, StoreError>;
    async fn live_overrides(&mut self, schedule: &str)
    -> Result<Vec<ScheduleOverride>, StoreError>;
    async fn all_live_overrides(&mut self) -> Result<Vec<ScheduleOverride>, StoreError>;
    async fn insert_audit(
        &mut self,
        at: i64,
        actor: &str,
        action: &str,
        subject: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError>;
    async fn audit_rows(
        &mut self,
        subject: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    async fn audit_count(&mut self, subject: &str) -> Result<i64, StoreError>;
}

macro_rules! impl_override_queries {
    ($conn:ty) => {
        impl OverrideQueries for $conn {
            async fn next_override_id(&mut self) -> Result<String, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "UPDATE counters SET value = value + 1 WHERE name = 'override' RETURNING value",
                )
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(format!("ovr-{n}"))
            }

            async fn insert_override(&mut self, o: &ScheduleOverride) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO schedule_overrides (id, schedule, person, replaces, starts_at, \
                     ends_at, reason, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&o.id)
                .bind(&o.schedule)
                .bind(&o.person)
                .bind(&o.replaces)
                .bind(ms(o.from))
                .bind(ms(o.to))
                .bind(&o.reason)
                .bind(&o.created_by)
                .bind(ms(o.created_at))
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn mark_override_deleted(
                &mut self,
                schedule: &str,
                id: &str,
                actor: &str,
                at: i64,
            ) -> Result<Option<ScheduleOverride>, StoreError> {
                let sql = format!(
                    "UPDATE schedule_overrides SET deleted_by = $3, deleted_at = $4 \
                     WHERE schedule = $1 AND id = $2 AND deleted_at IS NULL \
                     RETURNING {OVERRIDE_COLUMNS}"
                );
                let row: Option<OverrideRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(schedule)
                    .bind(id)
                    .bind(actor)
                    .bind(at)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode_override).transpose()
            }

            async fn live_overrides(
                &mut self,
                schedule: &str,
            ) -> Result<Vec<ScheduleOverride>, StoreError> {
                let sql = format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides \
                     WHERE schedule = $1 AND deleted_at IS NULL ORDER BY created_at, id"
                );
                let rows: Vec<OverrideRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(schedule)
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode_override).collect()
            }

            async fn all_live_overrides(&mut self) -> Result<Vec<ScheduleOverride>, StoreError> {
                let sql = format!(
                    "SELECT {OVERRIDE_COLUMNS} FROM schedule_overrides \
                     WHERE deleted_at IS NULL ORDER BY created_at, id"
                );
                let rows: Vec<OverrideRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode_override).collect()
            }

            async fn insert_audit(
                &mut self,
                at: i64,
                actor: &str,
                action: &str,
                subject: &str,
                data: &serde_json::Value,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO audit_log (at, actor, action, subject, data) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(at)
                .bind(actor)
                .bind(action)
                .bind(subject)
                .bind(encode_json(data)?)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn audit_rows(
                &mut self,
                subject: Option<&str>,
                limit: u32,
            ) -> Result<Vec<AuditEntry>, StoreError> {
                let rows: Vec<AuditRow> = sqlx::query_as(
                    "SELECT id, at, actor, action, subject, data FROM audit_log \
                     WHERE ($1 IS NULL OR subject = $1) ORDER BY id DESC LIMIT $2",
                )
                .bind(subject)
                .bind(i64::from(limit))
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)?;
                rows.into_iter().map(decode_audit).collect()
            }

            async fn audit_count(&mut self, subject: &str) -> Result<i64, StoreError> {
                sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE subject = $1")
                    .bind(subject)
                    .fetch_one(&mut *self)
                    .await
                    .map_err(db_err)
            }
        }
    };
}

impl_override_queries!(SqliteConnection);
impl_override_queries!(PgConnection);

impl Store {
    /// Stores an override and its audit entry in one transaction.
    pub async fn create_override(
        &self,
        new: &NewOverride,
        actor: &str,
        now: Timestamp,
    ) -> Result<ScheduleOverride, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            let stored = ScheduleOverride {
                id: conn.next_override_id().await?,
                schedule: new.schedule.clone(),
                person: new.person.clone(),
                replaces: new.replaces.clone(),
                from: to_millis_precision(new.from),
                to: to_millis_precision(new.to),
                reason: new.reason.clone(),
                created_by: actor.to_string(),
                created_at: now,
            };
            conn.insert_override(&stored).await?;
            let subject = subject(&stored.schedule);
            conn.insert_audit(
                ms(now),
                actor,
                "override.created",
                &subject,
                &override_json(&stored),
            )
            .await?;
            Ok(stored)
        })
    }

    /// Removes a live override (kept, marked deleted) and audits it; `None` if there is no
    /// live override `id` on `schedule`.
    pub async fn delete_override(
        &self,
        schedule: &str,
        id: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<ScheduleOverride>, StoreError> {
        let at = ms(to_millis_precision(now));
        write_tx!(self, |conn| {
            let Some(removed) = conn.mark_override_deleted(schedule, id, actor, at).await? else {
                return Ok(None);
            };
            conn.insert_audit(
                at,
                actor,
                "override.deleted",
                &subject(schedule),
                &override_json(&removed),
            )
            .await?;
            Ok(Some(removed))
        })
    }

    /// The live run-time overrides of `schedule`, oldest first (later ones win on overlap).
    pub async fn overrides(&self, schedule: &str) -> Result<Vec<ScheduleOverride>, StoreError> {
        read!(self, |conn| conn.live_overrides(schedule).await)
    }

    /// The live run-time overrides of every schedule, oldest first.
    pub async fn all_overrides(&self) -> Result<Vec<ScheduleOverride>, StoreError> {
        read!(self, |conn| conn.all_live_overrides().await)
    }

    /// How many times the schedule's run-time overrides changed: its calendar revision.
    pub async fn schedule_revision(&self, schedule: &str) -> Result<u32, StoreError> {
        let n = read!(self, |conn| conn.audit_count(&subject(schedule)).await)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// The audit trail, newest first, optionally of one subject (e.g. `schedule:ID`).
    /// Appends one entry to the audit log on its own: what was refused or attempted without
    /// changing anything else (an SMS reply from a stranger's number).
    pub async fn record_audit(
        &self,
        now: Timestamp,
        actor: &str,
        action: &str,
        subject: &str,
        data: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let at = ms(now);
        write_tx!(self, |conn| conn
            .insert_audit(at, actor, action, subject, data)
            .await)
    }

    pub async fn audit(
        &self,
        subject: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.min(MAX_AUDIT_ENTRIES);
        read!(self, |conn| conn.audit_rows(subject, limit).await)
    }
}
