//! Web UI sessions: a sign-in with an API token becomes a random session id in the browser's
//! cookie, stored only as its SHA-256 and linked to the token's row. Every read joins the
//! token, so a revoked or expired token ends its sessions from their next request on every
//! node; idle and absolute lifetimes are the caller's (`SessionLimits`). Retention deletes
//! sessions unused for `limits.retention` (`retention.rs`).

use std::time::Duration;
use std::time::Instant;

use muster_core::{Access, Timestamp};
use sqlx::{PgConnection, Row, SqliteConnection};

use crate::codec::{self, ms, token_hash};
use crate::error::db_err;
use crate::{Backend, SLOW_WRITE, Store, StoreError, TOKEN_PREFIX, finish};

/// How long a session lives without a request, and at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionLimits {
    /// 8 hours idle (a shift), 7 days at most.
    fn default() -> Self {
        SessionLimits {
            idle: Duration::from_secs(8 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// A new session: the id to put in the cookie and the form token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub id: String,
    pub csrf: String,
    pub name: String,
    pub access: Access,
}

/// A live session as a request sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// The token's name: the actor written to the timeline.
    pub name: String,
    pub access: Access,
    /// The token's teams: what the session may write (`muster_core::access`).
    pub scope: muster_core::Scope,
    pub csrf: String,
}

/// `last_seen_at` is written at most this often, so reading pages writes little.
const TOUCH_EVERY_MS: i64 = 60_000;

trait SessionQueries {
    async fn token_for_sign_in(
        &mut self,
        hash: &str,
        now: i64,
    ) -> Result<Option<(i64, String, String)>, StoreError>;
    async fn insert_session(
        &mut self,
        id_hash: &str,
        token_id: i64,
        csrf: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    async fn session(
        &mut self,
        id_hash: &str,
        now: i64,
        idle_after: i64,
        created_after: i64,
    ) -> Result<Option<(WebSession, i64)>, StoreError>;
    async fn touch_session(&mut self, id_hash: &str, now: i64) -> Result<(), StoreError>;
    async fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError>;
}

macro_rules! impl_session_queries {
    ($conn:ty) => {
        impl SessionQueries for $conn {
            async fn token_for_sign_in(
                &mut self,
                hash: &str,
                now: i64,
            ) -> Result<Option<(i64, String, String)>, StoreError> {
                let row: Option<(i64, String, String)> = sqlx::query_as(
                    "SELECT id, name, access FROM api_tokens \
                     WHERE token_hash = $1 AND revoked_at IS NULL \
                     AND (expires_at IS NULL OR expires_at > $2)",
                )
                .bind(hash)
                .bind(now)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(row)
            }

            async fn insert_session(
                &mut self,
                id_hash: &str,
                token_id: i64,
                csrf: &str,
                now: i64,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO web_sessions (id_hash, token_id, csrf, created_at, last_seen_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(id_hash)
                .bind(token_id)
                .bind(csrf)
                .bind(now)
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn session(
                &mut self,
                id_hash: &str,
                now: i64,
                idle_after: i64,
                created_after: i64,
            ) -> Result<Option<(WebSession, i64)>, StoreError> {
                let row = sqlx::query(
                    "SELECT t.name, t.access, t.teams, s.csrf, s.last_seen_at FROM web_sessions s \
                     JOIN api_tokens t ON t.id = s.token_id \
                     WHERE s.id_hash = $1 AND t.revoked_at IS NULL \
                     AND (t.expires_at IS NULL OR t.expires_at > $2) \
                     AND s.last_seen_at > $3 AND s.created_at > $4",
                )
                .bind(id_hash)
                .bind(now)
                .bind(idle_after)
                .bind(created_after)
                .fetch_optional(&mut *self)
                .await
                .map_err(db_err)?;
                let Some(row) = row else { return Ok(None) };
                let access: String = row.try_get("access").map_err(db_err)?;
                let teams: Option<String> = row.try_get("teams").map_err(db_err)?;
                Ok(Some((
                    WebSession {
                        name: row.try_get("name").map_err(db_err)?,
                        access: codec::decode_access(&access)?,
                        scope: codec::decode_scope(teams.as_deref()),
                        csrf: row.try_get("csrf").map_err(db_err)?,
                    },
                    row.try_get("last_seen_at").map_err(db_err)?,
                )))
            }

            async fn touch_session(&mut self, id_hash: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query("UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1")
                    .bind(id_hash)
                    .bind(now)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn delete_session(&mut self, id_hash: &str) -> Result<(), StoreError> {
                sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&mut *self)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }
        }
    };
}

impl_session_queries!(SqliteConnection);
impl_session_queries!(PgConnection);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Signs in with an API token: a new session linked to it, or `None` when the token is
    /// unknown, revoked, expired or a feed token (which opens calendar feeds only).
    pub async fn create_web_session(
        &self,
        token: &str,
        now: Timestamp,
    ) -> Result<Option<NewSession>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = token_hash(token);
        let at = ms(now);
        let id = random_hex();
        let csrf = random_hex();
        let id_hash = token_hash(&id);
        let (id_hash, csrf_ref) = (id_hash.as_str(), csrf.as_str());
        let owner = write_tx!(self, |conn| {
            let Some((token_id, name, access)) = conn.token_for_sign_in(&hash, at).await? else {
                return Ok(None);
            };
            let access = codec::decode_access(&access)?;
            if access == Access::Feed {
                return Ok(None);
            }
            conn.insert_session(id_hash, token_id, csrf_ref, at).await?;
            Ok(Some((name, access)))
        })?;
        Ok(owner.map(|(name, access)| NewSession {
            id,
            csrf,
            name,
            access,
        }))
    }

    /// The live session with this cookie id at `now`, if any: its token still valid, used
    /// within `limits.idle` and younger than `limits.absolute`. Marks it used (at most once a
    /// minute).
    pub async fn web_session(
        &self,
        id: &str,
        now: Timestamp,
        limits: SessionLimits,
    ) -> Result<Option<WebSession>, StoreError> {
        let id_hash = token_hash(id);
        let at = ms(now);
        let idle_after = at.saturating_sub(millis(limits.idle));
        let created_after = at.saturating_sub(millis(limits.absolute));
        let found = read!(self, |conn| {
            conn.session(&id_hash, at, idle_after, created_after).await
        })?;
        let Some((session, last_seen)) = found else {
            return Ok(None);
        };
        if at - last_seen >= TOUCH_EVERY_MS {
            write_tx!(self, |conn| conn.touch_session(&id_hash, at).await)?;
        }
        Ok(Some(session))
    }

    /// Ends the session with this cookie id (signing out); unknown ids are ignored.
    pub async fn end_web_session(&self, id: &str) -> Result<(), StoreError> {
        let id_hash = token_hash(id);
        write_tx!(self, |conn| conn.delete_session(&id_hash).await)
    }
}

/// 32 random bytes, hex.
fn random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
