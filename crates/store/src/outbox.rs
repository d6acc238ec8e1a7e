//! The transactional outbox: effects (page, notify, nudge…) queued in the transaction that
//! decided them and delivered at least once by whoever claims them, made idempotent by their
//! keys. An item whose key is already queued (in any state) is not queued again, so re-running
//! a decision never pages twice.
//!
//! States: `queued` → `claimed` (leased to one owner) → `delivered`, or `failed` (claimable
//! again at `next_attempt_at`), or `dead` (no more attempts; see [`Store::dead_letters`]). A
//! claim whose lease ended is claimable again. A claim not attempted goes back to `queued`
//! (see [`Store::outbox_defer`]).

use std::time::{Duration, Instant};

use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::claim::{LeasedClaim, leased_claim};
use crate::codec::{self, from_ms};
use crate::effects::{decode_json, encode_json};
use crate::error::{corrupt, db_err};
use crate::queries::{Dialect, Queries};
use crate::timers::claim_window;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// The longest error text kept per item, in characters.
const MAX_ERROR_CHARS: usize = 2000;
/// The most records one `dead_letters` call returns.
pub const MAX_DEAD_LETTERS: u32 = 1000;

/// An effect to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    /// Deterministic (derived from the decision), unique: queuing a known key is a no-op.
    pub idempotency_key: String,
    pub incident: Option<IncidentNumber>,
    /// What to do, e.g. "page", "notify".
    pub effect: String,
    pub payload: serde_json::Value,
}

/// An item claimed for delivery by one owner.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedOutbox {
    pub id: i64,
    pub idempotency_key: String,
    pub incident: Option<IncidentNumber>,
    pub effect: String,
    pub payload: serde_json::Value,
    /// Delivery attempts so far, this one included.
    pub attempts: u32,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Queued,
    Claimed,
    Delivered,
    /// Failed; claimable again at `next_attempt_at`.
    Failed,
    /// Failed for good.
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Claimed => "claimed",
            OutboxState::Delivered => "delivered",
            OutboxState::Failed => "failed",
            OutboxState::Dead => "dead",
        }
    }

    fn parse(s: &str) -> Result<OutboxState, StoreError> {
        Ok(match s {
            "queued" => OutboxState::Queued,
            "claimed" => OutboxState::Claimed,
            "delivered" => OutboxState::Delivered,
            "failed" => OutboxState::Failed,
            "dead" => OutboxState::Dead,
            other => return Err(corrupt("outbox state", other)),
        })
    }
}

/// An outbox row, whole.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRecord {
    pub id: i64,
    pub idempotency_key: String,
    pub incident: Option<IncidentNumber>,
    pub effect: String,
    pub payload: serde_json::Value,
    pub state: OutboxState,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub delivered_at: Option<Timestamp>,
}

type ClaimRow = (i64, String, Option<i64>, String, String, i64, i64);

type OutboxRow = (
    i64,
    String,
    Option<i64>,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const OUTBOX_COLUMNS: &str = "id, idempotency_key, incident, effect, payload, state, attempts, \
                              created_at, updated_at, next_attempt_at, lease_owner, \
                              lease_until, last_error, delivered_at";

fn attempts(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

fn decode_claim(row: ClaimRow) -> Result<ClaimedOutbox, StoreError> {
    let (id, idempotency_key, incident, effect, payload, attempts_, created_at) = row;
    Ok(ClaimedOutbox {
        id,
        idempotency_key,
        incident: incident.map(IncidentNumber),
        effect,
        payload: decode_json(&payload)?,
        attempts: attempts(attempts_),
        created_at: from_ms(created_at)?,
    })
}

fn decode_record(row: OutboxRow) -> Result<OutboxRecord, StoreError> {
    let (
        id,
        idempotency_key,
        incident,
        effect,
        payload,
        state,
        attempts_,
        created_at,
        updated_at,
        next_attempt_at,
        lease_owner,
        lease_until,
        last_error,
        delivered_at,
    ) = row;
    Ok(OutboxRecord {
        id,
        idempotency_key,
        incident: incident.map(IncidentNumber),
        effect,
        payload: decode_json(&payload)?,
        state: OutboxState::parse(&state)?,
        attempts: attempts(attempts_),
        created_at: from_ms(created_at)?,
        updated_at: from_ms(updated_at)?,
        next_attempt_at: from_ms(next_attempt_at)?,
        lease_owner,
        lease_until: lease_until.map(from_ms).transpose()?,
        last_error,
        delivered_at: delivered_at.map(from_ms).transpose()?,
    })
}

/// Which outbox rows to read.
pub(crate) enum OutboxFilter<'a> {
    Incident(i64),
    Dead(u32),
    Key(&'a str),
}

/// The outbox statements, per connection type (see [`Queries`]).
pub(crate) trait OutboxQueries {
    /// Queues each item whose key is not known yet, in order, with one statement; returns
    /// whether any was queued.
    async fn insert_outbox(&mut self, items: &[OutboxItem], now: i64) -> Result<bool, StoreError>;
    async fn claim_outbox(
        &mut self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<ClaimRow>, StoreError>;
    /// Moves a row claimed by `owner` to `state`; returns whether it was.
    async fn settle_outbox(
        &mut self,
        id: i64,
        owner: &str,
        now: i64,
        settle: Settle<'_>,
    ) -> Result<bool, StoreError>;
    async fn next_outbox_due(&mut self) -> Result<Option<i64>, StoreError>;
    async fn outbox_rows(&mut self, filter: OutboxFilter<'_>)
    -> Result<Vec<OutboxRow>, StoreError>;
}

/// How a claimed item ends its attempt.
#[derive(Clone, Copy)]
pub(crate) enum Settle<'a> {
    Delivered,
    Retry {
        error: &'a str,
        at: i64,
    },
    Dead {
        error: &'a str,
    },
    /// Not attempted (waiting for a rule step or a rate limit): queued again for `at`, and
    /// the claim's attempt is given back.
    Defer {
        at: i64,
    },
}

/// Items `[[key, incident, effect, payload], …]` queued by one statement, in order (ids give
/// the delivery order). `WHERE true`: SQLite's parser needs it before an upsert clause.
const INSERT_SQLITE: &str = "INSERT INTO outbox (idempotency_key, incident, effect, payload, \
     state, attempts, created_at, updated_at, next_attempt_at) \
     SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3, 'queued', 0, $2, $2, $2 \
     FROM json_each($1) e WHERE true ORDER BY e.key \
     ON CONFLICT (idempotency_key) DO NOTHING";
const INSERT_PG: &str = "INSERT INTO outbox (idempotency_key, incident, effect, payload, \
     state, attempts, created_at, updated_at, next_attempt_at) \
     SELECT e ->> 0, (e ->> 1)::bigint, e ->> 2, e ->> 3, 'queued', 0, $2, $2, $2 \
     FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS r(e, n) ORDER BY r.n \
     ON CONFLICT (idempotency_key) DO NOTHING";

/// Claims deliverable items; a claimed row answers a [`ClaimRow`].
pub(crate) const CLAIM: LeasedClaim = leased_claim!(
    table: "outbox",
    ready: "state IN ('queued', 'failed')",
    due: "next_attempt_at",
    also_set: ", updated_at = $2",
    returning: [
        "id", "idempotency_key", "incident", "effect", "payload", "attempts", "created_at",
    ],
);

macro_rules! impl_outbox_queries {
    ($conn:ty) => {
        impl OutboxQueries for $conn {
            async fn insert_outbox(
                &mut self,
                items: &[OutboxItem],
                now: i64,
            ) -> Result<bool, StoreError> {
                if items.is_empty() {
                    return Ok(false);
                }
                let mut rows = Vec::with_capacity(items.len());
                for item in items {
                    rows.push(serde_json::json!([
                        item.idempotency_key,
                        item.incident.map(|n| n.0),
                        item.effect,
                        encode_json(&item.payload)?,
                    ]));
                }
                let sql = match <Self as Queries>::DIALECT {
                    Dialect::Sqlite => INSERT_SQLITE,
                    Dialect::Postgres => INSERT_PG,
                };
                let inserted = sqlx::query(sql)
                    .bind(serde_json::Value::Array(rows).to_string())
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                Ok(inserted > 0)
            }

            async fn claim_outbox(
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

            async fn settle_outbox(
                &mut self,
                id: i64,
                owner: &str,
                now: i64,
                settle: Settle<'_>,
            ) -> Result<bool, StoreError> {
                let sql = match settle {
                    Settle::Delivered => {
                        "UPDATE outbox SET state = 'delivered', delivered_at = $3, \
                         updated_at = $3, last_error = NULL \
                         WHERE id = $1 AND state = 'claimed' AND lease_owner = $2"
                    }
                    Settle::Retry { .. } => {
                        "UPDATE outbox SET state = 'failed', next_attempt_at = $5, \
                         updated_at = $3, last_error = $4 \
                         WHERE id = $1 AND state = 'claimed' AND lease_owner = $2"
                    }
                    Settle::Dead { .. } => {
                        "UPDATE outbox SET state = 'dead', updated_at = $3, last_error = $4 \
                         WHERE id = $1 AND state = 'claimed' AND lease_owner = $2"
                    }
                    Settle::Defer { .. } => {
                        "UPDATE outbox SET state = 'queued', next_attempt_at = $4, \
                         updated_at = $3, attempts = CASE WHEN attempts > 0 \
                         THEN attempts - 1 ELSE 0 END \
                         WHERE id = $1 AND state = 'claimed' AND lease_owner = $2"
                    }
                };
                let mut query = sqlx::query(sql).bind(id).bind(owner).bind(now);
                match settle {
                    Settle::Delivered => {}
                    Settle::Retry { error, at } => query = query.bind(error).bind(at),
                    Settle::Dead { error } => query = query.bind(error),
                    Settle::Defer { at } => query = query.bind(at),
                }
                let settled = query
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?
                    .rows_affected();
                Ok(settled == 1)
            }

            async fn next_outbox_due(&mut self) -> Result<Option<i64>, StoreError> {
                sqlx::query_scalar(
                    "SELECT MIN(t) FROM (\
                         SELECT MIN(next_attempt_at) AS t FROM outbox \
                             WHERE state IN ('queued', 'failed') \
                         UNION ALL \
                         SELECT MIN(lease_until) + 1 AS t FROM outbox WHERE state = 'claimed'\
                     ) AS m",
                )
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)
            }

            async fn outbox_rows(
                &mut self,
                filter: OutboxFilter<'_>,
            ) -> Result<Vec<OutboxRow>, StoreError> {
                let query = match filter {
                    OutboxFilter::Incident(incident) => sqlx::query_as(sqlx::AssertSqlSafe(
                        format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE incident = $1 ORDER BY id"),
                    ))
                    .bind(incident),
                    OutboxFilter::Dead(limit) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'dead' \
                         ORDER BY id LIMIT $1"
                    )))
                    .bind(i64::from(limit)),
                    OutboxFilter::Key(key) => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE idempotency_key = $1"
                    )))
                    .bind(key.to_string()),
                };
                query.fetch_all(&mut *self).await.map_err(db_err)
            }
        }
    };
}

impl_outbox_queries!(SqliteConnection);
impl_outbox_queries!(PgConnection);

/// `error`, cut to [`MAX_ERROR_CHARS`].
fn clip(error: &str) -> &str {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((cut, _)) => &error[..cut],
        None => error,
    }
}

impl Store {
    /// Claims up to `limit` (at most 1000) items deliverable at `now` (queued or failed with
    /// `next_attempt_at <= now`, or claimed with a lease that ended before `now`), oldest
    /// first, for `owner` until `now + lease`. Concurrent claimers never get the same item.
    pub async fn claim_outbox(
        &self,
        owner: &str,
        now: Timestamp,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<ClaimedOutbox>, StoreError> {
        let Some((now, until, limit)) = claim_window(now, lease, limit) else {
            return Ok(Vec::new());
        };
        let rows = write_tx!(self, |conn| conn
            .claim_outbox(owner, now, until, limit)
            .await)?;
        let mut claimed = rows
            .into_iter()
            .map(decode_claim)
            .collect::<Result<Vec<_>, _>>()?;
        claimed.sort_by_key(|c| c.id);
        Ok(claimed)
    }

    /// Records the delivery of an item `owner` claimed. `false` (and nothing written) when the
    /// claim is no longer `owner`'s.
    pub async fn outbox_delivered(
        &self,
        id: i64,
        owner: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = codec::ms(now);
        write_tx!(self, |conn| conn
            .settle_outbox(id, owner, now, Settle::Delivered)
            .await)
    }

    /// [`Store::outbox_delivered`] for many items in one transaction (a group commit of the
    /// deliverer's settles); returns the ids that were still `owner`'s and are now delivered.
    pub async fn outbox_delivered_many(
        &self,
        ids: &[i64],
        owner: &str,
        now: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = codec::ms(now);
        write_tx!(self, |conn| {
            let mut settled = Vec::with_capacity(ids.len());
            for &id in ids {
                if conn
                    .settle_outbox(id, owner, now, Settle::Delivered)
                    .await?
                {
                    settled.push(id);
                }
            }
            Ok(settled)
        })
    }

    /// Records a failed attempt of an item `owner` claimed: claimable again at `retry_at`, or
    /// a dead letter when `None`. `false` (and nothing written) when the claim is no longer
    /// `owner`'s.
    pub async fn outbox_failed(
        &self,
        id: i64,
        owner: &str,
        now: Timestamp,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        let now = codec::ms(now);
        let error = clip(error);
        let settle = match retry_at {
            Some(at) => Settle::Retry {
                error,
                at: codec::ms(at),
            },
            None => Settle::Dead { error },
        };
        write_tx!(self, |conn| conn
            .settle_outbox(id, owner, now, settle)
            .await)
    }

    /// Gives back a claim of `owner` that was not attempted (a later notification-rule step,
    /// or a rate limit without tokens): queued again for `at`, its attempt count as before
    /// the claim, so waiting never uses up retries. `false` (and nothing written) when the
    /// claim is no longer `owner`'s.
    pub async fn outbox_defer(
        &self,
        id: i64,
        owner: &str,
        now: Timestamp,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let (now, at) = (codec::ms(now), codec::ms(at));
        write_tx!(self, |conn| conn
            .settle_outbox(id, owner, now, Settle::Defer { at })
            .await)
    }

    /// The earliest time an item becomes claimable; `None` when nothing is left to deliver.
    pub async fn next_outbox_due(&self) -> Result<Option<Timestamp>, StoreError> {
        let due = read!(self, |conn| conn.next_outbox_due().await)?;
        due.map(from_ms).transpose()
    }

    /// Every item of an incident, oldest first.
    pub async fn outbox_for_incident(
        &self,
        incident: IncidentNumber,
    ) -> Result<Vec<OutboxRecord>, StoreError> {
        let rows = read!(self, |conn| conn
            .outbox_rows(OutboxFilter::Incident(incident.0))
            .await)?;
        rows.into_iter().map(decode_record).collect()
    }

    /// The item with this key, if queued ever.
    pub async fn outbox_by_key(&self, key: &str) -> Result<Option<OutboxRecord>, StoreError> {
        let rows = read!(self, |conn| conn.outbox_rows(OutboxFilter::Key(key)).await)?;
        rows.into_iter().next().map(decode_record).transpose()
    }

    /// Dead letters, oldest first, at most `limit` (capped at [`MAX_DEAD_LETTERS`]).
    pub async fn dead_letters(&self, limit: u32) -> Result<Vec<OutboxRecord>, StoreError> {
        let limit = limit.min(MAX_DEAD_LETTERS);
        let rows = read!(self, |conn| conn
            .outbox_rows(OutboxFilter::Dead(limit))
            .await)?;
        rows.into_iter().map(decode_record).collect()
    }
}
