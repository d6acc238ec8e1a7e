//! Drills' incidents (`incidents.exercise`): listed for the drills API, and told apart from
//! real incidents by reports.

use muster_core::IncidentNumber;
use sqlx::{PgConnection, SqliteConnection};

use crate::error::db_err;
use crate::{Backend, Store, StoreError};

/// Statements on exercises, per connection type.
trait ExerciseQueries {
    async fn exercise_numbers(&mut self, limit: i64) -> Result<Vec<i64>, StoreError>;
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
        }
    };
}

impl_exercise_queries!(SqliteConnection);
impl_exercise_queries!(PgConnection);

impl Store {
    /// The newest `limit` drills' incidents, newest first.
    pub async fn exercises(&self, limit: i64) -> Result<Vec<IncidentNumber>, StoreError> {
        let numbers = read!(self, |conn| conn.exercise_numbers(limit).await)?;
        Ok(numbers.into_iter().map(IncidentNumber).collect())
    }
}
