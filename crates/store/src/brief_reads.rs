//! When a reader last asked for a brief of an incident ("brief me since I last looked").

use std::time::Instant;

use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Statements on `brief_reads`, per connection type.
trait BriefReadQueries {
    async fn last_look(
        &mut self,
        reader: &str,
        id: IncidentNumber,
    ) -> Result<Option<i64>, StoreError>;
    async fn record_look(
        &mut self,
        reader: &str,
        id: IncidentNumber,
        at: i64,
    ) -> Result<(), StoreError>;
}

/// A look is worth little after a crash (the next brief shows more than is new), and so is a
/// brief's digest (folded again when missing), so their commits need not wait for the disk:
/// on PostgreSQL the fsync was most of a "brief me".
pub(crate) trait CommitUnflushed {
    async fn commit_unflushed(&mut self) -> Result<(), StoreError>;
}

macro_rules! impl_brief_read_queries {
    ($conn:ty) => {
        impl BriefReadQueries for $conn {
            async fn last_look(
                &mut self,
                reader: &str,
                id: IncidentNumber,
            ) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar(
                    "SELECT looked_at FROM brief_reads WHERE reader = $1 AND incident = $2",
                )
                .bind(reader)
                .bind(id.0)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn record_look(
                &mut self,
                reader: &str,
                id: IncidentNumber,
                at: i64,
            ) -> Result<(), StoreError> {
                // A look never moves the mark backwards (two briefs racing, clocks apart).
                sqlx::query(
                    "INSERT INTO brief_reads (reader, incident, looked_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (reader, incident) DO UPDATE \
                     SET looked_at = CASE WHEN excluded.looked_at > brief_reads.looked_at \
                     THEN excluded.looked_at ELSE brief_reads.looked_at END",
                )
                .bind(reader)
                .bind(id.0)
                .bind(at)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

impl_brief_read_queries!(SqliteConnection);
impl_brief_read_queries!(PgConnection);

impl CommitUnflushed for SqliteConnection {
    // SQLite's WAL commit does not wait for a flush at the store's `synchronous` setting.
    async fn commit_unflushed(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl CommitUnflushed for PgConnection {
    async fn commit_unflushed(&mut self) -> Result<(), StoreError> {
        sqlx::query("SET LOCAL synchronous_commit TO OFF")
            .execute(&mut *self)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}

impl Store {
    /// When `reader` last asked for a brief of incident `id`, if ever.
    pub async fn last_brief_look(
        &self,
        reader: &str,
        id: IncidentNumber,
    ) -> Result<Option<Timestamp>, StoreError> {
        let at = read!(self, |conn| conn.last_look(reader, id).await)?;
        at.map(from_ms).transpose()
    }

    /// Records that `reader` was briefed on incident `id` at `at`.
    pub async fn record_brief_look(
        &self,
        reader: &str,
        id: IncidentNumber,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        write_tx!(self, |conn| {
            conn.commit_unflushed().await?;
            conn.record_look(reader, id, ms(at)).await
        })
    }
}
