//! Maintenance windows and silences per service: while one is in force, new alerts for the
//! service are stored (and counted) but open no incident and page nobody. Creations and
//! removals are audited like run-time overrides.

use std::time::Instant;

use muster_core::Timestamp;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms, to_millis_precision};
use crate::error::db_err;
use crate::overrides::OverrideQueries;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// A silence of one service's alerts from `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub id: i64,
    pub service: String,
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
}

type SilenceRow = (i64, String, i64, i64, String, String, i64);
const COLUMNS: &str = "id, service, starts_at, ends_at, reason, created_by, created_at";

fn decode(r: SilenceRow) -> Result<Silence, StoreError> {
    Ok(Silence {
        id: r.0,
        service: r.1,
        from: from_ms(r.2)?,
        to: from_ms(r.3)?,
        reason: r.4,
        created_by: r.5,
        created_at: from_ms(r.6)?,
    })
}

fn json(s: &Silence) -> serde_json::Value {
    serde_json::json!({"id": s.id, "service": s.service, "from": s.from.to_string(),
        "to": s.to.to_string(), "reason": s.reason})
}

pub(crate) trait SilenceQueries {
    async fn insert_silence(&mut self, s: &Silence) -> Result<i64, StoreError>;
    async fn delete_silence(
        &mut self,
        id: i64,
        by: &str,
        at: i64,
    ) -> Result<Option<Silence>, StoreError>;
    async fn live_silences(&mut self, now: i64) -> Result<Vec<Silence>, StoreError>;
    async fn silence_by_id(&mut self, id: i64) -> Result<Option<Silence>, StoreError>;
}

macro_rules! impl_silence_queries {
    ($conn:ty) => {
        impl SilenceQueries for $conn {
            async fn insert_silence(&mut self, s: &Silence) -> Result<i64, StoreError> {
                sqlx::query_scalar(
                    "INSERT INTO silences (service, starts_at, ends_at, reason, created_by, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                )
                .bind(&s.service)
                .bind(ms(s.from))
                .bind(ms(s.to))
                .bind(&s.reason)
                .bind(&s.created_by)
                .bind(ms(s.created_at))
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn delete_silence(
                &mut self,
                id: i64,
                by: &str,
                at: i64,
            ) -> Result<Option<Silence>, StoreError> {
                let sql = format!(
                    "UPDATE silences SET deleted_by = $2, deleted_at = $3 \
                     WHERE id = $1 AND deleted_at IS NULL RETURNING {COLUMNS}"
                );
                let row: Option<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(by)
                    .bind(at)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode).transpose()
            }

            async fn live_silences(&mut self, now: i64) -> Result<Vec<Silence>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM silences WHERE deleted_at IS NULL AND ends_at > $1 \
                     ORDER BY starts_at, id"
                );
                let rows: Vec<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode).collect()
            }

            async fn silence_by_id(&mut self, id: i64) -> Result<Option<Silence>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM silences WHERE id = $1");
                let row: Option<SilenceRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode).transpose()
            }
        }
    };
}

impl_silence_queries!(SqliteConnection);
impl_silence_queries!(PgConnection);

impl Store {
    /// Stores a silence and its audit entry in one transaction; the caller checked the service.
    pub async fn create_silence(
        &self,
        service: &str,
        from: Timestamp,
        to: Timestamp,
        reason: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<Silence, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            let mut s = Silence {
                id: 0,
                service: service.into(),
                from: to_millis_precision(from),
                to: to_millis_precision(to),
                reason: reason.into(),
                created_by: actor.into(),
                created_at: now,
            };
            s.id = conn.insert_silence(&s).await?;
            let subject = format!("service:{service}");
            conn.insert_audit(ms(now), actor, "silence.created", &subject, &json(&s))
                .await?;
            Ok(s)
        })
    }

    /// Ends a silence early (kept, marked deleted) and audits it; `None` if there is none.
    pub async fn delete_silence(
        &self,
        id: i64,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<Silence>, StoreError> {
        let at = ms(to_millis_precision(now));
        write_tx!(self, |conn| {
            let Some(s) = conn.delete_silence(id, actor, at).await? else {
                return Ok(None);
            };
            let subject = format!("service:{}", s.service);
            conn.insert_audit(at, actor, "silence.deleted", &subject, &json(&s))
                .await?;
            Ok(Some(s))
        })
    }

    /// Silence `id`, ended or not.
    pub async fn silence(&self, id: i64) -> Result<Option<Silence>, StoreError> {
        read!(self, |conn| conn.silence_by_id(id).await)
    }

    /// Silences in force now or later, earliest first.
    pub async fn silences(&self, now: Timestamp) -> Result<Vec<Silence>, StoreError> {
        read!(self, |conn| conn.live_silences(ms(now)).await)
    }
}
