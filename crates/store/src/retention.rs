//! Retention: what is only bookkeeping once settled is deleted after an age, so a busy
//! installation's tables stay bounded — delivered outbox items, fired and cancelled timers,
//! resolved alerts' payloads (the alert row stays, its payload becomes `{}`), Slack's
//! seen requests and events, and web UI sessions unused for that long (long dead by then). Each batch is one short write transaction of at most
//! [`PRUNE_BATCH`] rows, so the writer is never held long (on SQLite, other writers queue
//! between batches). The timeline, its brief digests and the audit log are never pruned.

use std::time::Instant;

use muster_core::Timestamp;
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::ms;
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Every table of the schema: both backends have the same ones (`incident_search` is an FTS5
/// table on SQLite, a plain one on PostgreSQL).
pub const TABLES: [&str; 24] = [
    "ack_links",
    "alert_groups",
    "alerts",
    "api_tokens",
    "audit_log",
    "brief_reads",
    "counters",
    "inbox",
    "incident_search",
    "incident_services",
    "incidents",
    "outbox",
    "policy_state",
    "public_incidents",
    "public_updates",
    "schedule_overrides",
    "schedule_versions",
    "silences",
    "slack_channels",
    "slack_seen",
    "timeline",
    "timeline_digests",
    "timers",
    "web_sessions",
];

/// Rows one prune transaction touches at most.
pub const PRUNE_BATCH: u32 = 500;

/// What one [`Store::prune`] removed, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub outbox: u64,
    pub timers: u64,
    pub alert_payloads: u64,
    pub slack_seen: u64,
    pub web_sessions: u64,
}

/// Rows of the tables retention keeps bounded (what an operator watches, what tests bound).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetainedRows {
    pub outbox: u64,
    pub timers: u64,
    /// Resolved alerts that still carry a payload.
    pub alert_payloads: u64,
    pub slack_seen: u64,
    pub web_sessions: u64,
}

/// Each kind's statement: at most `$2` rows settled before `$1` (epoch ms).
const KINDS: [(Kind, &str); 6] = [
    (
        Kind::Outbox,
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
         WHERE state = 'delivered' AND delivered_at < $1 LIMIT $2)",
    ),
    (
        Kind::Timers,
        "DELETE FROM timers WHERE id IN (SELECT id FROM timers \
         WHERE state = 'fired' AND fired_at < $1 LIMIT $2)",
    ),
    (
        Kind::Timers,
        "DELETE FROM timers WHERE id IN (SELECT id FROM timers \
         WHERE state = 'cancelled' AND cancelled_at < $1 LIMIT $2)",
    ),
    (
        Kind::AlertPayloads,
        "UPDATE alerts SET payload = '{}' WHERE id IN (SELECT id FROM alerts \
         WHERE status = 'resolved' AND payload <> '{}' AND resolved_at < $1 LIMIT $2)",
    ),
    (
        Kind::SlackSeen,
        "DELETE FROM slack_seen WHERE key IN (SELECT key FROM slack_seen \
         WHERE seen_at < $1 LIMIT $2)",
    ),
    (
        Kind::WebSessions,
        "DELETE FROM web_sessions WHERE id_hash IN (SELECT id_hash FROM web_sessions \
         WHERE last_seen_at < $1 LIMIT $2)",
    ),
];

#[derive(Clone, Copy)]
enum Kind {
    Outbox,
    Timers,
    AlertPayloads,
    SlackSeen,
    WebSessions,
}

const COUNTS: &str = "SELECT \
    (SELECT COUNT(*) FROM outbox), \
    (SELECT COUNT(*) FROM timers), \
    (SELECT COUNT(*) FROM alerts WHERE status = 'resolved' AND payload <> '{}'), \
    (SELECT COUNT(*) FROM slack_seen), \
    (SELECT COUNT(*) FROM web_sessions)";

/// Statements of retention, per connection type.
trait RetentionQueries {
    async fn prune_batch(
        &mut self,
        sql: &'static str,
        cutoff: i64,
        batch: u32,
    ) -> Result<u64, StoreError>;
    async fn table_rows(&mut self) -> Result<Vec<(&'static str, u64)>, StoreError>;
    async fn retained(&mut self) -> Result<RetainedRows, StoreError>;
}

macro_rules! impl_retention {
    ($conn:ty) => {
        impl RetentionQueries for $conn {
            async fn prune_batch(
                &mut self,
                sql: &'static str,
                cutoff: i64,
                batch: u32,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(sql)
                    .bind(cutoff)
                    .bind(i64::from(batch))
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn table_rows(&mut self) -> Result<Vec<(&'static str, u64)>, StoreError> {
                let mut out = Vec::with_capacity(TABLES.len());
                for table in TABLES {
                    let sql = format!("SELECT COUNT(*) FROM {table}");
                    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .fetch_one(&mut *self)
                        .await
                        .map_err(db_err)?;
                    out.push((table, u64::try_from(n).unwrap_or(0)));
                }
                Ok(out)
            }

            async fn retained(&mut self) -> Result<RetainedRows, StoreError> {
                let (outbox, timers, alert_payloads, slack_seen, web_sessions): (
                    i64,
                    i64,
                    i64,
                    i64,
                    i64,
                ) = sqlx::query_as(COUNTS)
                    .fetch_one(&mut *self)
                    .await
                    .map_err(db_err)?;
                let n = |v: i64| u64::try_from(v).unwrap_or(0);
                Ok(RetainedRows {
                    outbox: n(outbox),
                    timers: n(timers),
                    alert_payloads: n(alert_payloads),
                    slack_seen: n(slack_seen),
                    web_sessions: n(web_sessions),
                })
            }
        }
    };
}

impl_retention!(SqliteConnection);
impl_retention!(PgConnection);

impl Store {
    /// Removes what settled before `cutoff`, batch after batch (each its own transaction of
    /// at most `batch` rows, yielding between them), until nothing older is left.
    pub async fn prune(&self, cutoff: Timestamp, batch: u32) -> Result<Pruned, StoreError> {
        let batch = batch.max(1);
        let cutoff = ms(cutoff);
        let mut pruned = Pruned::default();
        for (kind, sql) in KINDS {
            loop {
                let n = write_tx!(self, |conn| conn.prune_batch(sql, cutoff, batch).await)?;
                match kind {
                    Kind::Outbox => pruned.outbox += n,
                    Kind::Timers => pruned.timers += n,
                    Kind::AlertPayloads => pruned.alert_payloads += n,
                    Kind::SlackSeen => pruned.slack_seen += n,
                    Kind::WebSessions => pruned.web_sessions += n,
                }
                if n < u64::from(batch) {
                    break;
                }
                // Let the writers waiting for the connection in.
                tokio::task::yield_now().await;
            }
        }
        Ok(pruned)
    }

    /// Rows of every table, by name: what a soak test watches for growth.
    pub async fn table_rows(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        read!(self, |conn| conn.table_rows().await)
    }

    /// The rows retention keeps bounded, counted now.
    pub async fn retained_rows(&self) -> Result<RetainedRows, StoreError> {
        read!(self, |conn| conn.retained().await)
    }
}
