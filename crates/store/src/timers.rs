//! Durable timers: set and cancelled in the transaction of the change that decided them,
//! claimed with a lease, fired exactly once.
//!
//! A timer is one row per arming. At most one row per key is live (`pending` or `claimed`);
//! setting a live key to another time or payload cancels that row and inserts a new one, and
//! a set with the same time and payload changes nothing. A claim is identified by the row id,
//! the owner and the attempt number (a fencing token that grows with every claim), and
//! [`Store::fire_timer`] re-checks it under the row lock in the same transaction that writes
//! what firing decided and marks the row `fired`. So however many processes claim, and
//! whoever dies between claiming and firing, each arming fires at most once, and (once its
//! lease expires and someone claims it again) at least once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use muster_core::{Change, DomainError, Incident, IncidentNumber, TimelineEvent, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::claim::{LeasedClaim, leased_claim};
use crate::codec::{self, from_ms, to_millis_precision};
use crate::effects::{EffectQueries, Effects, decode_json, encode_json};
use crate::error::{corrupt, db_err};
use crate::policy_state::PolicyStateQueries;
use crate::queries::{Dialect, Queries};
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// The most timers one claim returns.
pub const MAX_CLAIM_BATCH: u32 = 1000;
/// How many times a set retries when a concurrent transaction inserts the same key.
const SET_RETRIES: usize = 3;

/// A timer to arm.
#[derive(Debug, Clone, PartialEq)]
pub struct TimerSpec {
    /// Globally unique name of the logical timer, e.g. `INC-7/deadline:blast-radius-20m:due`.
    pub key: String,
    pub incident: Option<IncidentNumber>,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
}

/// A timer operation decided together with an incident change.
#[derive(Debug, Clone, PartialEq)]
pub enum TimerChange {
    /// Arms the key; when it is already armed (pending or claimed), moves it. The same time
    /// and payload again is a no-op.
    Set(TimerSpec),
    /// Disarms the key; a no-op when it is not armed (never set, fired or cancelled).
    Cancel { key: String },
}

impl TimerChange {
    pub fn key(&self) -> &str {
        match self {
            TimerChange::Set(spec) => &spec.key,
            TimerChange::Cancel { key } => key,
        }
    }
}

/// A timer claimed by one owner until `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedTimer {
    /// The row of this arming.
    pub id: i64,
    pub key: String,
    pub incident: Option<IncidentNumber>,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
    /// Claims of this arming so far, this one included.
    pub attempts: u32,
    pub lease_owner: String,
    pub lease_until: Timestamp,
}

/// Where a timer row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerState {
    Pending,
    Claimed,
    Fired,
    Cancelled,
}

impl TimerState {
    pub fn as_str(self) -> &'static str {
        match self {
            TimerState::Pending => "pending",
            TimerState::Claimed => "claimed",
            TimerState::Fired => "fired",
            TimerState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> Result<TimerState, StoreError> {
        Ok(match s {
            "pending" => TimerState::Pending,
            "claimed" => TimerState::Claimed,
            "fired" => TimerState::Fired,
            "cancelled" => TimerState::Cancelled,
            other => return Err(corrupt("timer state", other)),
        })
    }
}

/// One arming of a timer, as stored (for audit and tests).
#[derive(Debug, Clone, PartialEq)]
pub struct TimerRecord {
    pub id: i64,
    pub key: String,
    pub incident: Option<IncidentNumber>,
    pub due_at: Timestamp,
    pub payload: serde_json::Value,
    pub state: TimerState,
    pub attempts: u32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub created_at: Timestamp,
    pub fired_at: Option<Timestamp>,
    /// The owner whose claim fired it.
    pub fired_by: Option<String>,
    pub cancelled_at: Option<Timestamp>,
    /// The handler's refusal, when it refused (the timer is consumed all the same).
    pub refusal: Option<String>,
}

/// What [`Store::fire_timer`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum FireOutcome {
    /// Fired: the handler's changes and effects are written and the timer is `fired`.
    Fired {
        /// How long after `due_at` it fired.
        lateness: Duration,
        /// The timeline events appended (none for a timer without incident or changes).
        events: Vec<TimelineEvent>,
    },
    /// The handler refused: nothing it decided is written, and the timer is consumed
    /// (`fired`, with the refusal recorded) so a deterministic refusal is not retried forever.
    Refused {
        lateness: Duration,
        error: DomainError,
    },
    /// The claim is no longer ours (the lease expired and someone claimed it again, or it
    /// fired already): nothing written.
    LostLease,
    /// The timer was cancelled or moved (set again) after it was claimed: nothing written.
    Cancelled,
}

/// A claimed row: (id, key, incident, due_at, payload, attempts, lease_owner, lease_until).
type ClaimRow = (
    i64,
    String,
    Option<i64>,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
);

/// A whole row, in `TIMER_COLUMNS` order.
type TimerRow = (
    i64,
    String,
    Option<i64>,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

const TIMER_COLUMNS: &str = "id, key, incident, due_at, payload, state, attempts, lease_owner, \
                             lease_until, created_at, fired_at, fired_by, cancelled_at, refusal";

fn attempts(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn decode_claim(row: ClaimRow) -> Result<ClaimedTimer, StoreError> {
    let (id, key, incident, due_at, payload, attempts_, lease_owner, lease_until) = row;
    Ok(ClaimedTimer {
        id,
        key,
        incident: incident.map(IncidentNumber),
        due_at: from_ms(due_at)?,
        payload: decode_json(&payload)?,
        attempts: attempts(attempts_),
        lease_owner: lease_owner.ok_or_else(|| corrupt("timer", "claimed without owner"))?,
        lease_until: from_ms(
            lease_until.ok_or_else(|| corrupt("timer", "claimed without lease"))?,
        )?,
    })
}

fn decode_record(row: TimerRow) -> Result<TimerRecord, StoreError> {
    let (
        id,
        key,
        incident,
        due_at,
        payload,
        state,
        attempts_,
        lease_owner,
        lease_until,
        created_at,
        fired_at,
        fired_by,
        cancelled_at,
        refusal,
    ) = row;
    Ok(TimerRecord {
        id,
        key,
        incident: incident.map(IncidentNumber),
        due_at: from_ms(due_at)?,
        payload: decode_json(&payload)?,
        state: TimerState::parse(&state)?,
        attempts: attempts(attempts_),
        lease_owner,
        lease_until: lease_until.map(from_ms).transpose()?,
        created_at: from_ms(created_at)?,
        fired_at: fired_at.map(from_ms).transpose()?,
        fired_by,
        cancelled_at: cancelled_at.map(from_ms).transpose()?,
        refusal,
    })
}

/// `now + lease` in epoch milliseconds, saturating.
pub(crate) fn lease_end(now: i64, lease: Duration) -> i64 {
    now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
}

/// What a claim of timers or outbox items works with: `now` and the lease's end in epoch ms,
/// and the batch size capped at [`MAX_CLAIM_BATCH`]; `None` when nothing may be claimed.
pub(crate) fn claim_window(now: Timestamp, lease: Duration, limit: u32) -> Option<(i64, i64, u32)> {
    let now = codec::ms(now);
    let limit = limit.min(MAX_CLAIM_BATCH);
    (limit > 0).then(|| (now, lease_end(now, lease), limit))
}

pub(crate) fn lateness(now: Timestamp, due_at: Timestamp) -> Duration {
    let late = codec::ms(now).saturating_sub(codec::ms(due_at));
    Duration::from_millis(u64::try_from(late).unwrap_or(0))
}

/// The timer statements, per connection type (see [`Queries`]).
pub(crate) trait TimerQueries {
    /// Arms `spec.key`; returns whether anything changed.
    async fn set_timer(&mut self, spec: &TimerSpec, now: i64) -> Result<bool, StoreError>;
    /// Applies `changes` (sorted by key; the last change of a key decides) with a read, a
    /// cancel and an insert for all of them; returns whether a timer was armed.
    /// `fresh`: the incident created in this transaction; its keys are not read first.
    async fn apply_timer_changes(
        &mut self,
        changes: &[&TimerChange],
        now: i64,
        fresh: Option<IncidentNumber>,
    ) -> Result<bool, StoreError>;
    async fn claim_timers(
        &mut self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimRow>, StoreError>;
    /// (state, lease_owner, attempts) of a row, locked on PostgreSQL.
    async fn lock_timer(
        &mut self,
        id: i64,
    ) -> Result<Option<(String, Option<String>, i64)>, StoreError>;
    async fn mark_fired(
        &mut self,
        id: i64,
        now: i64,
        by: &str,
        refusal: Option<&str>,
    ) -> Result<(), StoreError>;
    async fn next_timer_due(&mut self) -> Result<Option<i64>, StoreError>;
    async fn timer_rows(
        &mut self,
        key: Option<&str>,
        incident: Option<i64>,
    ) -> Result<Vec<TimerRow>, StoreError>;
}

/// The last change of each key (the changes come sorted by key): `None` cancels.
fn final_changes<'a>(changes: &[&'a TimerChange]) -> Vec<(&'a str, Option<&'a TimerSpec>)> {
    let mut out: Vec<(&str, Option<&TimerSpec>)> = Vec::with_capacity(changes.len());
    for change in changes {
        let wanted = match change {
            TimerChange::Set(spec) => Some(spec),
            TimerChange::Cancel { .. } => None,
        };
        match out.last_mut() {
            Some((key, last)) if *key == change.key() => *last = wanted,
            _ => out.push((change.key(), wanted)),
        }
    }
    out
}

fn dialect(sqlite: &'static str, pg: &'static str, d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => sqlite,
        Dialect::Postgres => pg,
    }
}

/// The live rows of a JSON list of keys; locked in key order on PostgreSQL, so two
/// transactions never wait on each other in a cycle.
const LIVE_SQLITE: &str = "SELECT id, key, incident, due_at, payload FROM timers \
     WHERE key IN (SELECT value FROM json_each($1)) AND state IN ('pending', 'claimed')";
const LIVE_PG: &str = "SELECT id, key, incident, due_at, payload FROM timers \
     WHERE key = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb))) \
     AND state IN ('pending', 'claimed') ORDER BY key FOR UPDATE";
const CANCEL_IDS_SQLITE: &str = "UPDATE timers SET state = 'cancelled', cancelled_at = $2 \
     WHERE id IN (SELECT value FROM json_each($1))";
const CANCEL_IDS_PG: &str = "UPDATE timers SET state = 'cancelled', cancelled_at = $2 \
     WHERE id = ANY(ARRAY(SELECT jsonb_array_elements_text($1::jsonb)::bigint))";
/// Arms `[[key, incident, due_at, payload], …]`; answers the keys armed (a key armed
/// concurrently meanwhile is skipped, not an error).
const ARM_SQLITE: &str = "INSERT INTO timers (key, incident, due_at, payload, state, attempts, \
     created_at) SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, 'pending', \
     0, $2 FROM json_each($1) e WHERE true ON CONFLICT DO NOTHING RETURNING key";
const ARM_PG: &str = "INSERT INTO timers (key, incident, due_at, payload, state, attempts, \
     created_at) SELECT e ->> 0, (e ->> 1)::bigint, (e ->> 2)::bigint, e ->> 3, 'pending', 0, \
     $2 FROM jsonb_array_elements($1::jsonb) e ON CONFLICT DO NOTHING RETURNING key";

/// Claims due timers; a claimed row answers a [`ClaimRow`].
pub(crate) const CLAIM: LeasedClaim = leased_claim!(
    table: "timers",
    ready: "state = 'pending'",
    due: "due_at",
    also_set: "",
    returning: [
        "id", "key", "incident", "due_at", "payload", "attempts", "lease_owner", "lease_until",
    ],
);

macro_rules! impl_timer_queries {
    ($conn:ty) => {
        impl TimerQueries for $conn {
            async fn set_timer(&mut self, spec: &TimerSpec, now: i64) -> Result<bool, StoreError> {
                let payload = encode_json(&spec.payload)?;
                let due_at = codec::ms(spec.due_at);
                let incident = spec.incident.map(|n| n.0);
                let select_live = match <Self as Queries>::DIALECT {
                    Dialect::Sqlite => {
                        "SELECT id, incident, due_at, payload FROM timers \
                         WHERE key = $1 AND state IN ('pending', 'claimed')"
                    }
                    Dialect::Postgres => {
                        "SELECT id, incident, due_at, payload FROM timers \
                         WHERE key = $1 AND state IN ('pending', 'claimed') FOR UPDATE"
                    }
                };
                for _ in 0..SET_RETRIES {
                    let live: Option<(i64, Option<i64>, i64, String)> =
                        sqlx::query_as(select_live)
                            .bind(&spec.key)
                            .fetch_optional(&mut *self)
                            .await
                            .map_err(db_err)?;
                    if let Some((id, live_incident, live_due, live_payload)) = live {
                        if live_incident == incident
                            && live_due == due_at
                            && decode_json(&live_payload)? == spec.payload
                        {
                            return Ok(false);
                        }
                        sqlx::query(
                            "UPDATE timers SET state = 'cancelled', cancelled_at = $2 \
                             WHERE id = $1",
                        )
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self)
                        .await
                        .map_err(db_err)?;
                    }
                    // A concurrent transaction may have armed the key meanwhile (PostgreSQL):
                    // then nothing is inserted, and the next round sees its row.
                    let inserted = sqlx::query(
                        "INSERT INTO timers (key, incident, due_at, payload, state, attempts, \
                         created_at) VALUES ($1, $2, $3, $4, 'pending', 0, $5) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&spec.key)
                    .bind(incident)
                    .bind(due_at)
                    .bind(&payload)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                    if inserted == 1 {
                        return Ok(true);
                    }
                }
                Err(StoreError::Unavailable(format!(
                    "timer `{}` kept being set concurrently; try again",
                    spec.key
                )))
            }

            async fn apply_timer_changes(
                &mut self,
                changes: &[&TimerChange],
                now: i64,
                fresh: Option<IncidentNumber>,
            ) -> Result<bool, StoreError> {
                let wanted = final_changes(changes);
                if wanted.is_empty() {
                    return Ok(false);
                }
                // Timers of an incident created in this transaction cannot be armed yet; were
                // one armed anyway, its insert would conflict and take the one-by-one way.
                let unread = fresh.is_some_and(|n| {
                    wanted.iter().all(|(_, spec)| spec.is_some_and(|s| s.incident == Some(n)))
                });
                let live: Vec<(i64, String, Option<i64>, i64, String)> = if unread {
                    Vec::new()
                } else {
                    let keys: Vec<&str> = wanted.iter().map(|(k, _)| *k).collect();
                    sqlx::query_as(dialect(LIVE_SQLITE, LIVE_PG, Self::DIALECT))
                        .bind(serde_json::json!(keys).to_string())
                        .fetch_all(&mut *self)
                        .await
                        .map_err(db_err)?
                };
                let live: HashMap<&str, &(i64, String, Option<i64>, i64, String)> =
                    live.iter().map(|row| (row.1.as_str(), row)).collect();
                let mut cancel = Vec::new();
                let mut arm = Vec::new();
                for (key, spec) in &wanted {
                    let row = live.get(key);
                    if let (Some(spec), Some((_, _, incident, due, payload))) = (spec, row)
                        && *incident == spec.incident.map(|n| n.0)
                        && *due == codec::ms(spec.due_at)
                        && decode_json(payload)? == spec.payload
                    {
                        continue;
                    }
                    if let Some(row) = row {
                        cancel.push(row.0);
                    }
                    if let Some(spec) = spec {
                        arm.push(*spec);
                    }
                }
                if !cancel.is_empty() {
                    sqlx::query(dialect(CANCEL_IDS_SQLITE, CANCEL_IDS_PG, Self::DIALECT))
                        .bind(serde_json::json!(cancel).to_string())
                        .bind(now)
                        .execute(&mut *self)
                        .await
                        .map_err(db_err)?;
                }
                if arm.is_empty() {
                    return Ok(false);
                }
                let mut rows = Vec::with_capacity(arm.len());
                for spec in &arm {
                    rows.push(serde_json::json!([
                        spec.key,
                        spec.incident.map(|n| n.0),
                        codec::ms(spec.due_at),
                        encode_json(&spec.payload)?,
                    ]));
                }
                let armed: Vec<String> =
                    sqlx::query_scalar(dialect(ARM_SQLITE, ARM_PG, Self::DIALECT))
                        .bind(serde_json::Value::Array(rows).to_string())
                        .bind(now)
                        .fetch_all(&mut *self)
                        .await
                        .map_err(db_err)?;
                // A concurrent transaction armed some key since the read (PostgreSQL): those
                // go the one-by-one way, which retries.
                for spec in arm {
                    if !armed.iter().any(|k| *k == spec.key) {
                        self.set_timer(spec, now).await?;
                    }
                }
                Ok(true)
            }

            async fn claim_timers(
                &mut self,
                owner: &str,
                now: i64,
                lease_until: i64,
                limit: u32,
            ) -> Result<Vec<ClaimRow>, StoreError> {
                sqlx::query_as(CLAIM.sql(Self::DIALECT))
                    .bind(owner)
                    .bind(now)
                    .bind(lease_until)
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn lock_timer(
                &mut self,
                id: i64,
            ) -> Result<Option<(String, Option<String>, i64)>, StoreError> {
                let sql = match <Self as Queries>::DIALECT {
                    Dialect::Sqlite => {
                        "SELECT state, lease_owner, attempts FROM timers WHERE id = $1"
                    }
                    Dialect::Postgres => {
                        "SELECT state, lease_owner, attempts FROM timers WHERE id = $1 \
                         FOR UPDATE"
                    }
                };
                sqlx::query_as(sql)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)
            }

            async fn mark_fired(
                &mut self,
                id: i64,
                now: i64,
                by: &str,
                refusal: Option<&str>,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE timers SET state = 'fired', fired_at = $2, fired_by = $3, \
                     refusal = $4 WHERE id = $1 AND state = 'claimed'",
                )
                .bind(id)
                .bind(now)
                .bind(by)
                .bind(refusal)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn next_timer_due(&mut self) -> Result<Option<i64>, StoreError> {
                // A claimed timer becomes claimable again one millisecond after its lease.
                sqlx::query_scalar(
                    "SELECT MIN(t) FROM (\
                         SELECT MIN(due_at) AS t FROM timers WHERE state = 'pending' \
                         UNION ALL \
                         SELECT MIN(lease_until) + 1 AS t FROM timers WHERE state = 'claimed'\
                     ) AS m",
                )
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn timer_rows(
                &mut self,
                key: Option<&str>,
                incident: Option<i64>,
            ) -> Result<Vec<TimerRow>, StoreError> {
                let sql = format!(
                    "SELECT {TIMER_COLUMNS} FROM timers \
                     WHERE ($1 IS NULL OR key = $1) AND ($2 IS NULL OR incident = $2) \
                     ORDER BY id"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(key)
                    .bind(incident)
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)
            }
        }
    };
}

impl_timer_queries!(SqliteConnection);
impl_timer_queries!(PgConnection);

impl Store {
    /// The earliest time a timer becomes claimable: the earliest pending `due_at`, or just
    /// after the earliest lease of a claimed one. `None` when no timer is armed.
    pub async fn next_timer_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due = read!(self, |conn| conn.next_timer_due().await)?;
        due.map(from_ms).transpose()
    }

    /// Claims up to `limit` (at most [`MAX_CLAIM_BATCH`]) timers due at `now` (pending with
    /// `due_at <= now`, or claimed with a lease that ended before `now`), earliest first, for
    /// `owner` until `now + lease`. Concurrent claimers never get the same timer.
    pub async fn claim_due_timers(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedTimer>, StoreError> {
        let Some((now, until, limit)) = claim_window(now, lease, limit) else {
            return Ok(Vec::new());
        };
        let rows = write_tx!(self, |conn| conn
            .claim_timers(owner, now, until, limit)
            .await)?;
        let mut claimed = rows
            .into_iter()
            .map(decode_claim)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|t| (t.due_at, t.id));
        Ok(claimed)
    }

    /// Fires a claimed timer, in one transaction: locks its incident (if any) and the timer
    /// row, checks the claim still holds (else `LostLease` or `Cancelled`, writing nothing),
    /// runs `handle` on the incident, appends its changes (as `actor`), applies its effects
    /// and marks the timer `fired` (by the claim's owner). A refusal from `handle` writes
    /// nothing of it but consumes the timer ([`FireOutcome::Refused`]). Any other error rolls
    /// everything back; the timer is claimed again when its lease ends.
    pub async fn fire_timer<F>(
        &self,
        timer: &ClaimedTimer,
        now: Timestamp,
        handle: F,
        actor: &str,
    ) -> Result<FireOutcome, StoreError>
    where
        F: FnOnce(Option<&Incident>) -> Result<(Vec<Change>, Effects), DomainError> + Send,
    {
        self.fire_timer_inner(timer, now, |incident, _| handle(incident), actor, false)
            .await
    }

    /// [`Store::fire_timer`]; with `with_policy`, the incident's policy state is loaded for
    /// `handle` and written back when it changed (see `policy_state`).
    pub(crate) async fn fire_timer_inner<F>(
        &self,
        timer: &ClaimedTimer,
        now: Timestamp,
        handle: F,
        actor: &str,
        with_policy: bool,
    ) -> Result<FireOutcome, StoreError>
    where
        F: FnOnce(
                Option<&Incident>,
                &mut serde_json::Value,
            ) -> Result<(Vec<Change>, Effects), DomainError>
            + Send,
    {
        let now = to_millis_precision(now);
        let now_ms = codec::ms(now);
        let (outcome, wake) = write_tx!(self, |conn| {
            // The incident before the timer: the order every writer locks in.
            let before = match timer.incident {
                Some(id) => Some(
                    conn.lock_incident(id)
                        .await?
                        .ok_or(StoreError::NotFound(id))?,
                ),
                None => None,
            };
            let Some((state, owner, attempts_)) = conn.lock_timer(timer.id).await? else {
                return Ok((FireOutcome::Cancelled, false));
            };
            match TimerState::parse(&state)? {
                TimerState::Claimed
                    if owner.as_deref() == Some(timer.lease_owner.as_str())
                        && attempts(attempts_) == timer.attempts => {}
                TimerState::Cancelled => return Ok((FireOutcome::Cancelled, false)),
                _ => return Ok((FireOutcome::LostLease, false)),
            }
            let lateness = lateness(now, timer.due_at);
            let mut policy = match &before {
                Some(incident) if with_policy => conn.load_policy_state(incident.id).await?,
                _ => serde_json::Value::Null,
            };
            let original = policy.clone();
            let (changes, effects) = match handle(before.as_ref(), &mut policy) {
                Ok(decided) => decided,
                Err(error) => {
                    conn.mark_fired(
                        timer.id,
                        now_ms,
                        &timer.lease_owner,
                        Some(&error.to_string()),
                    )
                    .await?;
                    return Ok((FireOutcome::Refused { lateness, error }, false));
                }
            };
            let events = match &before {
                Some(before) => {
                    let stamp = effects.stamp(before, now);
                    conn.append_changes(before, stamp, actor, changes, &effects.acted_by)
                        .await?
                        .1
                }
                None if changes.is_empty() => Vec::new(),
                None => {
                    return Err(StoreError::Internal(format!(
                        "timer `{}` has no incident to apply changes to",
                        timer.key
                    )));
                }
            };
            let wake = conn.apply_effects(now_ms, &effects).await?;
            if let Some(incident) = before.as_ref().filter(|_| policy != original) {
                conn.save_policy_state(incident.id, &policy, now_ms).await?;
            }
            conn.mark_fired(timer.id, now_ms, &timer.lease_owner, None)
                .await?;
            Ok((FireOutcome::Fired { lateness, events }, wake))
        })?;
        if wake {
            self.wake.wake();
        }
        Ok(outcome)
    }

    /// Every arming of `key`, oldest first (fired and cancelled ones included).
    pub async fn timers_by_key(&self, key: &str) -> Result<Vec<TimerRecord>, StoreError> {
        let rows = read!(self, |conn| conn.timer_rows(Some(key), None).await)?;
        rows.into_iter().map(decode_record).collect()
    }

    /// Every timer row of an incident, oldest first.
    pub async fn timers_for_incident(
        &self,
        incident: IncidentNumber,
    ) -> Result<Vec<TimerRecord>, StoreError> {
        let rows = read!(self, |conn| conn.timer_rows(None, Some(incident.0)).await)?;
        rows.into_iter().map(decode_record).collect()
    }
}
