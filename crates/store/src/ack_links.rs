//! One-tap answers to pages: the random token of each email, SMS, push or voice delivery that
//! lets its recipient acknowledge (or escalate) that page — `GET/POST /ack/{token}`, an SMS
//! reply naming the link's short code, a keypress on the call. Only the token's SHA-256 is
//! stored (a link's `id`). A link answers once, until it expires, and only while its incident
//! is open; links made before expiry existed (migration 0021) work while the incident is open.

use std::time::Instant;

use muster_core::{IncidentNumber, Status, Timestamp};
use sqlx::{PgConnection, Row, SqliteConnection};

use crate::codec::{from_ms, ms, token_hash};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// What a link answers, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckLink {
    /// The token's SHA-256 (hex): names the link without being able to use it.
    pub id: String,
    pub incident: IncidentNumber,
    /// The notification's key, without the incident's prefix.
    pub notification: String,
    pub person: String,
    /// The incident is still open (a resolved incident's links have expired).
    pub open: bool,
    /// `email`, `sms`, `push`, `voice`; `None` for links made before channels were kept.
    pub channel: Option<String>,
    /// `page` (answering it acknowledges the incident) or `notify`; `None`: made before.
    pub kind: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    /// When the link answered, and what it did (`acknowledge`, `escalate`).
    pub used: Option<(Timestamp, String)>,
    /// The SMS reply code (4 digits), for links sent by SMS.
    pub code: Option<String>,
}

/// Whether a link may still answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Usable,
    /// It answered once already.
    Used,
    /// Past its `expires_at`.
    Expired,
    /// Its incident is resolved.
    Closed,
}

impl AckLink {
    pub fn state(&self, now: Timestamp) -> LinkState {
        if self.used.is_some() {
            LinkState::Used
        } else if !self.open {
            LinkState::Closed
        } else if self.expires_at.is_some_and(|at| at <= now) {
            LinkState::Expired
        } else {
            LinkState::Usable
        }
    }
}

/// A link to make for one delivery.
#[derive(Debug, Clone)]
pub struct NewAckLink<'a> {
    pub incident: IncidentNumber,
    pub notification: &'a str,
    pub person: &'a str,
    pub channel: &'a str,
    pub kind: &'a str,
    pub expires_at: Timestamp,
    /// Give it an SMS reply code, unique among the person's unexpired links.
    pub code: bool,
}

/// A new link's token (to put in the message, never stored) and SMS code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLinkToken {
    pub token: String,
    pub code: Option<String>,
}

/// Attempts at a free 4-digit code before the code grows a digit: a person with thousands of
/// unexpired pages is not a case to optimise, only one that must not fail.
const CODE_TRIES: usize = 16;

const COLUMNS: &str = "l.token_hash, l.incident, l.notification, l.person, l.created_at, \
     l.channel, l.kind, l.expires_at, l.used_at, l.used_for, l.code, i.status";

trait AckLinkQueries {
    async fn insert_link(
        &mut self,
        hash: &str,
        link: &NewAckLink<'_>,
        code: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError>;
    async fn code_taken(&mut self, person: &str, code: &str, now: i64) -> Result<bool, StoreError>;
    async fn link_where(
        &mut self,
        filter: &str,
        order: &str,
        binds: &[&str],
    ) -> Result<Option<AckLink>, StoreError>;
    async fn mark_used(&mut self, id: &str, at: i64, what: &str) -> Result<bool, StoreError>;
    async fn unmark_used(&mut self, id: &str, what: &str) -> Result<(), StoreError>;
}

macro_rules! impl_ack_link_queries {
    ($conn:ty) => {
        impl AckLinkQueries for $conn {
            async fn insert_link(
                &mut self,
                hash: &str,
                link: &NewAckLink<'_>,
                code: Option<&str>,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO ack_links (token_hash, incident, notification, person, created_at, \
                     channel, kind, expires_at, code) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(hash)
                .bind(link.incident.0)
                .bind(link.notification)
                .bind(link.person)
                .bind(at)
                .bind(link.channel)
                .bind(link.kind)
                .bind(ms(link.expires_at))
                .bind(code)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn code_taken(
                &mut self,
                person: &str,
                code: &str,
                now: i64,
            ) -> Result<bool, StoreError> {
                let row = sqlx::query(
                    "SELECT 1 FROM ack_links WHERE person = $1 AND code = $2 AND expires_at > $3",
                )
                .bind(person)
                .bind(code)
                .bind(now)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(row.is_some())
            }

            async fn link_where(
                &mut self,
                filter: &str,
                order: &str,
                binds: &[&str],
            ) -> Result<Option<AckLink>, StoreError> {
                let sql = format!(
                    "SELECT {COLUMNS} FROM ack_links l JOIN incidents i ON i.number = l.incident \
                     WHERE {filter} ORDER BY {order}l.created_at DESC, l.token_hash LIMIT 1"
                );
                // The filter is one of this module's constants; values are bound.
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    query = query.bind(*b);
                }
                let row = query
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                let Some(row) = row else { return Ok(None) };
                let status: String = row.try_get("status").map_err(db_err)?;
                let get_ms = |name: &str| -> Result<Option<Timestamp>, StoreError> {
                    let v: Option<i64> = row.try_get(name).map_err(db_err)?;
                    v.map(from_ms).transpose()
                };
                let used_at = get_ms("used_at")?;
                let used_for: Option<String> = row.try_get("used_for").map_err(db_err)?;
                let created: i64 = row.try_get("created_at").map_err(db_err)?;
                Ok(Some(AckLink {
                    id: row.try_get("token_hash").map_err(db_err)?,
                    incident: IncidentNumber(row.try_get("incident").map_err(db_err)?),
                    notification: row.try_get("notification").map_err(db_err)?,
                    person: row.try_get("person").map_err(db_err)?,
                    open: status != Status::Resolved.to_string(),
                    channel: row.try_get("channel").map_err(db_err)?,
                    kind: row.try_get("kind").map_err(db_err)?,
                    created_at: from_ms(created)?,
                    expires_at: get_ms("expires_at")?,
                    used: used_at.map(|at| (at, used_for.unwrap_or_default())),
                    code: row.try_get("code").map_err(db_err)?,
                }))
            }

            async fn mark_used(&mut self, id: &str, at: i64, what: &str) -> Result<bool, StoreError> {
                let done = sqlx::query(
                    "UPDATE ack_links SET used_at = $2, used_for = $3 \
                     WHERE token_hash = $1 AND used_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .bind(what)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn unmark_used(&mut self, id: &str, what: &str) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE ack_links SET used_at = NULL, used_for = NULL \
                     WHERE token_hash = $1 AND used_for = $2",
                )
                .bind(id)
                .bind(what)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

impl_ack_link_queries!(SqliteConnection);
impl_ack_link_queries!(PgConnection);

impl Store {
    /// A new link: the token to put in the message and, when asked for, its SMS code.
    pub async fn create_ack_link(
        &self,
        link: &NewAckLink<'_>,
        now: Timestamp,
    ) -> Result<NewLinkToken, StoreError> {
        let token = new_link_token();
        let hash = token_hash(&token);
        let at = ms(now);
        let code = write_tx!(self, |conn| {
            let code = match link.code {
                true => Some(free_code(conn, link.person, at).await?),
                false => None,
            };
            conn.insert_link(&hash, link, code.as_deref(), at).await?;
            Ok(code)
        })?;
        Ok(NewLinkToken { token, code })
    }

    /// The link with this token, if there is one.
    pub async fn ack_link(&self, token: &str) -> Result<Option<AckLink>, StoreError> {
        let hash = token_hash(token);
        read!(self, |conn| conn
            .link_where("l.token_hash = $1", "", &[&hash])
            .await)
    }

    /// `person`'s link with SMS code `code` (the newest, should an old one share it).
    pub async fn ack_link_by_code(
        &self,
        person: &str,
        code: &str,
    ) -> Result<Option<AckLink>, StoreError> {
        read!(self, |conn| conn
            .link_where("l.person = $1 AND l.code = $2", "", &[person, code])
            .await)
    }

    /// The link a reply without a code answers: `person`'s newest link that went out with an
    /// SMS code, preferring one that can still answer, and a page to a notification.
    pub async fn latest_sms_link(
        &self,
        person: &str,
        now: Timestamp,
    ) -> Result<Option<AckLink>, StoreError> {
        let now = ms(now).to_string();
        read!(self, |conn| conn
            .link_where(
                "l.person = $1 AND l.code IS NOT NULL",
                // The bound `now` is text on both backends: compared as a number by a cast.
                "CASE WHEN l.used_at IS NULL AND i.status <> 'resolved' \
                 AND l.expires_at > CAST($2 AS BIGINT) THEN 0 ELSE 1 END, \
                 CASE WHEN l.kind = 'page' THEN 0 ELSE 1 END, ",
                &[person, &now],
            )
            .await)
    }

    /// Gives back a use of the link `id` for `what` whose answer could not be recorded (the
    /// database was unavailable), so the recipient can try again.
    pub async fn release_ack_link(&self, id: &str, what: &str) -> Result<(), StoreError> {
        write_tx!(self, |conn| conn.unmark_used(id, what).await)
    }

    /// Marks the link `id` used for `what`; false when it had been used already (a link
    /// answers once, whichever of two racing requests comes first).
    pub async fn use_ack_link(
        &self,
        id: &str,
        now: Timestamp,
        what: &str,
    ) -> Result<bool, StoreError> {
        let at = ms(now);
        write_tx!(self, |conn| conn.mark_used(id, at, what).await)
    }
}

/// A 4-digit code none of `person`'s unexpired links has (5 digits after many collisions).
async fn free_code(
    conn: &mut impl AckLinkQueries,
    person: &str,
    now: i64,
) -> Result<String, StoreError> {
    use rand::Rng;
    for i in 0..CODE_TRIES * 2 {
        let code = match i < CODE_TRIES {
            true => format!("{:04}", rand::rng().random_range(1000..10_000)),
            false => format!("{:05}", rand::rng().random_range(10_000..100_000)),
        };
        if !conn.code_taken(person, &code, now).await? {
            return Ok(code);
        }
    }
    Err(StoreError::Unavailable(format!(
        "no free SMS code for {person}"
    )))
}

/// 32 random bytes, hex: unguessable, and safe in a URL.
fn new_link_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
