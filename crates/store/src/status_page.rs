//! The public status page's storage: public incidents (each linked to an internal incident)
//! and their updates, which are drafted, approved, then published.
//!
//! A published update is never changed again (a trigger refuses it) and only published updates
//! are read for the page: [`Store::published_incidents`] filters drafts out in SQL, so no code
//! path that renders the page can see one. Approvals and publications are written to the
//! append-only `audit_log` in the same transaction.

use std::time::Instant;

use muster_core::status_page::{ComponentImpact, PublicStatus};
use muster_core::{DomainError, IncidentNumber, Timestamp};
use sqlx::{PgConnection, SqliteConnection};

use crate::codec::{from_ms, ms, to_millis_precision};
use crate::error::{corrupt, db_err};
use crate::overrides::OverrideQueries;
use crate::queries::Queries;
use crate::{Backend, SLOW_WRITE, Store, StoreError, finish};

/// Public incidents one page call returns at most (Statuspage shows the 50 most recent).
pub const MAX_PUBLIC_INCIDENTS: u32 = 50;

/// Where an update is on its way to the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateState {
    Draft,
    Approved,
    Published,
}

impl UpdateState {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Draft => "draft",
            UpdateState::Approved => "approved",
            UpdateState::Published => "published",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "draft" => Ok(UpdateState::Draft),
            "approved" => Ok(UpdateState::Approved),
            "published" => Ok(UpdateState::Published),
            other => Err(corrupt("public update state", other)),
        }
    }
}

/// An update as drafted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPublicUpdate {
    pub status: PublicStatus,
    pub body: String,
    pub components: Vec<ComponentImpact>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUpdate {
    /// `pu-N`.
    pub id: String,
    pub public_incident: String,
    pub status: PublicStatus,
    pub body: String,
    pub components: Vec<ComponentImpact>,
    pub state: UpdateState,
    pub drafted_by: String,
    pub drafted_at: Timestamp,
    pub approved_by: Option<String>,
    pub approved_at: Option<Timestamp>,
    pub published_by: Option<String>,
    pub published_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicIncident {
    /// `pi-N`.
    pub id: String,
    /// The internal incident it speaks for.
    pub incident: IncidentNumber,
    pub name: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// Oldest first: all of them from [`Store::public_incident`], only published ones (in
    /// publication order) from [`Store::published_incidents`].
    pub updates: Vec<PublicUpdate>,
}

type IncidentRow = (String, i64, String, String, i64);
type UpdateRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
);

const INCIDENT_COLUMNS: &str = "p.id, p.incident, p.name, p.created_by, p.created_at";
const UPDATE_COLUMNS: &str = "id, public_incident, status, body, components, state, drafted_by, \
     drafted_at, approved_by, approved_at, published_by, published_at";

fn decode_incident(r: IncidentRow) -> Result<PublicIncident, StoreError> {
    Ok(PublicIncident {
        id: r.0,
        incident: IncidentNumber(r.1),
        name: r.2,
        created_by: r.3,
        created_at: from_ms(r.4)?,
        updates: Vec::new(),
    })
}

fn decode_update(r: UpdateRow) -> Result<PublicUpdate, StoreError> {
    Ok(PublicUpdate {
        id: r.0,
        public_incident: r.1,
        status: r
            .2
            .parse()
            .map_err(|e| corrupt("public update status", e))?,
        body: r.3,
        components: serde_json::from_str(&r.4).map_err(|e| corrupt("public update", e))?,
        state: UpdateState::parse(&r.5)?,
        drafted_by: r.6,
        drafted_at: from_ms(r.7)?,
        approved_by: r.8,
        approved_at: r.9.map(from_ms).transpose()?,
        published_by: r.10,
        published_at: r.11.map(from_ms).transpose()?,
    })
}

fn audit_data(u: &PublicUpdate) -> serde_json::Value {
    serde_json::json!({
        "public_incident": u.public_incident,
        "update": u.id,
        "status": u.status.as_str(),
        "body": u.body,
        "components": u.components,
    })
}

fn conflict(message: String) -> StoreError {
    StoreError::Domain(DomainError::Conflict(message))
}

pub(crate) trait StatusPageQueries {
    async fn next_public_id(&mut self, counter: &str, prefix: &str) -> Result<String, StoreError>;
    async fn insert_public_incident(&mut self, p: &PublicIncident) -> Result<(), StoreError>;
    async fn public_incident_row(&mut self, id: &str)
    -> Result<Option<PublicIncident>, StoreError>;
    async fn public_updates(
        &mut self,
        public_incident: &str,
        published_only: bool,
    ) -> Result<Vec<PublicUpdate>, StoreError>;
    async fn public_update(
        &mut self,
        public_incident: &str,
        id: &str,
    ) -> Result<Option<PublicUpdate>, StoreError>;
    async fn insert_public_update(&mut self, u: &PublicUpdate) -> Result<(), StoreError>;
    async fn set_update_state(&mut self, u: &PublicUpdate) -> Result<(), StoreError>;
    async fn public_incident_rows(
        &mut self,
        published_only: bool,
        limit: u32,
    ) -> Result<Vec<PublicIncident>, StoreError>;
    async fn unresolved_public_ids(&mut self) -> Result<Vec<String>, StoreError>;
}

macro_rules! impl_status_page_queries {
    ($conn:ty) => {
        impl StatusPageQueries for $conn {
            async fn next_public_id(
                &mut self,
                counter: &str,
                prefix: &str,
            ) -> Result<String, StoreError> {
                let n: i64 = sqlx::query_scalar(
                    "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value",
                )
                .bind(counter)
                .fetch_one(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(format!("{prefix}-{n}"))
            }

            async fn insert_public_incident(
                &mut self,
                p: &PublicIncident,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO public_incidents (id, incident, name, created_by, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&p.id)
                .bind(p.incident.0)
                .bind(&p.name)
                .bind(&p.created_by)
                .bind(ms(p.created_at))
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn public_incident_row(
                &mut self,
                id: &str,
            ) -> Result<Option<PublicIncident>, StoreError> {
                let sql = format!("SELECT {INCIDENT_COLUMNS} FROM public_incidents p WHERE p.id = $1");
                let row: Option<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode_incident).transpose()
            }

            async fn public_updates(
                &mut self,
                public_incident: &str,
                published_only: bool,
            ) -> Result<Vec<PublicUpdate>, StoreError> {
                // Ids are `pu-N`: length first so `pu-10` sorts after `pu-9`.
                let sql = if published_only {
                    format!(
                        "SELECT {UPDATE_COLUMNS} FROM public_updates \
                         WHERE public_incident = $1 AND state = 'published' \
                         ORDER BY published_at, length(id), id"
                    )
                } else {
                    format!(
                        "SELECT {UPDATE_COLUMNS} FROM public_updates WHERE public_incident = $1 \
                         ORDER BY drafted_at, length(id), id"
                    )
                };
                let rows: Vec<UpdateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(public_incident)
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode_update).collect()
            }

            async fn public_update(
                &mut self,
                public_incident: &str,
                id: &str,
            ) -> Result<Option<PublicUpdate>, StoreError> {
                let sql = format!(
                    "SELECT {UPDATE_COLUMNS} FROM public_updates \
                     WHERE public_incident = $1 AND id = $2"
                );
                let row: Option<UpdateRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(public_incident)
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(db_err)?;
                row.map(decode_update).transpose()
            }

            async fn insert_public_update(&mut self, u: &PublicUpdate) -> Result<(), StoreError> {
                let components = serde_json::to_string(&u.components)
                    .map_err(|e| StoreError::Internal(format!("cannot encode components: {e}")))?;
                sqlx::query(
                    "INSERT INTO public_updates (id, public_incident, status, body, components, \
                     state, drafted_by, drafted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&u.id)
                .bind(&u.public_incident)
                .bind(u.status.as_str())
                .bind(&u.body)
                .bind(components)
                .bind(u.state.as_str())
                .bind(&u.drafted_by)
                .bind(ms(u.drafted_at))
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn set_update_state(&mut self, u: &PublicUpdate) -> Result<(), StoreError> {
                sqlx::query(
                    "UPDATE public_updates SET state = $2, approved_by = $3, approved_at = $4, \
                     published_by = $5, published_at = $6 WHERE id = $1",
                )
                .bind(&u.id)
                .bind(u.state.as_str())
                .bind(&u.approved_by)
                .bind(u.approved_at.map(ms))
                .bind(&u.published_by)
                .bind(u.published_at.map(ms))
                .execute(&mut *self)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn public_incident_rows(
                &mut self,
                published_only: bool,
                limit: u32,
            ) -> Result<Vec<PublicIncident>, StoreError> {
                let sql = if published_only {
                    format!(
                        "SELECT {INCIDENT_COLUMNS} FROM public_incidents p \
                         JOIN public_updates u ON u.public_incident = p.id \
                         WHERE u.state = 'published' \
                         GROUP BY p.id, p.incident, p.name, p.created_by, p.created_at \
                         ORDER BY MAX(u.published_at) DESC, p.created_at DESC LIMIT $1"
                    )
                } else {
                    format!(
                        "SELECT {INCIDENT_COLUMNS} FROM public_incidents p \
                         ORDER BY p.created_at DESC, length(p.id) DESC, p.id DESC LIMIT $1"
                    )
                };
                let rows: Vec<IncidentRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(i64::from(limit))
                    .fetch_all(&mut *self)
                    .await
                    .map_err(db_err)?;
                rows.into_iter().map(decode_incident).collect()
            }

            async fn unresolved_public_ids(&mut self) -> Result<Vec<String>, StoreError> {
                // An incident is unresolved while its latest published update is not `resolved`.
                sqlx::query_scalar(
                    "SELECT u.public_incident FROM public_updates u \
                     WHERE u.state = 'published' AND u.status <> 'resolved' \
                     AND NOT EXISTS (SELECT 1 FROM public_updates v \
                         WHERE v.public_incident = u.public_incident AND v.state = 'published' \
                         AND v.published_at > u.published_at) \
                     GROUP BY u.public_incident",
                )
                .fetch_all(&mut *self)
                .await
                .map_err(db_err)
            }
        }
    };
}

impl_status_page_queries!(SqliteConnection);
impl_status_page_queries!(PgConnection);

/// Fills in each incident's updates.
macro_rules! with_updates {
    ($conn:ident, $list:expr, $published_only:expr) => {{
        let mut list = $list;
        for p in &mut list {
            p.updates = $conn.public_updates(&p.id, $published_only).await?;
        }
        Ok::<_, StoreError>(list)
    }};
}

impl Store {
    /// Opens a public incident for internal incident `incident`. `NotFound` when it does not
    /// exist. Nothing is public until one of its updates is published.
    pub async fn create_public_incident(
        &self,
        incident: IncidentNumber,
        name: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<PublicIncident, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            if !conn.incident_exists(incident).await? {
                return Err(StoreError::NotFound(incident));
            }
            let p = PublicIncident {
                id: conn.next_public_id("public_incident", "pi").await?,
                incident,
                name: name.to_string(),
                created_by: actor.to_string(),
                created_at: now,
                updates: Vec::new(),
            };
            conn.insert_public_incident(&p).await?;
            Ok(p)
        })
    }

    /// A public incident with all its updates (drafts included: for responders, never for
    /// the page).
    pub async fn public_incident(&self, id: &str) -> Result<Option<PublicIncident>, StoreError> {
        read!(self, |conn| {
            let Some(mut p) = conn.public_incident_row(id).await? else {
                return Ok(None);
            };
            p.updates = conn.public_updates(id, false).await?;
            Ok(Some(p))
        })
    }

    /// Every public incident, newest first, with all updates (for responders).
    pub async fn public_incidents(&self, limit: u32) -> Result<Vec<PublicIncident>, StoreError> {
        let limit = limit.min(MAX_PUBLIC_INCIDENTS);
        read!(self, |conn| {
            let list = conn.public_incident_rows(false, limit).await?;
            with_updates!(conn, list, false)
        })
    }

    /// What the public page shows: incidents with at least one published update, with only
    /// their published updates — the `limit` most recently updated, plus every unresolved one.
    pub async fn published_incidents(&self, limit: u32) -> Result<Vec<PublicIncident>, StoreError> {
        let limit = limit.min(MAX_PUBLIC_INCIDENTS);
        read!(self, |conn| {
            let mut list = conn.public_incident_rows(true, limit).await?;
            for id in conn.unresolved_public_ids().await? {
                if !list.iter().any(|p| p.id == id)
                    && let Some(p) = conn.public_incident_row(&id).await?
                {
                    list.push(p);
                }
            }
            with_updates!(conn, list, true)
        })
    }

    /// Drafts an update; `None` when there is no public incident `public_incident`.
    pub async fn draft_public_update(
        &self,
        public_incident: &str,
        new: NewPublicUpdate,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<PublicUpdate>, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            if conn.public_incident_row(public_incident).await?.is_none() {
                return Ok(None);
            }
            let u = PublicUpdate {
                id: conn.next_public_id("public_update", "pu").await?,
                public_incident: public_incident.to_string(),
                status: new.status,
                body: new.body,
                components: new.components,
                state: UpdateState::Draft,
                drafted_by: actor.to_string(),
                drafted_at: now,
                approved_by: None,
                approved_at: None,
                published_by: None,
                published_at: None,
            };
            conn.insert_public_update(&u).await?;
            Ok(Some(u))
        })
    }

    /// Approves a draft (the caller checked that `actor` may). `Conflict` unless it is a
    /// draft; `None` when there is no such update. Audited as `public_update.approved`.
    pub async fn approve_public_update(
        &self,
        public_incident: &str,
        id: &str,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<PublicUpdate>, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            let Some(mut u) = conn.public_update(public_incident, id).await? else {
                return Ok(None);
            };
            if u.state != UpdateState::Draft {
                return Err(conflict(format!(
                    "update {id} is already {}; only a draft can be approved",
                    u.state.as_str()
                )));
            }
            u.state = UpdateState::Approved;
            u.approved_by = Some(actor.to_string());
            u.approved_at = Some(now);
            conn.set_update_state(&u).await?;
            let subject = format!("public_incident:{public_incident}");
            conn.insert_audit(
                ms(now),
                actor,
                "public_update.approved",
                &subject,
                &audit_data(&u),
            )
            .await?;
            Ok(Some(u))
        })
    }

    /// Publishes an update: from then on the page shows it and it never changes. With
    /// `require_approval`, only an approved update may be published (`Conflict` for a draft);
    /// publishing twice is a `Conflict`. Audited as `public_update.published`.
    pub async fn publish_public_update(
        &self,
        public_incident: &str,
        id: &str,
        require_approval: bool,
        actor: &str,
        now: Timestamp,
    ) -> Result<Option<PublicUpdate>, StoreError> {
        let now = to_millis_precision(now);
        write_tx!(self, |conn| {
            let Some(mut u) = conn.public_update(public_incident, id).await? else {
                return Ok(None);
            };
            match u.state {
                UpdateState::Published => {
                    return Err(conflict(format!("update {id} is already published")));
                }
                UpdateState::Draft if require_approval => {
                    return Err(conflict(format!(
                        "update {id} is a draft: the comms lead must approve it before it is published"
                    )));
                }
                UpdateState::Draft | UpdateState::Approved => {}
            }
            u.state = UpdateState::Published;
            u.published_by = Some(actor.to_string());
            u.published_at = Some(now);
            conn.set_update_state(&u).await?;
            let subject = format!("public_incident:{public_incident}");
            conn.insert_audit(
                ms(now),
                actor,
                "public_update.published",
                &subject,
                &audit_data(&u),
            )
            .await?;
            Ok(Some(u))
        })
    }
}
