//! Acknowledgement links: the random token of each email or SMS delivery that lets its
//! recipient acknowledge the notification (`GET/POST /ack/{token}`). Only the token's SHA-256
//! is stored; a link works while its incident is open.

use std::time::Instant;

use muster_core::{IncidentNumber, Status, Timestamp};
use sqlx::{PgConnection, Row, SqliteConnection};

use crate::codec::{ms, token_hash};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// What a link acknowledges, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckLink {
    pub incident: IncidentNumber,
    /// The notification's key, without the incident's prefix.
    pub notification: String,
    pub person: String,
    /// The incident is still open (a resolved incident's links have expired).
    pub open: bool,
}

trait AckLinkQueries {
    async fn insert_link(&mut self, hash: &str, link: &AckLink, at: i64) -> Result<(), StoreError>;
    async fn link(&mut self, hash: &str) -> Result<Option<AckLink>, StoreError>;
}

macro_rules! impl_ack_link_queries {
    ($conn:ty) => {
        impl AckLinkQueries for $conn {
            async fn insert_link(
                &mut self,
                hash: &str,
                link: &AckLink,
                at: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO ack_links (token_hash, incident, notification, person, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(hash)
                .bind(link.incident.0)
                .bind(&link.notification)
                .bind(&link.person)
                .bind(at)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn link(&mut self, hash: &str) -> Result<Option<AckLink>, StoreError> {
                let row = sqlx::query(
                    "SELECT l.incident, l.notification, l.person, i.status FROM ack_links l \
                     JOIN incidents i ON i.number = l.incident WHERE l.token_hash = $1",
                )
                .bind(hash)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)?;
                let Some(row) = row else { return Ok(None) };
                let status: String = row.try_get("status").map_err(db_err)?;
                Ok(Some(AckLink {
                    incident: IncidentNumber(row.try_get("incident").map_err(db_err)?),
                    notification: row.try_get("notification").map_err(db_err)?,
                    person: row.try_get("person").map_err(db_err)?,
                    open: status != Status::Resolved.to_string(),
                }))
            }
        }
    };
}

impl_ack_link_queries!(SqliteConnection);
impl_ack_link_queries!(PgConnection);

impl Store {
    /// A new link for `link` (its `open` is ignored): the token to put in the message.
    pub async fn create_ack_link(
        &self,
        link: &AckLink,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let token = new_link_token();
        let hash = token_hash(&token);
        let at = ms(now);
        write_tx!(self, |conn| conn.insert_link(&hash, link, at).await)?;
        Ok(token)
    }

    /// The link with this token, if there is one.
    pub async fn ack_link(&self, token: &str) -> Result<Option<AckLink>, StoreError> {
        let hash = token_hash(token);
        read!(self, |conn| conn.link(&hash).await)
    }
}

/// 32 random bytes, hex: unguessable, and safe in a URL.
fn new_link_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
