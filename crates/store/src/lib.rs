//! Storage for Muster: one API, two backends (embedded SQLite, PostgreSQL).
//!
//! The store never decides anything: callers pass the core's decision as a closure and the
//! store runs it inside the transaction that holds the incident's lock, so concurrent writers
//! serialise per incident and the timeline stays gap-free and append-only.

use muster_core::{
    Access, Change, DomainError, Incident, IncidentNumber, Severity, Status, Timestamp,
    TimelineEvent,
};

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
pub struct Store {}

impl Store {
    /// Opens `sqlite://PATH` (folders and file created, WAL) or `postgres://…`, and applies
    /// migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        let _ = url;
        Err(StoreError::Internal("not built yet".into()))
    }

    /// "sqlite" or "postgres".
    pub fn backend(&self) -> &'static str {
        "sqlite"
    }

    /// Succeeds when the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Allocates the next incident number and writes the declaring changes (from
    /// `muster_core::declare`) as its first timeline events.
    pub async fn declare(
        &self,
        actor: &str,
        now: Timestamp,
        changes: Vec<Change>,
    ) -> Result<(Incident, Vec<TimelineEvent>), StoreError> {
        let _ = (actor, now, changes);
        Err(StoreError::Internal("not built yet".into()))
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
        let _ = (id, actor, now, decide);
        Err(StoreError::Internal("not built yet".into()))
    }

    pub async fn incident(&self, id: IncidentNumber) -> Result<Option<Incident>, StoreError> {
        let _ = id;
        Ok(None)
    }

    pub async fn list_incidents(
        &self,
        filter: &IncidentFilter,
    ) -> Result<Vec<Incident>, StoreError> {
        let _ = filter;
        Ok(vec![])
    }

    /// Timeline events with `seq > after`, oldest first, at most `limit`.
    pub async fn timeline(
        &self,
        id: IncidentNumber,
        after: i64,
        limit: u32,
    ) -> Result<Vec<TimelineEvent>, StoreError> {
        let _ = (id, after, limit);
        Ok(vec![])
    }

    pub async fn incident_counts(&self) -> Result<Vec<IncidentCount>, StoreError> {
        Ok(vec![])
    }

    /// Creates an API token and returns its secret, which is stored only as a SHA-256 hash.
    pub async fn create_token(
        &self,
        name: &str,
        access: Access,
        now: Timestamp,
    ) -> Result<String, StoreError> {
        let _ = (name, access, now);
        Err(StoreError::Internal("not built yet".into()))
    }

    /// The owner of a presented token, if it is known and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<TokenOwner>, StoreError> {
        let _ = token;
        Ok(None)
    }
}
