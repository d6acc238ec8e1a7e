//! Drills' incidents (`incidents.exercise`): listed for the drills API, and told apart from
//! real incidents by reports.

use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::ms;
use crate::error::db_err;
use crate::{Backend, Store, StoreError};

/// Statements on exercises, per connection type.
trait ExerciseQueries {
    async fn exercise_numbers(&mut self, limit: i64) -> Result<Vec<i64>, StoreError>;
    async fn declared_since(
        &mut self,
        since: i64,
        limit: i64,
    ) -> Result<Vec<(i64, bool)>, StoreError>;
}

macro_rules! impl_exercise_queries {
    ($conn:ty) => {
        impl ExerciseQueries for $conn {
            async fn exercise_numbers(&mut self, limit: i64) -> Result<Vec<i64>, StoreError> {
                sqlx::query_scalar(
                    "SELECT number FROM incidents WHERE exercise ORDER BY number DESC LIMIT $1",
                )
                .bind(limit)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn declared_since(
                &mut self,
                since: i64,
                limit: i64,
            ) -> Result<Vec<(i64, bool)>, StoreError> {
                sqlx::query_as(
                    "SELECT number, exercise FROM incidents WHERE declared_at >= $1 \
                     ORDER BY number DESC LIMIT $2",
                )
                .bind(since)
                .bind(limit)
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)
            }
        }
    };
}

impl_exercise_queries!(SqliteConnection);
impl_exercise_queries!(PgConnection);

impl Store {
    /// The newest `limit` incidents declared at or after `since`, each with whether it is a
    /// drill's, newest first.
    pub async fn declared_since(
        &self,
        since: Timestamp,
        limit: i64,
    ) -> Result<Vec<(IncidentNumber, bool)>, StoreError> {
        let rows = read!(self, |conn| conn.declared_since(ms(since), limit).await)?;
        Ok(rows
            .into_iter()
            .map(|(n, e)| (IncidentNumber(n), e))
            .collect())
    }

    /// The newest `limit` drills' incidents, newest first.
    pub async fn exercises(&self, limit: i64) -> Result<Vec<IncidentNumber>, StoreError> {
        let numbers = read!(self, |conn| conn.exercise_numbers(limit).await)?;
        Ok(numbers.into_iter().map(IncidentNumber).collect())
    }
}
