//! Effects of a decision (timer operations and outbox items), written in the transaction of
//! the incident change that caused them: `update_with_effects`, `declare_with_effects`,
//! `apply_effects`.

use std::collections::BTreeMap;
use std::time::Instant;

use muster_core::{Change, Incident, IncidentNumber, TimelineEvent, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{self, stamp, to_millis_precision};
use crate::error::{corrupt, db_err};
use crate::outbox::{OutboxItem, OutboxQueries};
use crate::policy_state::PolicyStateQueries;
use crate::queries::Queries;
use crate::timers::{TimerChange, TimerQueries};
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// What a decision asks for besides its timeline changes. Applied in order, timers first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    pub timers: Vec<TimerChange>,
    pub outbox: Vec<OutboxItem>,
    /// The actor of the change at this index of the decision's changes, where it is not the
    /// caller: a policy acting inside a person's request is named as `policy:<id>`.
    pub acted_by: BTreeMap<usize, String>,
    /// The instant the changes are stamped with, when it is not the caller's: a drill's
    /// incident lives in the drill's time.
    pub at: Option<Timestamp>,
}

impl Effects {
    /// The instant changes to `before` are stamped with: `at` when given; on a drill's
    /// incident, which lives in the drill's time, its latest instant when not (bookkeeping
    /// such as a notification's delivery knows only the real time); `now` otherwise.
    pub(crate) fn stamp(&self, before: &Incident, now: Timestamp) -> Timestamp {
        match self.at {
            Some(at) => to_millis_precision(at),
            None if before.exercise => before.updated_at,
            None => now,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.timers.is_empty() && self.outbox.is_empty()
    }
}

pub(crate) fn encode_json(value: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Internal(format!("cannot encode payload: {e}")))
}

pub(crate) fn decode_json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt("payload", e))
}

/// Statements shared by every writer of effects. Implemented per connection type, like
/// [`Queries`], so the futures stay `Send`.
pub(crate) trait EffectQueries {
    /// Applies `effects` (timer changes sorted by key, so concurrent transactions lock keys in
    /// one order); returns whether a wake-up is due (a timer set or an item queued). On
    /// PostgreSQL the inserts' statement triggers (migration 0011) notify on commit.
    async fn apply_effects(&mut self, now: i64, effects: &Effects) -> Result<bool, StoreError>;
    /// [`Self::apply_effects`]; `fresh` names an incident created in this transaction, whose
    /// timers cannot be armed yet, so they are inserted without reading first.
    async fn apply_effects_of(
        &mut self,
        now: i64,
        effects: &Effects,
        fresh: Option<IncidentNumber>,
    ) -> Result<bool, StoreError>;

    /// Declares an incident from `changes` (a `declared` change first), with the changes and
    /// effects `react` adds seeing it and its (empty) policy state: the incident is written
    /// once in its final state, its events with one statement. Returns it, its events and
    /// whether to wake.
    async fn declare_incident<F>(
        &mut self,
        changes: Vec<Change>,
        now: Timestamp,
        actor: &str,
        react: F,
    ) -> Result<(Incident, Vec<TimelineEvent>, bool), StoreError>
    where
        F: FnOnce(&Incident, &mut serde_json::Value) -> (Vec<Change>, Effects) + Send;

    /// Appends `changes` after `before` (locked by the caller) and writes the snapshot.
    async fn append_changes(
        &mut self,
        before: &Incident,
        now: Timestamp,
        actor: &str,
        changes: Vec<Change>,
        acted_by: &BTreeMap<usize, String>,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>;
}

macro_rules! impl_effect_queries {
    ($conn:ty) => {
        impl EffectQueries for $conn {
            async fn apply_effects(
                &mut self,
                now: i64,
                effects: &Effects,
            ) -> Result<bool, StoreError> {
                self.apply_effects_of(now, effects, None).await
            }

            async fn apply_effects_of(
                &mut self,
                now: i64,
                effects: &Effects,
                fresh: Option<IncidentNumber>,
            ) -> Result<bool, StoreError> {
                let mut timers: Vec<&TimerChange> = effects.timers.iter().collect();
                // Stable: the changes of one key keep their order, and the last one decides.
                timers.sort_by(|a, b| a.key().cmp(b.key()));
                let mut wake = self.apply_timer_changes(&timers, now, fresh).await?;
                // On PostgreSQL the inserts' statement triggers notify the other processes.
                wake |= self.insert_outbox(&effects.outbox, now).await?;
                Ok(wake)
            }

            async fn declare_incident<F>(
                &mut self,
                changes: Vec<Change>,
                now: Timestamp,
                actor: &str,
                react: F,
            ) -> Result<(Incident, Vec<TimelineEvent>, bool), StoreError>
            where
                F: FnOnce(&Incident, &mut serde_json::Value) -> (Vec<Change>, Effects) + Send,
            {
                let number = IncidentNumber(self.next_incident_number().await?);
                let mut events = stamp(0, now, actor, changes, &BTreeMap::new());
                let Some((first, rest)) = events.split_first() else {
                    return Err(StoreError::Internal("declare without changes".into()));
                };
                let mut incident = Incident::from_declared(number, first).ok_or_else(|| {
                    StoreError::Internal("declare needs a `declared` change first".into())
                })?;
                for event in rest {
                    incident.apply(event);
                }
                let mut state = serde_json::Value::Null;
                let (more, effects) = react(&incident, &mut state);
                // The reaction's changes follow the declaration's, and the incident is written
                // once in its final state: fewer statements on the alert → page path.
                let more = stamp(incident.last_seq, now, actor, more, &effects.acted_by);
                for event in &more {
                    incident.apply(event);
                }
                events.extend(more);
                self.insert_incident(&incident).await?;
                self.insert_events(number, &events).await?;
                let wake = self
                    .apply_effects_of(codec::ms(now), &effects, Some(number))
                    .await?;
                if !state.is_null() {
                    self.save_policy_state(number, &state, codec::ms(now))
                        .await?;
                }
                Ok((incident, events, wake))
            }

            async fn append_changes(
                &mut self,
                before: &Incident,
                now: Timestamp,
                actor: &str,
                changes: Vec<Change>,
                acted_by: &BTreeMap<usize, String>,
            ) -> Result<(Incident, Vec<TimelineEvent>), StoreError> {
                if changes.is_empty() {
                    return Ok((before.clone(), Vec::new()));
                }
                let events = stamp(before.last_seq, now, actor, changes, acted_by);
                let mut after = before.clone();
                for event in &events {
                    after.apply(event);
                }
                self.insert_events(before.id, &events).await?;
                self.write_snapshot(before, &after).await?;
                Ok((after, events))
            }
        }
    };
}

impl_effect_queries!(SqliteConnection);
impl_effect_queries!(PgConnection);

impl Store {
    /// [`Store::declare`], plus the effects `effects` returns for the new incident (whose
    /// number is only known inside the transaction), all in one transaction.
    pub async fn declare_with_effects<F>(
        &self,
        actor: &str,
        now: Timestamp,
        changes: Vec<Change>,
        effects: F,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>
    where
        F: FnOnce(&Incident) -> Effects + Send,
    {
        if !matches!(changes.first(), Some(Change::Declared { .. })) {
            return Err(StoreError::Internal(
                "declare needs a `declared` change first".into(),
            ));
        }
        let now = to_millis_precision(now);
        let (result, wake) = write_tx!(self, |conn| {
            let number = IncidentNumber(conn.next_incident_number().await?);
            let events = stamp(0, now, actor, changes, &BTreeMap::new());
            let Some((first, rest)) = events.split_first() else {
                return Err(StoreError::Internal("declare without changes".into()));
            };
            let mut incident = Incident::from_declared(number, first).ok_or_else(|| {
                StoreError::Internal("declare needs a `declared` change first".into())
            })?;
            for event in rest {
                incident.apply(event);
            }
            conn.insert_incident(&incident).await?;
            conn.insert_events(number, &events).await?;
            let effects = effects(&incident);
            let wake = conn
                .apply_effects_of(codec::ms(now), &effects, Some(number))
                .await?;
            Ok(((incident, events), wake))
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(result)
    }

    /// Applies effects that no incident change caused (one transaction).
    pub async fn apply_effects(&self, now: Timestamp, effects: &Effects) -> Result<(), StoreError> {
        let now = codec::ms(now);
        let wake = write_tx!(self, |conn| conn.apply_effects(now, effects).await)?;
        if wake {
            self.wake.wake();
        }
        Ok(())
    }
}
