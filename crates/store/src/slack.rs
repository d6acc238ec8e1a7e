//! Incidents' Slack channels: the channel id (commands and events from a channel find their
//! incident by it) and the `ts` of the header message the live clock keeps up to date.

use std::time::Instant;

use muster_core::{IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms, to_millis_precision};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// One incident's channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackChannel {
    pub incident: IncidentNumber,
    pub channel_id: String,
    pub name: String,
    /// The header message, once posted.
    pub header_ts: Option<String>,
    pub created_at: Timestamp,
}

type Row = (i64, String, String, Option<String>, i64);
const COLUMNS: &str = "incident, channel_id, name, header_ts, created_at";

fn decode(r: Row) -> Result<SlackChannel, StoreError> {
    Ok(SlackChannel {
        incident: IncidentNumber(r.0),
        channel_id: r.1,
        name: r.2,
        header_ts: r.3,
        created_at: from_ms(r.4)?,
    })
}

pub(crate) trait SlackQueries {
    async fn first_seen(
        &mut self,
        key: &str,
        now: i64,
        forget_before: i64,
    ) -> Result<bool, StoreError>;
    async fn insert_channel(&mut self, c: &SlackChannel) -> Result<(), StoreError>;
    async fn set_header(&mut self, incident: i64, ts: &str) -> Result<bool, StoreError>;
    async fn channel_where(
        &mut self,
        column: &str,
        value: Value,
    ) -> Result<Option<Row>, StoreError>;
}

/// What a channel is looked up by.
pub(crate) enum Value {
    Incident(i64),
    Channel(String),
}

macro_rules! impl_slack_queries {
    ($conn:ty) => {
        impl SlackQueries for $conn {
            async fn first_seen(
                &mut self,
                key: &str,
                now: i64,
                forget_before: i64,
            ) -> Result<bool, StoreError> {
                sqlx::query("DELETE FROM slack_seen WHERE seen_at < $1")
                    .bind(forget_before)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                let done = sqlx::query(
                    "INSERT INTO slack_seen (key, seen_at) VALUES ($1, $2) \
                     ON CONFLICT (key) DO NOTHING",
                )
                .bind(key)
                .bind(now)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_channel(&mut self, c: &SlackChannel) -> Result<(), StoreError> {
                // A retried creation keeps the first channel recorded.
                sqlx::query(
                    "INSERT INTO slack_channels (incident, channel_id, name, header_ts, \
                     created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident) DO NOTHING",
                )
                .bind(c.incident.0)
                .bind(&c.channel_id)
                .bind(&c.name)
                .bind(&c.header_ts)
                .bind(ms(c.created_at))
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn set_header(&mut self, incident: i64, ts: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE slack_channels SET header_ts = $2 WHERE incident = $1 \
                     AND header_ts IS NULL",
                )
                .bind(incident)
                .bind(ts)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn channel_where(
                &mut self,
                column: &str,
                value: Value,
            ) -> Result<Option<Row>, StoreError> {
                let sql = format!("SELECT {COLUMNS} FROM slack_channels WHERE {column} = $1");
                let q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
                let q = match value {
                    Value::Incident(n) => q.bind(n),
                    Value::Channel(c) => q.bind(c),
                };
                q.fetch_optional(&mut *self).await.map_err(db_err)
            }
        }
    };
}

impl_slack_queries!(SqliteConnection);
impl_slack_queries!(PgConnection);

impl Store {
    /// Records `key` (a request's signature, an event's id) as seen now; false when it was
    /// seen within `window` already. Older records are forgotten.
    pub async fn first_slack_request(
        &self,
        key: &str,
        now: Timestamp,
        window: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let now = ms(to_millis_precision(now));
        let forget_before = now - i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
        write_tx!(self, |conn| conn.first_seen(key, now, forget_before).await)
    }

    /// Records an incident's channel; a second record for the incident changes nothing.
    pub async fn set_slack_channel(
        &self,
        incident: IncidentNumber,
        channel_id: &str,
        name: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let c = SlackChannel {
            incident,
            channel_id: channel_id.into(),
            name: name.into(),
            header_ts: None,
            created_at: to_millis_precision(now),
        };
        write_tx!(self, |conn| conn.insert_channel(&c).await)
    }

    /// Records the header message's `ts`; false when one was recorded already.
    pub async fn set_slack_header(
        &self,
        incident: IncidentNumber,
        ts: &str,
    ) -> Result<bool, StoreError> {
        write_tx!(self, |conn| conn.set_header(incident.0, ts).await)
    }

    /// The channel of an incident.
    pub async fn slack_channel(
        &self,
        incident: IncidentNumber,
    ) -> Result<Option<SlackChannel>, StoreError> {
        let row = read!(self, |conn| conn
            .channel_where("incident", Value::Incident(incident.0))
            .await)?;
        row.map(decode).transpose()
    }

    /// The incident whose channel `channel_id` is.
    pub async fn slack_channel_by_id(
        &self,
        channel_id: &str,
    ) -> Result<Option<SlackChannel>, StoreError> {
        let row = read!(self, |conn| conn
            .channel_where("channel_id", Value::Channel(channel_id.into()))
            .await)?;
        row.map(decode).transpose()
    }
}
