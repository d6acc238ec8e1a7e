//! A change to one incident on SQLite, stepped on the locked writer ([`Direct`]).
//!
//! Every command (a note, an acknowledgement, a milestone) is one write transaction: read the
//! incident and its policy state, append events, write the snapshot, save the policy state.
//! Through sqlx that is six statements, each handed to the connection's thread and back, and
//! on a busy server those thread wake-ups cost more than SQLite's work (see BENCHMARKS.md,
//! "Timeline writes"). Here `BEGIN IMMEDIATE` still goes through sqlx, so waiting for another
//! process's write lock never blocks a runtime thread; the rest runs under one lock of the
//! connection. Effects (timers, outbox items) are rare on this path and written through sqlx,
//! after the lock is let go. Same statements as the PostgreSQL path ([`crate::queries`]).

use std::time::Instant;

use muster_core::{Change, DomainError, Incident, IncidentNumber, TimelineEvent, Timestamp};
use serde_json::Value;
use sqlx::SqlitePool;
use sqlx::pool::PoolConnection;

use crate::codec::{self, stamp};
use crate::effects::{EffectQueries, Effects, decode_json, encode_json};
use crate::error::db_err;
use crate::queries::{
    DELETE_SERVICES, INCIDENT_STATE, INSERT_EVENTS_SQLITE, INSERT_SERVICE, LOAD_POLICY_STATE,
    SAVE_POLICY_STATE, WRITE_SNAPSHOT, event_rows, lost_lock,
};
use crate::sqlite_direct::{Direct, Param};
use crate::{SLOW_WRITE, StoreError};

/// The writer with a transaction open (`.1`) until it is committed or rolled back. If the
/// future holding it is dropped or panics with the transaction open, the connection is closed
/// instead of returned to the pool: closing rolls back.
pub(crate) struct OpenTx(pub(crate) PoolConnection<sqlx::Sqlite>, pub(crate) bool);

impl OpenTx {
    /// The writer, with `BEGIN IMMEDIATE` run on its thread (it may wait for another
    /// process's write lock up to the busy timeout).
    pub(crate) async fn begin(writer: &SqlitePool) -> Result<OpenTx, StoreError> {
        // Counted open before BEGIN is sent: a future dropped while BEGIN is in flight leaves
        // the connection's thread to run it anyway, and that connection must not go back to
        // the pool with a transaction open.
        let mut tx = OpenTx(writer.acquire().await.map_err(db_err)?, true);
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut *tx.0).await {
            Ok(_) => Ok(tx),
            Err(e) => {
                // A BEGIN that failed (busy) opened nothing: the connection may be reused.
                tx.1 = false;
                Err(db_err(e))
            }
        }
    }

    /// The writer, counted open: the caller begins the transaction itself under the
    /// connection's lock (the group commit: see `sqlite_direct::Direct::try_begin_immediate`).
    pub(crate) async fn acquire(writer: &SqlitePool) -> Result<OpenTx, StoreError> {
        Ok(OpenTx(writer.acquire().await.map_err(db_err)?, true))
    }

    async fn rollback(mut self) {
        // If even the rollback fails, the guard closes the connection (which rolls back).
        if sqlx::query("ROLLBACK").execute(&mut *self.0).await.is_ok() {
            self.1 = false;
        }
    }
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        if self.1 {
            self.0.close_on_drop();
        }
    }
}

/// What the locked part of a change leaves to do after the lock: effects to write through
/// sqlx, then the commit (unless already committed).
struct Locked {
    result: (Incident, Vec<TimelineEvent>),
    effects: Option<Effects>,
}

/// `Store::update_with_policy` (with `policy`: the policy state is read and handed to
/// `decide`; else `decide` sees `Null`) and `Store::update_with_effects` on SQLite, as `actor`
/// at `now`; the answer and whether timers or outbox items were written (the schedulers'
/// wake-up).
pub(crate) async fn update<F>(
    writer: &SqlitePool,
    (id, actor, now): (IncidentNumber, &str, Timestamp),
    policy: bool,
    decide: F,
) -> Result<((Incident, Vec<TimelineEvent>), bool), StoreError>
where
    F: FnOnce(&Incident, &mut Value) -> Result<(Vec<Change>, Effects), DomainError> + Send,
{
    let started = Instant::now();
    let mut tx = OpenTx::begin(writer).await?;
    let outcome = async {
        let locked = {
            let direct = Direct::lock(&mut tx.0).await?;
            change_locked(&direct, (id, actor, now), policy, decide)?
        };
        let wake = match &locked.effects {
            Some(effects) => {
                let wake = tx.0.apply_effects(codec::ms(now), effects).await?;
                sqlx::query("COMMIT")
                    .execute(&mut *tx.0)
                    .await
                    .map_err(db_err)?;
                wake
            }
            None => false,
        };
        Ok((locked.result, wake))
    }
    .await;
    match &outcome {
        Ok(_) => tx.1 = false,
        Err(_) => tx.rollback().await,
    }
    if started.elapsed() > SLOW_WRITE {
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "slow write transaction"
        );
    }
    outcome
}

/// Reads, decides and writes under the connection's lock; commits too when there are no
/// effects left to write.
fn change_locked<F>(
    direct: &Direct<'_>,
    (id, actor, now): (IncidentNumber, &str, Timestamp),
    policy: bool,
    decide: F,
) -> Result<Locked, StoreError>
where
    F: FnOnce(&Incident, &mut Value) -> Result<(Vec<Change>, Effects), DomainError>,
{
    let before = direct
        .prepare(INCIDENT_STATE)?
        .query(&[Param::Int(id.0)], |r| r.text(0))?
        .pop()
        .ok_or(StoreError::NotFound(id))?;
    let before = codec::decode_state(&before)?;
    let mut state = if policy {
        direct
            .prepare(LOAD_POLICY_STATE)?
            .query(&[Param::Int(id.0)], |r| r.text(0))?
            .pop()
            .map(|text| decode_json(&text))
            .transpose()?
            .unwrap_or_default()
    } else {
        Value::Null
    };
    let original = state.clone();
    let (changes, effects) = decide(&before, &mut state)?;
    let at = effects.stamp(&before, now);
    let result = if changes.is_empty() {
        (before.clone(), Vec::new())
    } else {
        let events = stamp(before.last_seq, at, actor, changes, &effects.acted_by);
        let mut after = before.clone();
        for event in &events {
            after.apply(event);
        }
        let rows = event_rows(&events)?;
        direct
            .prepare(INSERT_EVENTS_SQLITE)?
            .run(&[Param::Int(id.0), Param::Text(&rows)])?;
        write_snapshot(direct, &before, &after)?;
        (after, events)
    };
    if policy && state != original {
        let text = encode_json(&state)?;
        direct.prepare(SAVE_POLICY_STATE)?.run(&[
            Param::Int(id.0),
            Param::Text(&text),
            Param::Int(codec::ms(now)),
        ])?;
    }
    if !effects.is_empty() {
        return Ok(Locked {
            result,
            effects: Some(effects),
        });
    }
    direct.prepare("COMMIT")?.run(&[])?;
    Ok(Locked {
        result,
        effects: None,
    })
}

fn write_snapshot(
    direct: &Direct<'_>,
    before: &Incident,
    after: &Incident,
) -> Result<(), StoreError> {
    let services = codec::encode_services(&after.services)?;
    let state = codec::encode_state(after)?;
    let mut stmt = direct.prepare(WRITE_SNAPSHOT)?;
    stmt.run(&[
        Param::Int(after.id.0),
        Param::Text(&after.title),
        Param::Text(after.severity.as_str()),
        Param::Text(after.status.as_str()),
        Param::Text(&services),
        Param::Int(codec::ms(after.updated_at)),
        after.resolved_at.map(codec::ms).into(),
        Param::Int(after.last_seq),
        Param::Text(&state),
        Param::Int(before.last_seq),
    ])?;
    if direct.changes() != 1 {
        return Err(lost_lock(before));
    }
    if before.services != after.services {
        direct
            .prepare(DELETE_SERVICES)?
            .run(&[Param::Int(after.id.0)])?;
        let mut insert = direct.prepare(INSERT_SERVICE)?;
        for service in after
            .services
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
        {
            insert.run(&[Param::Text(service), Param::Int(after.id.0)])?;
        }
    }
    Ok(())
}
