//! A command's transaction on one incident: the incident read under its lock (and its policy
//! state, for `update_with_policy`), the decision, then the events, the snapshot, the effects
//! and the policy state written together, or nothing when the decision refuses. On SQLite
//! stepped on the locked writer (`sqlite_update`), on PostgreSQL through sqlx.

use std::time::Instant;

use muster_core::{Change, DomainError, Incident, IncidentNumber, TimelineEvent, Timestamp};
use serde_json::Value;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{self, to_millis_precision};
use crate::effects::{EffectQueries, Effects};
use crate::error::db_err;
use crate::policy_state::PolicyStateQueries;
use crate::queries::Queries;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

impl Store {
    /// [`Store::update`], plus the effects `decide` returns, all in one transaction: a
    /// refusal writes no change, no timer and no outbox item. Effects are applied even when
    /// there are no changes.
    pub async fn update_with_effects<F>(
        &self,
        id: IncidentNumber,
        actor: &str,
        now: Timestamp,
        decide: F,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>
    where
        F: FnOnce(&Incident) -> Result<(Vec<Change>, Effects), DomainError> + Send,
    {
        let now = to_millis_precision(now);
        if let Backend::Sqlite { writer, .. } = &self.backend {
            let (result, wake) = crate::sqlite_update::update(
                writer,
                (id, actor, now),
                false,
                |inc: &Incident, _: &mut serde_json::Value| decide(inc),
            )
            .await?;
            if wake {
                self.wake.wake();
            }
            return Ok(result);
        }
        let (result, wake) = write_tx!(self, |conn| {
            let before = conn
                .lock_incident(id)
                .await?
                .ok_or(StoreError::NotFound(id))?;
            let (changes, effects) = decide(&before)?;
            let result = conn
                .append_changes(
                    &before,
                    effects.stamp(&before, now),
                    actor,
                    changes,
                    &effects.acted_by,
                )
                .await?;
            let wake = conn.apply_effects(codec::ms(now), &effects).await?;
            Ok((result, wake))
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(result)
    }

    /// [`Store::update_with_effects`], with the incident's policy state handed to `decide`
    /// and written back in the same transaction when `decide` changed it.
    pub async fn update_with_policy<F>(
        &self,
        id: IncidentNumber,
        actor: &str,
        now: Timestamp,
        decide: F,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>
    where
        F: FnOnce(&Incident, &mut Value) -> Result<(Vec<Change>, Effects), DomainError> + Send,
    {
        let now = to_millis_precision(now);
        let at = codec::ms(now);
        if let Backend::Sqlite { writer, .. } = &self.backend {
            // The same transaction stepped on the locked writer: one thread hand-off instead
            // of one per statement.
            let (result, wake) =
                crate::sqlite_update::update(writer, (id, actor, now), true, decide).await?;
            if wake {
                self.wake.wake();
            }
            return Ok(result);
        }
        let (result, wake) = write_tx!(self, |conn| {
            let before = conn
                .lock_incident(id)
                .await?
                .ok_or(StoreError::NotFound(id))?;
            let mut state = conn.load_policy_state(id).await?;
            let original = state.clone();
            let (changes, effects) = decide(&before, &mut state)?;
            let stamp = effects.stamp(&before, now);
            let result = conn
                .append_changes(&before, stamp, actor, changes, &effects.acted_by)
                .await?;
            let wake = conn.apply_effects(at, &effects).await?;
            if state != original {
                conn.save_policy_state(id, &state, at).await?;
            }
            Ok((result, wake))
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(result)
    }
}
