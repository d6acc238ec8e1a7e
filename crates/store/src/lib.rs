//! Storage for Muster: one API, two backends (embedded SQLite, PostgreSQL).
//!
//! The store never decides anything: callers pass the core's decision as a closure and the
//! store runs it inside the transaction that holds the incident's lock, so concurrent writers
//! serialise per incident and the timeline stays gap-free and append-only.

mod claim;
mod codec;
mod connect;
mod error;
mod queries;

use std::sync::Arc;
use std::time::{Duration, Instant};

use muster_core::{
    Access, Change, DomainError, Incident, IncidentNumber, Scope, Severity, Status, TimelineEvent,
    Timestamp,
};
use sqlx::postgres::PgPool;
use sqlx::sqlite::SqlitePool;
use sqlx::{PgConnection, SqliteConnection, Transaction};

use crate::codec::token_hash;
use crate::error::db_err;
use crate::queries::Queries;
use crate::wake::WakeShared;

pub use crate::ack_links::{AckLink, LinkState, NewAckLink, NewLinkToken};
pub use crate::alerts::{
    AlertFilter, AlertReactor, AlertRef, DEFAULT_ALERT_LIMIT, EncodedAlert, IncidentAction,
    IngestKind, Ingested, MAX_ALERT_LIMIT, StoredAlert, encode_alert,
};
pub use crate::connect::{IDLE_IN_TRANSACTION_TIMEOUT, LOCK_TIMEOUT};
pub use crate::effects::Effects;
pub use crate::inbox::{
    DEFAULT_INBOX_LIMIT, InboxEntry, InboxFilter, MAX_INBOX_LIMIT, NewInboxEntry,
};
pub use crate::outbox::{ClaimedOutbox, MAX_DEAD_LETTERS, OutboxItem, OutboxRecord, OutboxState};
pub use crate::overrides::{AuditEntry, MAX_AUDIT_ENTRIES, NewOverride, ScheduleOverride};
pub use crate::retention::{PRUNE_BATCH, Pruned, RetainedRows};
pub use crate::silences::Silence;
pub use crate::similar::{Expert, MAX_SIMILAR, SimilarIncident};
pub use crate::slack::SlackChannel;
pub use crate::status_page::{
    MAX_PUBLIC_INCIDENTS, NewPublicUpdate, PublicIncident, PublicUpdate, UpdateState,
};
pub use crate::timers::{
    ClaimedTimer, FireOutcome, MAX_CLAIM_BATCH, TimerChange, TimerRecord, TimerSpec, TimerState,
};
pub use crate::wake::Wakeups;
pub use crate::web_sessions::{NewSession, SessionLimits, WebSession};

/// Incidents listed when the filter gives no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// The most incidents one list call returns.
pub const MAX_LIST_LIMIT: u32 = 500;
/// The most timeline events one `timeline` call returns.
pub const MAX_TIMELINE_LIMIT: u32 = 1000;
/// The events of an incident from a time, whole ([`Store::timeline_since`] on SQLite).
/// In the order the scan finds the rows ([`Store::events_where`] sorts them).
const TIMELINE_SINCE: &str = "SELECT seq, at, actor, kind, data FROM timeline \
     WHERE incident = $1 AND at >= $2";
/// Prefix of every API token secret.
pub const TOKEN_PREFIX: &str = "mus_";
const MAX_TOKEN_NAME_CHARS: usize = 100;
/// Write transactions slower than this are logged at debug level.
const SLOW_WRITE: Duration = Duration::from_millis(500);

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The core refused the command (422/409 at the API).
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("incident {0} not found")]
    NotFound(IncidentNumber),
    /// The database cannot be reached or is overloaded; the caller may retry (503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("invalid database url: {0}")]
    BadUrl(String),
    #[error("storage error: {0}")]
    Internal(String),
}

/// Filters for listing incidents; `None` means any.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub status: Option<Vec<Status>>,
    pub severity: Option<Vec<Severity>>,
    pub service: Option<String>,
    /// Only incidents that are not resolved.
    pub open_only: bool,
    /// Newest first; at most this many (capped at 500).
    pub limit: Option<u32>,
    /// Only incidents with a number below this (keyset pagination, newest first).
    pub before: Option<IncidentNumber>,
}

/// An API token as the server sees it after authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenOwner {
    pub name: String,
    pub access: Access,
    /// The teams it may write for.
    pub scope: Scope,
}

/// An API token as listed for admins: never its secret nor its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub name: String,
    pub access: Access,
    pub created_at: Timestamp,
    /// When it stops authenticating; `None`: never.
    pub expires_at: Option<Timestamp>,
    pub scope: Scope,
}

/// Number of incidents per (status, severity), for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCount {
    pub status: Status,
    pub severity: Severity,
    pub count: i64,
}

/// The storage handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    /// Wake-ups of the schedulers using this store (see `wake`).
    wake: Arc<WakeShared>,
}

#[derive(Clone, Debug)]
enum Backend {
    /// One writer connection (writes queue in the pool, never meet SQLITE_BUSY inside this
    /// process) and a few readers (WAL lets them read while the writer writes).
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

/// Runs `$body` with `$conn` bound to a read connection of whichever backend the store uses;
/// the body is compiled once per backend, so its SQL is written once.
macro_rules! read {
    ($store:expr, |$conn:ident| $body:expr) => {
        match &$store.backend {
            Backend::Sqlite { reader, .. } => {
                let mut pooled = reader.acquire().await.map_err(db_err)?;
                let $conn: &mut SqliteConnection = &mut pooled;
                $body
            }
            Backend::Postgres(pool) => {
                let mut pooled = pool.acquire().await.map_err(db_err)?;
                let $conn: &mut PgConnection = &mut pooled;
                $body
            }
        }
    };
}

/// Runs `$body` (an expression of type `Result<T, StoreError>`) inside a write transaction
/// and commits when it returns `Ok`, rolls back otherwise. On SQLite the transaction is
/// `BEGIN IMMEDIATE` on the single writer connection, so it excludes every other writer.
macro_rules! write_tx {
    ($store:expr, |$conn:ident| $body:expr) => {{
        let started = Instant::now();
        let result = match &$store.backend {
            Backend::Sqlite { writer, .. } => {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
                let result = {
                    let $conn: &mut SqliteConnection = &mut tx;
                    async move { $body }.await
                };
                finish(tx, result).await
            }
            Backend::Postgres(pool) => {
                // READ COMMITTED whatever the server's default: the row locks taken inside
                // serialise writers, and a stricter level would only add retryable failures.
                let mut tx = pool
                    .begin_with("BEGIN ISOLATION LEVEL READ COMMITTED")
                    .await
                    .map_err(db_err)?;
                let result = {
                    let $conn: &mut PgConnection = &mut tx;
                    async move { $body }.await
                };
                finish(tx, result).await
            }
        };
        let elapsed = started.elapsed();
        if elapsed > SLOW_WRITE {
            tracing::debug!(
                elapsed_ms = elapsed.as_millis() as u64,
                "slow write transaction"
            );
        }
        result
    }};
}

// Declared after the macros above, which they use.
mod ack_links;
mod alert_batch;
mod alerts;
mod brief_digests;
mod brief_reads;
mod commands;
mod effects;
mod exercises;
mod inbox;
mod outbox;
mod overrides;
mod policy_state;
mod retention;
mod schedule_versions;
mod silences;
mod similar;
mod slack;
mod sqlite_direct;
mod sqlite_update;
mod status_page;
mod timers;
mod wake;
mod wal_gather;
mod web_sessions;

async fn finish<DB: sqlx::Database, T>(
    tx: Transaction<'static, DB>,
    result: Result<T, StoreError>,
) -> Result<T, StoreError> {
    match result {
        Ok(value) => {
            tx.commit().await.map_err(db_err)?;
            Ok(value)
        }
        Err(e) => {
            if let Err(rollback) = tx.rollback().await {
                tracing::debug!(error = %rollback, "rollback failed; the connection is discarded");
            }
            Err(e)
        }
    }
}

impl Store {
    /// Opens `sqlite://PATH` (folders and file created, WAL) or `postgres://…`, and applies
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let wake = WakeShared::new();
        let backend = match connect::parse_url(url)? {
            connect::Target::Sqlite(path) => {
                let pools = connect::open_sqlite(&path).await?;
                tracing::debug!(path = %path.display(), "opened SQLite database");
                tokio::spawn(connect::checkpoint_wal(
                    pools.reader.clone(),
                    wake.stopped(),
                ));
                Backend::Sqlite {
                    writer: pools.writer,
                    reader: pools.reader,
                }
            }
            connect::Target::Postgres(options) => {
                let pool = connect::open_postgres(*options).await?;
                tracing::debug!("opened PostgreSQL database");
                Backend::Postgres(pool)
            }
        };
        Ok(Store { backend, wake })
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes every connection, waiting for those in use to come back. Calls made afterwards
    /// fail with `Unavailable`.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        read!(self, |conn| conn.ping().await)
    }

    /// Succeeds when the database takes a write: a write transaction (on SQLite the single
    /// writer's `BEGIN IMMEDIATE`, which waits for another process's write lock up to the busy
    /// timeout) running a statement that changes no row. Fails on a read-only database (a
    /// PostgreSQL standby or `default_transaction_read_only`, a read-only SQLite file) or
    /// one whose write lock is held elsewhere.
    pub async fn ping_write(&self) -> Result<(), StoreError> {
        write_tx!(self, |conn| conn.write_probe().await)
    }

    /// Allocates the next incident number and writes the declaring changes (from
    /// `muster_core::declare`) as its first timeline events.
    pub async fn declare(
        &self,
        actor: &str,
        now: Timestamp,
        changes: Vec<Change>,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError> {
        self.declare_with_effects(actor, now, changes, |_| Effects::default())
            .await
    }

    /// Locks the incident, runs `decide` on its current state, appends the changes it returns
    /// and updates the snapshot, all in one transaction. Returns the new state and the events
    /// appended (possibly none).
    pub async fn update<F>(
        &self,
        id: IncidentNumber,
        actor: &str,
        now: Timestamp,
        decide: F,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError>
    where
        F: FnOnce(&Incident) -> Result<Vec<Change>, DomainError> + Send,
    {
        self.update_with_effects(id, actor, now, |incident| {
            decide(incident).map(|changes| (changes, Effects::default()))
        })
        .await
    }

    pub async fn incident(&self, id: IncidentNumber) -> Result<Option<Incident>, StoreError> {
        read!(self, |conn| conn.load_incident(id).await)
    }

    /// Newest first. See [`IncidentFilter`]; the limit defaults to [`DEFAULT_LIST_LIMIT`] and
    /// is capped at [`MAX_LIST_LIMIT`].
    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<Incident>, StoreError> {
        read!(self, |conn| conn.list(filter).await)
    }

    /// Every incident, oldest first, read a page of [`MAX_LIST_LIMIT`] at a time (replay and
    /// staffing read whole histories).
    pub async fn every_incident(&self) -> Result<Vec<Incident>, StoreError> {
        let mut all = Vec::new();
        let mut before = None;
        loop {
            let filter = IncidentFilter {
                limit: Some(MAX_LIST_LIMIT),
                before,
                ..Default::default()
            };
            let page = self.list_incidents(&filter).await?;
            let Some(last) = page.last() else { break };
            before = Some(last.id);
            all.extend(page);
        }
        all.reverse();
        Ok(all)
    }

    /// Timeline events with `seq > after`, oldest first, at most `limit` (capped at
    /// [`MAX_TIMELINE_LIMIT`]). `NotFound` when the incident does not exist.
    pub async fn timeline(
        &self,
        id: IncidentNumber,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let limit = limit.min(MAX_TIMELINE_LIMIT);
        read!(self, |conn| {
            let events = conn.timeline(id, after, i64::MIN, limit).await?;
            if events.is_empty() && !conn.incident_exists(id).await? {
                return Err(StoreError::NotFound(id));
            }
            Ok(events)
        })
    }

    /// Every event of `id` at or after `since` (`None`: the whole timeline), oldest first:
    /// what a briefing, a report or a drill's score folds; empty for an unknown incident.
    /// One consistent read: on SQLite one statement stepped directly (sqlx hands each row
    /// across threads, which cost five times SQLite's own work on a 10,000-event timeline);
    /// on PostgreSQL one statement (pages of [`MAX_TIMELINE_LIMIT`] in a transaction cost
    /// seven round trips for 5,000 events).
    pub async fn timeline_since(
        &self,
        id: IncidentNumber,
        since: Option<Timestamp>,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let since_ms = since.map_or(i64::MIN, codec::ms);
        self.events_where(TIMELINE_SINCE, &[id.0, since_ms]).await
    }

    /// The timeline events a query selects (`seq, at, actor, kind, data`, integer parameters
    /// only), in `seq` order. One statement: one snapshot, one round trip. Sorted here, not by
    /// the database: rows come from the `(incident, at)` or primary-key scan almost in `seq`
    /// order, which costs this sort next to nothing and PostgreSQL's sort a third of its time
    /// (BENCHMARKS.md, "Brief me" on PostgreSQL).
    pub(crate) async fn events_where(
        &self,
        sql: &'static str,
        params: &[i64],
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let mut events = match &self.backend {
            Backend::Sqlite { reader, .. } => {
                let mut conn = reader.acquire().await.map_err(db_err)?;
                let direct = sqlite_direct::Direct::lock(&mut conn).await?;
                let mut stmt = direct.prepare(sql)?;
                let params: Vec<_> = params
                    .iter()
                    .map(|p| sqlite_direct::Param::Int(*p))
                    .collect();
                let rows = stmt.query(&params, |r| {
                    Ok((r.int(0), r.int(1), r.text(2)?, r.text(3)?, r.text(4)?))
                })?;
                rows.into_iter()
                    .map(codec::decode_event)
                    .collect::<Result<Vec<_>, _>>()?
            }
            Backend::Postgres(pool) => {
                let mut query = sqlx::query_as::<_, codec::EventRow>(sql);
                for p in params {
                    query = query.bind(*p);
                }
                let rows = query.fetch_all(pool).await.map_err(db_err)?;
                rows.into_iter()
                    .map(codec::decode_event)
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    pub async fn incident_counts(&self) -> Result<Vec<IncidentCount>, StoreError> {
        read!(self, |conn| conn.counts().await)
    }

    /// Creates an API token and returns its secret, which is stored only as a SHA-256 hash.
    /// The secret is `mus_` and 64 hex digits (32 random bytes). Names are unique among
    /// tokens that are not revoked: a second one is refused with a `Conflict`.
    pub async fn create_token(
        &self,
        name: &str,
        access: Access,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        self.create_token_expiring(name, access, now, None).await
    }

    /// [`Store::create_token`] for a token that stops authenticating at `expires_at`, which
    /// must be after `now`.
    pub async fn create_token_expiring(
        &self,
        name: &str,
        access: Access,
        now: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<String, StoreError> {
        self.create_scoped_token(name, access, now, expires_at, &Scope::All)
            .await
    }

    /// [`Store::create_token_expiring`] for a token limited to `scope`'s teams. Team ids are
    /// checked against the configuration by the caller; here only their form (no comma, the
    /// column's separator).
    pub async fn create_scoped_token(
        &self,
        name: &str,
        access: Access,
        now: Timestamp,
        expires_at: Option<Timestamp>,
        scope: &Scope,
    ) -> Result<String, StoreError> {
        let name = valid_token_name(name)?;
        if let Some(bad) = scope
            .team_list()
            .into_iter()
            .flatten()
            .find(|t| t.contains(',') || t.trim().is_empty() || t.chars().any(char::is_control))
        {
            return Err(StoreError::Domain(DomainError::Invalid {
                field: "teams".into(),
                reason: format!("`{bad}` is not a team id"),
            }));
        }
        let teams = codec::encode_scope(scope);
        if expires_at.is_some_and(|e| e <= now) {
            return Err(StoreError::Domain(DomainError::Invalid {
                field: "expires_at".into(),
                reason: "must be in the future".into(),
            }));
        }
        let token = new_token_secret();
        let hash = token_hash(&token);
        let created_at = codec::ms(now);
        let expires_at = expires_at.map(codec::ms);
        write_tx!(self, |conn| {
            match conn
                .insert_token(
                    name,
                    access.as_str(),
                    &hash,
                    created_at,
                    expires_at,
                    teams.as_deref(),
                )
                .await
            {
                Ok(()) => Ok(()),
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                    Err(StoreError::Domain(DomainError::Conflict(format!(
                        "a token named `{name}` already exists; revoke it first"
                    ))))
                }
                Err(e) => Err(db_err(e)),
            }
        })?;
        Ok(token)
    }

    /// The owner of a presented token, if it is known, not revoked and not expired at `now`.
    /// Read from the database on every call (no cache), so a revocation or an expiry holds
    /// on every node from the next request.
    pub async fn authenticate(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<TokenOwner>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let now = codec::ms(now);
        read!(self, |conn| conn.token_owner(&hash, now).await)
    }

    /// Revokes the token with this name; `false` when there is no such (unrevoked) token.
    pub async fn revoke_token(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let at = codec::ms(now);
        write_tx!(self, |conn| conn.revoke_token(name, at).await)
    }

    /// Tokens that are not revoked (expired ones included, with their `expires_at`), by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        read!(self, |conn| conn.tokens().await)
    }
}

fn valid_token_name(name: &str) -> Result<&str, StoreError> {
    let name = name.trim();
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.chars().count() > MAX_TOKEN_NAME_CHARS {
        "at most 100 characters"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(name);
    };
    Err(StoreError::Domain(DomainError::Invalid {
        field: "name".into(),
        reason: reason.into(),
    }))
}

fn new_token_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// Compile-time check: the server spawns these futures, so they must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(store: &Store) {
    fn is_send<T: Send>(_: &T) {}
    is_send(
        &store.update(IncidentNumber(1), "a", Timestamp::UNIX_EPOCH, |_| {
            Ok(vec![])
        }),
    );
    is_send(&store.declare("a", Timestamp::UNIX_EPOCH, vec![]));
    is_send(&store.list_incidents(&IncidentFilter::default()));
    is_send(&store.timeline(IncidentNumber(1), 0, 10));
    is_send(&store.create_token("n", Access::Viewer, Timestamp::UNIX_EPOCH));
    is_send(&store.authenticate("t", Timestamp::UNIX_EPOCH));
    is_send(&store.incident_counts());
    is_send(&Store::connect("sqlite://x"));
    is_send(
        &store.update_with_effects(IncidentNumber(1), "a", Timestamp::UNIX_EPOCH, |_| {
            Ok((vec![], Effects::default()))
        }),
    );
    is_send(
        &store.declare_with_effects("a", Timestamp::UNIX_EPOCH, vec![], |_| Effects::default()),
    );
    let effects = Effects::default();
    is_send(&store.apply_effects(Timestamp::UNIX_EPOCH, &effects));
    is_send(&store.claim_due_timers("o", Timestamp::UNIX_EPOCH, Duration::ZERO, 1));
    is_send(&store.next_timer_due());
    let timer = ClaimedTimer {
        id: 1,
        key: "k".into(),
        incident: None,
        due_at: Timestamp::UNIX_EPOCH,
        payload: serde_json::Value::Null,
        attempts: 1,
        lease_owner: "o".into(),
        lease_until: Timestamp::UNIX_EPOCH,
    };
    is_send(&store.fire_timer(
        &timer,
        Timestamp::UNIX_EPOCH,
        |_| Ok((vec![], Effects::default())),
        "a",
    ));
    is_send(&store.claim_outbox("o", Timestamp::UNIX_EPOCH, Duration::ZERO, 1));
    is_send(&store.outbox_delivered(1, "o", Timestamp::UNIX_EPOCH));
    is_send(&store.outbox_failed(1, "o", Timestamp::UNIX_EPOCH, "e", None));
    is_send(&store.outbox_for_incident(IncidentNumber(1)));
    is_send(&store.dead_letters(1));
    is_send(&store.timers_by_key("k"));
    is_send(&store.wakeups());
}
