//! Turning driver errors into [`StoreError`]s: "try again later" (`Unavailable`) versus
//! "something is wrong" (`Internal`). Messages never contain the connection string.

use sqlx::error::DatabaseError;

use crate::StoreError;

/// Maps a driver error. Connection trouble, pool exhaustion and the database's own "busy",
/// "shutting down" or "retry me" answers are `Unavailable`; the rest is `Internal`.
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    use sqlx::Error as E;
    match e {
        E::PoolTimedOut => {
            StoreError::Unavailable("no database connection available in time".into())
        }
        E::PoolClosed => StoreError::Unavailable("the database connection pool is closed".into()),
        E::Io(io) => StoreError::Unavailable(format!("database connection failed: {io}")),
        E::Tls(tls) => StoreError::Unavailable(format!("database TLS failed: {tls}")),
        E::WorkerCrashed => StoreError::Unavailable("the SQLite worker thread stopped".into()),
        E::Database(d) if is_transient(d.as_ref()) => {
            StoreError::Unavailable(format!("database busy or restarting: {}", d.message()))
        }
        E::Database(d) => StoreError::Internal(format!("database error: {}", d.message())),
        E::Migrate(m) => migrate_err(*m),
        other => StoreError::Internal(other.to_string()),
    }
}

pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    match e {
        sqlx::migrate::MigrateError::Execute(e) => db_err(e),
        other => StoreError::Internal(format!("database migration failed: {other}")),
    }
}

/// Whether SQLite refused because another connection holds a lock (or none came in time).
pub(crate) fn is_sqlite_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, 5 | 6)),
        _ => false,
    }
}

/// Whether a SQLite result code says "not now" (busy, locked, out of memory or disk, I/O);
/// the primary code is the low byte of the extended one.
pub(crate) fn sqlite_transient(code: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    matches!(code & 0xff, BUSY | LOCKED | NOMEM | IOERR | FULL | CANTOPEN)
}

/// Whether the database says "not now" rather than "no".
fn is_transient(d: &dyn DatabaseError) -> bool {
    let Some(code) = d.code() else {
        return false;
    };
    if let Ok(sqlite) = code.parse::<i32>() {
        return sqlite_transient(sqlite);
    }
    // PostgreSQL SQLSTATEs.
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (too many connections, disk full)
        || matches!(
            code.as_ref(),
            "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now
                | "3D000" // invalid_catalog_name: the database is gone (being restored, renamed)
                | "57014" // query_canceled (statement timeout)
                | "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "55P03" // lock_not_available
        )
}

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} cannot be read: {detail}"))
}
