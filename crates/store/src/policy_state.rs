//! The policy engine's state per incident, kept durable next to the incident.
//!
//! The store treats it as opaque JSON (`Null` when never written): the server owns its shape
//! (the engine's `IncidentPolicyState` plus the running escalations). The `*_with_policy`
//! calls hand it to the caller's closure together with the incident, under the incident's
//! lock, and write it back (when changed) in the same transaction as the timeline changes,
//! timers and outbox items the closure decided. So the engine state, the timers it waits for
//! and the actions it took can never disagree, whatever crashes when.

use std::time::Instant;

use muster_core::{Change, DomainError, Incident, IncidentNumber, TimelineEvent, Timestamp};
use serde_json::Value;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::to_millis_precision;
use crate::effects::{EffectQueries, Effects, decode_json, encode_json};
use crate::error::db_err;
use crate::queries::{LOAD_POLICY_STATE, SAVE_POLICY_STATE};
use crate::timers::{ClaimedTimer, FireOutcome};
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Statements on `policy_state`, per connection type (see [`Queries`]).
pub(crate) trait PolicyStateQueries {
    /// The stored state, `Null` when none was written yet.
    async fn load_policy_state(&mut self, id: IncidentNumber) -> Result<Value, StoreError>;
    async fn save_policy_state(
        &mut self,
        id: IncidentNumber,
        state: &Value,
        now: i64,
    ) -> Result<(), StoreError>;
}

macro_rules! impl_policy_state_queries {
    ($conn:ty) => {
        impl PolicyStateQueries for $conn {
            async fn load_policy_state(&mut self, id: IncidentNumber) -> Result<Value, StoreError> {
                let text: Option<String> = sqlx::query_scalar(LOAD_POLICY_STATE)
                    .bind(id.0)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                text.as_deref()
                    .map(decode_json)
                    .transpose()
                    .map(Option::unwrap_or_default)
            }

            async fn save_policy_state(
                &mut self,
                id: IncidentNumber,
                state: &Value,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(SAVE_POLICY_STATE)
                    .bind(id.0)
                    .bind(encode_json(state)?)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

impl_policy_state_queries!(SqliteConnection);
impl_policy_state_queries!(PgConnection);

impl Store {
    /// The stored policy state of an incident (`Null` when none), for reading only.
    pub async fn policy_state(&self, id: IncidentNumber) -> Result<Value, StoreError> {
        read!(self, |conn| conn.load_policy_state(id).await)
    }

    /// [`Store::declare_with_effects`], where `react` also sees the new incident's (empty)
    /// policy state and may append more changes after the declaring ones: all one transaction.
    pub async fn declare_with_policy<F>(
        &self,
        actor: &str,
        now: Timestamp,
        changes: Vec<Change>,
        react: F,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>
    where
        F: FnOnce(&Incident, &mut Value) -> (Vec<Change>, Effects) + Send,
    {
        if !matches!(changes.first(), Some(Change::Declared { .. })) {
            return Err(StoreError::Internal(
                "declare needs a `declared` change first".into(),
            ));
        }
        let now = to_millis_precision(now);
        let (result, wake) = write_tx!(self, |conn| {
            let (incident, events, wake) =
                conn.declare_incident(changes, now, actor, react).await?;
            Ok(((incident, events), wake))
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(result)
    }

    /// [`Store::fire_timer`], with the policy state of the timer's incident handed to `handle`
    /// (`Null` for a timer without incident) and written back in the same transaction.
    pub async fn fire_timer_with_policy<F>(
        &self,
        timer: &ClaimedTimer,
        now: Timestamp,
        handle: F,
        actor: &str,
    ) -> Result<FireOutcome, StoreError>
    where
        F: FnOnce(Option<&Incident>, &mut Value) -> Result<(Vec<Change>, Effects), DomainError>
            + Send,
    {
        self.fire_timer_inner(timer, now, handle, actor, true).await
    }
}
