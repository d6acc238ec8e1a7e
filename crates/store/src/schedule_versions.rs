//! The revision of each schedule's definition for its calendar feeds: a sequence that grows
//! by one whenever the definition's fingerprint differs from the last one seen, so calendar
//! clients (which only update events whose `SEQUENCE` increased) pick up an edited schedule.

use std::time::Instant;

use muster_core::Timestamp;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::ms;
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Statements on `schedule_versions`, per connection type.
trait ScheduleVersionQueries {
    async fn version(&mut self, schedule: &str) -> Result<Option<(String, i64)>, StoreError>;
    /// Records `fingerprint`, bumping the sequence when it differs; returns the sequence.
    async fn upsert_version(
        &mut self,
        schedule: &str,
        fingerprint: &str,
        now: i64,
    ) -> Result<i64, StoreError>;
}

macro_rules! impl_schedule_version_queries {
    ($conn:ty) => {
        impl ScheduleVersionQueries for $conn {
            async fn version(
                &mut self,
                schedule: &str,
            ) -> Result<Option<(String, i64)>, StoreError> {
                sqlx::query_as(
                    "SELECT fingerprint, sequence FROM schedule_versions WHERE schedule = $1",
                )
                .bind(schedule)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn upsert_version(
                &mut self,
                schedule: &str,
                fingerprint: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                // One statement: the comparison and the bump happen under the row's lock, so
                // two nodes seeing the same new definition bump once, and a first sight
                // racing another inserts once.
                sqlx::query_scalar(
                    "INSERT INTO schedule_versions (schedule, fingerprint, sequence, updated_at) \
                     VALUES ($1, $2, 0, $3) \
                     ON CONFLICT (schedule) DO UPDATE SET \
                     sequence = CASE WHEN schedule_versions.fingerprint = excluded.fingerprint \
                         THEN schedule_versions.sequence ELSE schedule_versions.sequence + 1 END, \
                     updated_at = CASE WHEN schedule_versions.fingerprint = excluded.fingerprint \
                         THEN schedule_versions.updated_at ELSE excluded.updated_at END, \
                     fingerprint = excluded.fingerprint \
                     RETURNING sequence",
                )
                .bind(schedule)
                .bind(fingerprint)
                .bind(now)
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }
        }
    };
}

impl_schedule_version_queries!(SqliteConnection);
impl_schedule_version_queries!(PgConnection);

fn sequence(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl Store {
    /// The calendar sequence of `schedule`'s definition with this `fingerprint`: 0 the first
    /// time the schedule is seen, the stored sequence while the fingerprint stays the same,
    /// and one more each time it differs from the last one recorded (a return to an older
    /// definition is a change too).
    pub async fn schedule_sequence(
        &self,
        schedule: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        // Feeds ask on every fetch: an unchanged definition is answered by a read.
        let known = read!(self, |conn| conn.version(schedule).await)?;
        if let Some((stored, n)) = known
            && stored == fingerprint
        {
            return Ok(sequence(n));
        }
        let now = ms(now);
        let n = write_tx!(self, |conn| conn
            .upsert_version(schedule, fingerprint, now)
            .await)?;
        Ok(sequence(n))
    }
}
