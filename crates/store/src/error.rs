//! Turning driver errors into [`StoreError`]s: "try again later" (`Unavailable`) versus
//! "something is wrong" (`Internal`). Messages never contain the connection string.

use sqlx::error::DatabaseError;

use crate::StoreError;

/// Maps a driver error. Connection trouble, pool exhaustion and the database's own "busy",
/// "shutting down" or "retry me" answers are `Unavailable` (503 + Retry-After); a value the
/// database refuses is a 422, a duplicate a 409; the rest is `Internal`. Each backend's codes
/// are read as that backend's: SQLite result codes, PostgreSQL SQLSTATEs (some of which are
/// all digits, like `22021`, and must never be read as SQLite numbers).
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
        E::Database(d) => classify(d.as_ref()).into_error(d.message()),
        E::Migrate(m) => migrate_err(*m),
        other => StoreError::Internal(other.to_string()),
    }
}

/// What a database's refusal means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Busy, locked, out of resources, restarting, connection lost: retry later (503).
    Unavailable,
    /// Lost a race with another transaction (serialization failure, deadlock): retry (503).
    RetryConflict,
    /// The statement ran past its time limit: retry later (503).
    Timeout,
    /// A value the database cannot take (bad encoding, out of range, too big): 422.
    BadInput,
    /// A duplicate of a unique key: 409.
    Duplicate,
    /// Anything else: a bug or a broken database (500).
    Internal,
}

impl Class {
    fn into_error(self, message: &str) -> StoreError {
        match self {
            Class::Unavailable => {
                StoreError::Unavailable(format!("database busy or restarting: {message}"))
            }
            Class::RetryConflict => StoreError::Unavailable(format!(
                "conflicting concurrent transaction; retry: {message}"
            )),
            Class::Timeout => StoreError::Unavailable(format!("database timed out: {message}")),
            Class::BadInput => StoreError::Domain(muster_core::DomainError::invalid(
                "value",
                format!("the database cannot store it: {message}"),
            )),
            Class::Duplicate => StoreError::Domain(muster_core::DomainError::Conflict(format!(
                "already exists: {message}"
            ))),
            Class::Internal => StoreError::Internal(format!("database error: {message}")),
        }
    }
}

/// The class of a database error, by its backend's own codes.
fn classify(d: &dyn DatabaseError) -> Class {
    let Some(code) = d.code() else {
        return Class::Internal;
    };
    if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        return classify_postgres(&code);
    }
    match code.parse::<i32>() {
        Ok(sqlite) if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            classify_sqlite(sqlite)
        }
        _ => Class::Internal,
    }
}

/// A PostgreSQL SQLSTATE, by class (its first two characters) and then exact code.
pub(crate) fn classify_postgres(sqlstate: &str) -> Class {
    match sqlstate {
        "40001" | "40P01" | "55P03" => Class::RetryConflict,
        "57014" => Class::Timeout,
        // 25P03: the session sat idle in a transaction past `IDLE_IN_TRANSACTION_TIMEOUT`
        // (this node was stalled); its transaction is gone, and the request may be retried.
        "57P01" | "57P02" | "57P03" | "57P04" | "57P05" | "3D000" | "25P03" => Class::Unavailable,
        "23505" => Class::Duplicate,
        s if s.starts_with("08") || s.starts_with("53") || s.starts_with("58") => {
            Class::Unavailable
        }
        s if s.starts_with("22") => Class::BadInput,
        _ => Class::Internal,
    }
}

/// A SQLite extended result code; the primary code is its low byte.
pub(crate) fn classify_sqlite(code: i32) -> Class {
    const CONSTRAINT_PRIMARYKEY: i32 = 1555;
    const CONSTRAINT_UNIQUE: i32 = 2067;
    if matches!(code, CONSTRAINT_UNIQUE | CONSTRAINT_PRIMARYKEY) {
        return Class::Duplicate;
    }
    if sqlite_transient(code) {
        return Class::Unavailable;
    }
    const TOOBIG: i32 = 18;
    const MISMATCH: i32 = 20;
    const RANGE: i32 = 25;
    match code & 0xff {
        TOOBIG | MISMATCH | RANGE => Class::BadInput,
        _ => Class::Internal,
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
        sqlx::Error::Database(d) if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
            d.code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6))
        }
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

pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} cannot be read: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_sqlstates_by_class() {
        let table = [
            ("22021", Class::BadInput),    // character_not_in_repertoire (NUL in text)
            ("22P05", Class::BadInput),    // untranslatable_character (\u0000 in jsonb)
            ("22001", Class::BadInput),    // string_data_right_truncation
            ("22003", Class::BadInput),    // numeric_value_out_of_range
            ("08006", Class::Unavailable), // connection_failure
            ("08001", Class::Unavailable),
            ("53100", Class::Unavailable),   // disk_full
            ("53200", Class::Unavailable),   // out_of_memory
            ("53300", Class::Unavailable),   // too_many_connections
            ("57P01", Class::Unavailable),   // admin_shutdown
            ("57P03", Class::Unavailable),   // cannot_connect_now
            ("3D000", Class::Unavailable),   // invalid_catalog_name
            ("25P03", Class::Unavailable),   // idle_in_transaction_session_timeout
            ("58030", Class::Unavailable),   // io_error
            ("40001", Class::RetryConflict), // serialization_failure
            ("40P01", Class::RetryConflict), // deadlock_detected
            ("55P03", Class::RetryConflict), // lock_not_available
            ("57014", Class::Timeout),       // query_canceled
            ("23505", Class::Duplicate),     // unique_violation
            ("23503", Class::Internal),      // foreign_key_violation: our bug
            ("42P01", Class::Internal),      // undefined_table
            ("42601", Class::Internal),      // syntax_error
            ("P0001", Class::Internal),      // raise_exception (triggers)
            ("00000", Class::Internal),
        ];
        for (code, class) in table {
            assert_eq!(classify_postgres(code), class, "{code}");
        }
    }

    #[test]
    fn sqlite_result_codes() {
        let table = [
            (5, Class::Unavailable),    // BUSY
            (517, Class::Unavailable),  // BUSY_SNAPSHOT
            (6, Class::Unavailable),    // LOCKED
            (7, Class::Unavailable),    // NOMEM
            (10, Class::Unavailable),   // IOERR
            (3850, Class::Unavailable), // IOERR_LOCK
            (13, Class::Unavailable),   // FULL
            (14, Class::Unavailable),   // CANTOPEN
            (2067, Class::Duplicate),   // CONSTRAINT_UNIQUE
            (1555, Class::Duplicate),   // CONSTRAINT_PRIMARYKEY
            (787, Class::Internal),     // CONSTRAINT_FOREIGNKEY
            (1811, Class::Internal),    // CONSTRAINT_TRIGGER
            (18, Class::BadInput),      // TOOBIG
            (20, Class::BadInput),      // MISMATCH
            (25, Class::BadInput),      // RANGE
            (1, Class::Internal),       // ERROR
            (11, Class::Internal),      // CORRUPT
        ];
        for (code, class) in table {
            assert_eq!(classify_sqlite(code), class, "{code}");
        }
    }

    #[test]
    fn classes_answer_as_documented() {
        let msg = "m";
        assert!(matches!(
            Class::Unavailable.into_error(msg),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            Class::RetryConflict.into_error(msg),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            Class::Timeout.into_error(msg),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            Class::BadInput.into_error(msg),
            StoreError::Domain(muster_core::DomainError::Invalid { .. })
        ));
        assert!(matches!(
            Class::Duplicate.into_error(msg),
            StoreError::Domain(muster_core::DomainError::Conflict(_))
        ));
        assert!(matches!(
            Class::Internal.into_error(msg),
            StoreError::Internal(_)
        ));
    }
}
