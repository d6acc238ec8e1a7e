//! The inbox: the built-in notification channel that always exists. A notification that no
//! configured provider (Slack, email, SMS, webhook) can carry lands in its recipient's inbox,
//! and a configuration may copy every notification there. Entries are keyed by the delivery's
//! idempotency key, so a delivery retried after a crash is stored once.

use std::time::Instant;

use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Entries listed when the filter gives no limit.
pub const DEFAULT_INBOX_LIMIT: u32 = 100;
/// The most entries one list call returns.
pub const MAX_INBOX_LIMIT: u32 = 1000;

/// A notification kept in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    pub id: i64,
    /// The delivery's idempotency key.
    pub key: String,
    pub incident: Option<IncidentNumber>,
    /// The person id, when the recipient is a person.
    pub person: Option<String>,
    /// The recipient as shown: `person:alice`, `#payments`, `legal@example.com`, `alias:pr`.
    pub recipient: String,
    pub subject: String,
    pub text: String,
    /// Why it is here, e.g. "no configured provider reaches them".
    pub reason: String,
    pub created_at: Timestamp,
}

/// An entry to store (see [`InboxEntry`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInboxEntry {
    pub key: String,
    pub incident: Option<IncidentNumber>,
    pub person: Option<String>,
    pub recipient: String,
    pub subject: String,
    pub text: String,
    pub reason: String,
}

/// Which entries to list; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub person: Option<String>,
    pub incident: Option<IncidentNumber>,
    /// Newest first; at most this many (default [`DEFAULT_INBOX_LIMIT`], capped at
    /// [`MAX_INBOX_LIMIT`]).
    pub limit: Option<u32>,
}

/// (id, key, incident, person, recipient, subject, text, reason, created_at)
type InboxRow = (
    i64,
    String,
    Option<i64>,
    Option<String>,
    String,
    String,
    String,
    String,
    i64,
);

fn decode(row: InboxRow) -> Result<InboxEntry, StoreError> {
    let (id, key, incident, person, recipient, subject, text, reason, created_at) = row;
    Ok(InboxEntry {
        id,
        key,
        incident: incident.map(IncidentNumber),
        person,
        recipient,
        subject,
        text,
        reason,
        created_at: from_ms(created_at)?,
    })
}

/// The list statement for `filter`, placeholders numbered in the order the present filters
/// are bound (person, incident, limit). An absent filter is left out of the text rather than
/// written `$1 IS NULL OR …`, which would hide the indexes from PostgreSQL's generic plans.
fn list_sql(filter: &InboxFilter) -> String {
    let mut sql = String::from(
        "SELECT id, key, incident, person, recipient, subject, text, reason, created_at \
         FROM inbox",
    );
    let mut n = 0;
    let mut clauses = Vec::new();
    if filter.person.is_some() {
        n += 1;
        clauses.push(format!("person = ${n}"));
    }
    if filter.incident.is_some() {
        n += 1;
        clauses.push(format!("incident = ${n}"));
    }
    if !clauses.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&clauses.join(" AND "));
    }
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT ${}",
        n + 1
    ));
    sql
}

fn effective_limit(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_INBOX_LIMIT).min(MAX_INBOX_LIMIT)
}

/// The inbox statements, per connection type: `insert_inbox` may run inside another
/// transaction (e.g. the one settling the delivery it stands for).
pub(crate) trait InboxQueries {
    /// Stores `entry` unless its key is known; returns whether it was stored.
    async fn insert_inbox(&mut self, entry: &NewInboxEntry, now: i64) -> Result<bool, StoreError>;
    async fn inbox_rows(
        &mut self,
        filter: &InboxFilter,
        limit: u32,
    ) -> Result<Vec<InboxRow>, StoreError>;
}

macro_rules! impl_inbox_queries {
    ($conn:ty) => {
        impl InboxQueries for $conn {
            async fn insert_inbox(
                &mut self,
                entry: &NewInboxEntry,
                now: i64,
            ) -> Result<bool, StoreError> {
                let inserted = sqlx::query(
                    "INSERT INTO inbox (key, incident, person, recipient, subject, text, \
                     reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(&entry.key)
                .bind(entry.incident.map(|n| n.0))
                .bind(&entry.person)
                .bind(&entry.recipient)
                .bind(&entry.subject)
                .bind(&entry.text)
                .bind(&entry.reason)
                .bind(now)
                .execute(&mut *self)
                .await
                .map_err(db_err)?
                .rows_affected();
                Ok(inserted == 1)
            }

            async fn inbox_rows(
                &mut self,
                filter: &InboxFilter,
                limit: u32,
            ) -> Result<Vec<InboxRow>, StoreError> {
                let sql = list_sql(filter);
                let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                if let Some(person) = &filter.person {
                    query = query.bind(person.clone());
                }
                if let Some(incident) = filter.incident {
                    query = query.bind(incident.0);
                }
                query
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)
            }
        }
    };
}

impl_inbox_queries!(SqliteConnection);
impl_inbox_queries!(PgConnection);

impl Store {
    /// Stores a notification in the inbox at `now`, once per key: `false` (and nothing
    /// written) when an entry with this key exists already.
    pub async fn inbox_put(
        &self,
        entry: &NewInboxEntry,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = ms(now);
        write_tx!(self, |conn| conn.insert_inbox(entry, now).await)
    }

    /// Inbox entries, newest first (ties by id, newest first). See [`InboxFilter`].
    pub async fn inbox(&self, filter: &InboxFilter) -> Result<Vec<InboxEntry>, StoreError> {
        let limit = effective_limit(filter.limit);
        let rows = read!(self, |conn| conn.inbox_rows(filter, limit).await)?;
        rows.into_iter().map(decode).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_100_and_is_capped_at_1000() {
        assert_eq!(effective_limit(None), 100);
        assert_eq!(effective_limit(Some(7)), 7);
        assert_eq!(effective_limit(Some(1000)), 1000);
        assert_eq!(effective_limit(Some(5000)), 1000);
    }

    #[test]
    fn list_statements_number_only_the_filters_given() {
        let filter = |person: bool, incident: bool| InboxFilter {
            person: person.then(|| "alice".to_string()),
            incident: incident.then_some(IncidentNumber(3)),
            limit: None,
        };
        let tail = |sql: String| {
            sql.split(" FROM inbox")
                .nth(1)
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            tail(list_sql(&filter(false, false))),
            " ORDER BY created_at DESC, id DESC LIMIT $1"
        );
        assert_eq!(
            tail(list_sql(&filter(true, false))),
            " WHERE person = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        assert_eq!(
            tail(list_sql(&filter(false, true))),
            " WHERE incident = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        assert_eq!(
            tail(list_sql(&filter(true, true))),
            " WHERE person = $1 AND incident = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
        );
    }
}
