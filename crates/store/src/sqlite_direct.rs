//! Statements stepped directly on a SQLite connection: alert intake's and commands' hot paths
//! on the writer, and whole-timeline reads on a reader.
//!
//! sqlx runs each SQLite statement on the connection's own thread and hands each answer back
//! through a channel (a thread wake-up per statement and per row), and copies every bound
//! string twice. A group commit of a few thousand alerts runs a lookup per key and an insert
//! per alert; through sqlx, that hand-off and copying cost as much as SQLite's own work. Here
//! the batch takes the connection's lock ([`SqliteConnection::lock_handle`]), inside the
//! transaction sqlx began, and steps prepared statements itself with borrowed parameters.
//!
//! Statements are prepared once per connection and kept ([`Cache`]): compiling the SQL was a
//! quarter of the writer's turn in a small group commit (BENCHMARKS.md, "SQLite intake: a
//! leaner alerts table, statements kept across batches"). sqlx closes a connection with
//! `sqlite3_close`, which fails (and sqlx panics) while any statement is unfinalized, so the
//! kept ones are finalized by a `SQLITE_TRACE_CLOSE` hook, which SQLite calls at the start of
//! the close, before that check.
//!
//! The unsafe code is confined to this module. Its invariants: the raw handle is only used
//! while the lock guard lives (every [`Statement`] borrows the [`Direct`] holding it); a kept
//! statement is in the cache or in exactly one [`Statement`], never both; the cache is only
//! touched under the connection's lock, in calls that do not nest, and lives until the
//! connection is closed (SQLite frees it then, after the hook emptied it); a bound string is
//! only referenced during the call that bound it (bindings are cleared before the call
//! returns).

use std::ffi::{CStr, c_char, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use libsqlite3_sys as ffi;
use sqlx::sqlite::{LockedSqliteHandle, SqliteConnection};

use crate::StoreError;
use crate::error::{db_err, sqlite_transient};

/// A statement parameter, borrowed for the duration of one call.
#[derive(Clone, Copy)]
pub(crate) enum Param<'p> {
    Text(&'p str),
    Int(i64),
    Null,
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

/// A connection (the writer, or a reader), locked for direct use.
pub(crate) struct Direct<'c> {
    _guard: LockedSqliteHandle<'c>,
    db: NonNull<ffi::sqlite3>,
    cache: NonNull<Cache>,
}

impl<'c> Direct<'c> {
    pub(crate) async fn lock(conn: &'c mut SqliteConnection) -> Result<Direct<'c>, StoreError> {
        let mut guard = conn.lock_handle().await.map_err(db_err)?;
        let db = guard.as_raw_handle();
        let cache = Cache::of(db)?;
        Ok(Direct {
            _guard: guard,
            db,
            cache,
        })
    }

    /// `sql` as a prepared statement: the one kept on this connection, or prepared now and
    /// kept when the [`Statement`] is dropped. Its `$N` parameters are the `N`th as on
    /// PostgreSQL (SQLite itself would number `$N` names by first appearance). Only constant
    /// SQL is taken, so the cache holds a bounded set.
    pub(crate) fn prepare(&self, sql: &'static str) -> Result<Statement<'_>, StoreError> {
        // SAFETY: the cache is live while the connection is, and ours under the lock; no
        // other reference to it exists during this call.
        let kept = unsafe { (*self.cache.as_ptr()).take(sql) };
        let stmt = match kept {
            Some(stmt) => stmt,
            None => self.compile(sql)?,
        };
        Ok(Statement {
            stmt,
            db: self.db,
            cache: self.cache,
            sql,
            _direct: PhantomData,
        })
    }

    fn compile(&self, sql: &str) -> Result<NonNull<ffi::sqlite3_stmt>, StoreError> {
        let sql = positional(sql);
        let len = c_int::try_from(sql.len())
            .map_err(|_| StoreError::Internal("statement too long".into()))?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: the handle is live and exclusively ours while the guard is held; the SQL
        // pointer and length describe a valid UTF-8 buffer for the duration of the call.
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(
                self.db.as_ptr(),
                sql.as_ptr().cast::<c_char>(),
                len,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &mut stmt,
                std::ptr::null_mut(),
            )
        };
        if rc != ffi::SQLITE_OK {
            return Err(error(self.db, rc));
        }
        NonNull::new(stmt).ok_or_else(|| StoreError::Internal("empty statement prepared".into()))
    }

    /// How many statements this connection keeps (for tests).
    #[cfg(test)]
    fn kept(&self) -> usize {
        // SAFETY: as in `prepare`.
        unsafe { (*self.cache.as_ptr()).stmts.len() }
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE`) here, when SQLite's write lock is free
    /// at once: `false`, with nothing begun, when another connection (another process) holds
    /// it. Beginning under this lock saves the group commit a hand-off to sqlx's thread and
    /// back; a caller told `false` begins on that thread instead, where waiting up to the
    /// busy timeout holds up no task.
    pub(crate) fn try_begin_immediate(&self, busy_timeout: Duration) -> Result<bool, StoreError> {
        let ms = c_int::try_from(busy_timeout.as_millis()).unwrap_or(c_int::MAX);
        let stmt = self.prepare("BEGIN IMMEDIATE")?;
        // SAFETY: the handle and the statement are live and ours while the guard is held; the
        // statement has no parameters and is reset before it goes back to the cache. The busy
        // timeout is set back before the lock is released, so no other user sees it.
        unsafe {
            ffi::sqlite3_busy_timeout(self.db.as_ptr(), 0);
            let rc = ffi::sqlite3_step(stmt.stmt.as_ptr());
            let failed = (rc != ffi::SQLITE_DONE && rc & 0xff != ffi::SQLITE_BUSY)
                .then(|| error(self.db, rc));
            ffi::sqlite3_reset(stmt.stmt.as_ptr());
            ffi::sqlite3_busy_timeout(self.db.as_ptr(), ms);
            match failed {
                Some(e) => Err(e),
                None => Ok(rc == ffi::SQLITE_DONE),
            }
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    pub(crate) fn changes(&self) -> u64 {
        // SAFETY: the handle is live and ours while the guard is held.
        let n = unsafe { ffi::sqlite3_changes64(self.db.as_ptr()) };
        u64::try_from(n).unwrap_or(0)
    }

    /// The rowid of the last row inserted on this connection.
    pub(crate) fn last_insert_rowid(&self) -> i64 {
        // SAFETY: the handle is live and ours while the guard is held.
        unsafe { ffi::sqlite3_last_insert_rowid(self.db.as_ptr()) }
    }
}

/// The connection's last error as a [`StoreError`], classified as [`db_err`] does. Only
/// called while the connection's lock is held.
fn error(db: NonNull<ffi::sqlite3>, rc: c_int) -> StoreError {
    // SAFETY: the handle is live; sqlite3_errmsg returns a NUL-terminated string owned by the
    // connection, copied before any other call.
    let (code, message) = unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let msg = ffi::sqlite3_errmsg(db.as_ptr());
        let message = if msg.is_null() {
            String::new()
        } else {
            CStr::from_ptr(msg).to_string_lossy().into_owned()
        };
        (code, message)
    };
    classify(if code == 0 { rc } else { code }, &message)
}

/// `$N` parameters as SQLite's `?N`, which binds index `N` whatever the order of appearance.
fn positional(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        let numbered = c == '$' && chars.peek().is_some_and(char::is_ascii_digit);
        out.push(if numbered { '?' } else { c });
    }
    out
}

/// SQLite's answer as a store error: unique violations and "busy" say "try again".
fn classify(code: c_int, message: &str) -> StoreError {
    match code {
        ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
            StoreError::Unavailable("concurrent delivery of the same alert".into())
        }
        c if sqlite_transient(c) => {
            StoreError::Unavailable(format!("database busy or failing: {message}"))
        }
        c => StoreError::Internal(format!("database error: {message} (SQLite code {c})")),
    }
}

/// The statements a connection keeps, by their SQL text; attached to the connection as
/// SQLite client data.
#[derive(Default)]
struct Cache {
    stmts: Vec<(&'static str, NonNull<ffi::sqlite3_stmt>)>,
}

/// The client-data name the cache is attached under.
const CACHE_NAME: &CStr = c"muster.kept_statements";

impl Cache {
    /// The cache of connection `db`, attached (with its close hook) on first use.
    fn of(db: NonNull<ffi::sqlite3>) -> Result<NonNull<Cache>, StoreError> {
        // SAFETY: the handle is live and ours under the lock. The cache is handed to SQLite,
        // which frees it with `free_cache` when the connection is closed; the close hook gets
        // the same pointer, and runs before that.
        unsafe {
            let found = ffi::sqlite3_get_clientdata(db.as_ptr(), CACHE_NAME.as_ptr());
            if let Some(found) = NonNull::new(found.cast::<Cache>()) {
                return Ok(found);
            }
            let cache = NonNull::from(Box::leak(Box::<Cache>::default()));
            let rc = ffi::sqlite3_set_clientdata(
                db.as_ptr(),
                CACHE_NAME.as_ptr(),
                cache.as_ptr().cast(),
                Some(free_cache),
            );
            if rc != ffi::SQLITE_OK {
                drop(Box::from_raw(cache.as_ptr()));
                return Err(error(db, rc));
            }
            let rc = ffi::sqlite3_trace_v2(
                db.as_ptr(),
                ffi::SQLITE_TRACE_CLOSE,
                Some(finalize_kept),
                cache.as_ptr().cast(),
            );
            if rc != ffi::SQLITE_OK {
                // Detaching frees it: without the hook, nothing may be kept.
                ffi::sqlite3_set_clientdata(
                    db.as_ptr(),
                    CACHE_NAME.as_ptr(),
                    std::ptr::null_mut(),
                    None,
                );
                return Err(error(db, rc));
            }
            Ok(cache)
        }
    }

    fn take(&mut self, sql: &str) -> Option<NonNull<ffi::sqlite3_stmt>> {
        let at = self.stmts.iter().position(|(s, _)| *s == sql)?;
        Some(self.stmts.swap_remove(at).1)
    }

    /// Keeps `stmt`, unless a copy of the same SQL is kept already (the statement was in use
    /// twice at once): then it is finalized.
    fn put(&mut self, sql: &'static str, stmt: NonNull<ffi::sqlite3_stmt>) {
        if self.stmts.iter().any(|(s, _)| *s == sql) {
            // SAFETY: `stmt` is live, prepared on this connection, and referenced nowhere else.
            unsafe { ffi::sqlite3_finalize(stmt.as_ptr()) };
        } else {
            self.stmts.push((sql, stmt));
        }
    }
}

/// The `SQLITE_TRACE_CLOSE` hook: finalizes every kept statement, so that the close that
/// called it succeeds.
unsafe extern "C" fn finalize_kept(
    _event: std::ffi::c_uint,
    cache: *mut std::ffi::c_void,
    _db: *mut std::ffi::c_void,
    _unused: *mut std::ffi::c_void,
) -> c_int {
    // SAFETY: `cache` is the pointer registered with the hook, live until the connection is
    // freed, after this call; the connection is closing, so no `Direct` holds it.
    let cache = unsafe { &mut *cache.cast::<Cache>() };
    for (_, stmt) in cache.stmts.drain(..) {
        // SAFETY: each kept statement is live and referenced only by the cache.
        unsafe { ffi::sqlite3_finalize(stmt.as_ptr()) };
    }
    0
}

/// The client-data destructor: frees the cache when SQLite frees the connection.
unsafe extern "C" fn free_cache(cache: *mut std::ffi::c_void) {
    // SAFETY: `cache` came from `Box::leak` in `Cache::of`, and SQLite calls this once.
    drop(unsafe { Box::from_raw(cache.cast::<Cache>()) });
}

/// A prepared statement, kept on its connection when dropped.
pub(crate) struct Statement<'d> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    db: NonNull<ffi::sqlite3>,
    /// Where it goes back to, and under which SQL.
    cache: NonNull<Cache>,
    sql: &'static str,
    /// Borrows the locked connection, so it cannot outlive the lock.
    _direct: PhantomData<&'d ()>,
}

/// The current row of a query, readable only inside the query's callback.
pub(crate) struct Row<'s> {
    stmt: NonNull<ffi::sqlite3_stmt>,
    _stmt: PhantomData<&'s ()>,
}

impl Row<'_> {
    pub(crate) fn int(&self, col: c_int) -> i64 {
        // SAFETY: the statement is live and positioned on a row during the callback.
        unsafe { ffi::sqlite3_column_int64(self.stmt.as_ptr(), col) }
    }

    pub(crate) fn opt_int(&self, col: c_int) -> Option<i64> {
        // SAFETY: as above.
        let null = unsafe { ffi::sqlite3_column_type(self.stmt.as_ptr(), col) } == ffi::SQLITE_NULL;
        (!null).then(|| self.int(col))
    }

    pub(crate) fn text(&self, col: c_int) -> Result<String, StoreError> {
        self.opt_text(col)?
            .ok_or_else(|| StoreError::Internal(format!("column {col} is unexpectedly NULL")))
    }

    pub(crate) fn opt_text(&self, col: c_int) -> Result<Option<String>, StoreError> {
        // SAFETY: the statement is live and on a row; the text pointer is valid until the next
        // step or column call on this column, and is copied before either.
        unsafe {
            let p = ffi::sqlite3_column_text(self.stmt.as_ptr(), col);
            if p.is_null() {
                return Ok(None);
            }
            let len =
                usize::try_from(ffi::sqlite3_column_bytes(self.stmt.as_ptr(), col)).unwrap_or(0);
            let bytes = std::slice::from_raw_parts(p, len);
            String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|e| StoreError::Internal(format!("column {col} is not UTF-8: {e}")))
        }
    }
}

impl Statement<'_> {
    /// Runs the statement with `params` to completion, ignoring any rows.
    pub(crate) fn run(&mut self, params: &[Param<'_>]) -> Result<(), StoreError> {
        self.query(params, |_| Ok(())).map(drop)
    }

    /// Runs the statement with `params`, mapping each row.
    pub(crate) fn query<T>(
        &mut self,
        params: &[Param<'_>],
        mut each: impl FnMut(&Row<'_>) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let result = self.bind(params).and_then(|()| {
            let mut rows = Vec::new();
            loop {
                // SAFETY: the statement is live and its parameters bound to buffers that
                // outlive this call.
                match unsafe { ffi::sqlite3_step(self.stmt.as_ptr()) } {
                    ffi::SQLITE_ROW => rows.push(each(&Row {
                        stmt: self.stmt,
                        _stmt: PhantomData,
                    })?),
                    ffi::SQLITE_DONE => return Ok(rows),
                    rc => return Err(error(self.db, rc)),
                }
            }
        });
        // SAFETY: resetting and clearing drop every reference to the borrowed parameters
        // before they go out of scope.
        unsafe {
            ffi::sqlite3_reset(self.stmt.as_ptr());
            ffi::sqlite3_clear_bindings(self.stmt.as_ptr());
        }
        result
    }

    fn bind(&mut self, params: &[Param<'_>]) -> Result<(), StoreError> {
        for (i, p) in params.iter().enumerate() {
            let at = c_int::try_from(i + 1)
                .map_err(|_| StoreError::Internal("too many parameters".into()))?;
            let stmt = self.stmt.as_ptr();
            // SAFETY: the statement is live; SQLITE_STATIC text stays valid because the
            // bindings are cleared before `query` returns, while `params` is still borrowed.
            let rc = unsafe {
                match *p {
                    Param::Text(s) => {
                        let len = c_int::try_from(s.len())
                            .map_err(|_| StoreError::Internal("parameter too long".into()))?;
                        ffi::sqlite3_bind_text(
                            stmt,
                            at,
                            s.as_ptr().cast::<c_char>(),
                            len,
                            ffi::SQLITE_STATIC(),
                        )
                    }
                    Param::Int(v) => ffi::sqlite3_bind_int64(stmt, at, v),
                    Param::Null => ffi::sqlite3_bind_null(stmt, at),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(error(self.db, rc));
            }
        }
        Ok(())
    }
}

impl Drop for Statement<'_> {
    fn drop(&mut self) {
        // SAFETY: the statement was reset after its last use (it holds no read or write
        // lock); the cache is live and ours under the lock this statement borrows.
        unsafe { (*self.cache.as_ptr()).put(self.sql, self.stmt) }
    }
}

#[cfg(test)]
mod tests {
    use super::{Direct, Param, StoreError, classify, ffi, positional};
    use sqlx::Connection;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

    /// A statement is compiled once per connection and reused under later locks; one in use
    /// twice at once gets a second copy, not kept; and the connection still closes (sqlx's
    /// close fails while any statement is unfinalized, so the close hook must finalize them).
    #[tokio::test]
    async fn statements_are_kept_across_locks_and_finalized_when_the_connection_closes() {
        const INSERT: &str = "INSERT INTO t (a) VALUES ($1)";
        const COUNT: &str = "SELECT count(*) FROM t";
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("kept.db"))
            .create_if_missing(true);
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (a INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        let first = {
            let direct = Direct::lock(&mut conn).await.unwrap();
            let mut stmt = direct.prepare(INSERT).unwrap();
            stmt.run(&[Param::Int(1)]).unwrap();
            let first = stmt.stmt;
            drop(stmt);
            assert_eq!(direct.kept(), 1);
            first
        };
        {
            let direct = Direct::lock(&mut conn).await.unwrap();
            let mut stmt = direct.prepare(INSERT).unwrap();
            assert_eq!(stmt.stmt, first, "the kept statement is reused");
            let mut again = direct.prepare(INSERT).unwrap();
            assert_ne!(again.stmt, first, "one statement handed out twice at once");
            again.run(&[Param::Int(2)]).unwrap();
            stmt.run(&[Param::Int(3)]).unwrap();
            drop(again);
            drop(stmt);
            let count = direct.prepare(COUNT).unwrap().query(&[], |r| Ok(r.int(0)));
            assert_eq!(count.unwrap(), [3]);
            assert_eq!(direct.kept(), 2, "INSERT once, COUNT");
        }
        // A connection of its own keeps its own statements.
        let mut other = SqliteConnection::connect_with(&options).await.unwrap();
        {
            let direct = Direct::lock(&mut other).await.unwrap();
            assert_eq!(direct.kept(), 0);
            let count = direct.prepare(COUNT).unwrap().query(&[], |r| Ok(r.int(0)));
            assert_eq!(count.unwrap(), [3]);
        }
        other.close().await.expect("the other connection closes");
        conn.close()
            .await
            .expect("the connection closes with its kept statements");
    }

    /// While another connection holds the write lock, `try_begin_immediate` answers `false`
    /// at once (it must not sit in the busy handler: the caller is a task), begins nothing,
    /// and leaves the connection's own busy timeout as it was given; once the lock is free it
    /// begins.
    #[tokio::test]
    async fn begin_here_answers_false_at_once_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("begin.db"))
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            // Were the timeout not lifted for the attempt, it would wait this long.
            .busy_timeout(std::time::Duration::from_secs(600));
        let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
        let mut other = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::raw_sql("CREATE TABLE t (a INTEGER); BEGIN IMMEDIATE; INSERT INTO t VALUES (1)")
            .execute(&mut other)
            .await
            .unwrap();
        let restored = std::time::Duration::from_millis(4321);
        let attempt = async {
            let direct = Direct::lock(&mut conn).await.unwrap();
            direct.try_begin_immediate(restored).unwrap()
        };
        let began = tokio::time::timeout(std::time::Duration::from_secs(60), attempt).await;
        assert_eq!(began, Ok(false), "busy: nothing begun, and no wait");
        let (timeout,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(timeout, 4321);
        // Nothing was begun: a plain statement commits by itself and sees the committed state.
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(n, 0, "the other connection's insert is not committed yet");
        sqlx::raw_sql("COMMIT").execute(&mut other).await.unwrap();
        {
            let direct = Direct::lock(&mut conn).await.unwrap();
            assert!(direct.try_begin_immediate(restored).unwrap(), "free: begun");
            direct
                .prepare("INSERT INTO t VALUES (2)")
                .unwrap()
                .run(&[])
                .unwrap();
            direct.prepare("COMMIT").unwrap().run(&[]).unwrap();
        }
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut other)
            .await
            .unwrap();
        assert_eq!(n, 2);
        other.close().await.unwrap();
        conn.close().await.unwrap();
    }

    #[test]
    fn a_duplicate_open_alert_or_a_busy_database_says_try_again() {
        let unique = classify(ffi::SQLITE_CONSTRAINT_UNIQUE, "UNIQUE constraint failed");
        assert!(matches!(unique, StoreError::Unavailable(m) if m.contains("concurrent delivery")));
        let busy = classify(ffi::SQLITE_BUSY_SNAPSHOT, "database is locked");
        assert!(matches!(busy, StoreError::Unavailable(m) if m.contains("database is locked")));
        let full = classify(ffi::SQLITE_FULL, "database or disk is full");
        assert!(matches!(full, StoreError::Unavailable(_)));
        let fk = classify(
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY,
            "FOREIGN KEY constraint failed",
        );
        assert!(
            matches!(fk, StoreError::Internal(m) if m.contains("FOREIGN KEY") && m.contains("787"))
        );
    }

    #[test]
    fn numbered_parameters_keep_their_numbers() {
        assert_eq!(
            positional("UPDATE t SET a = $2, b = '$x' WHERE id = $1 AND c = $12"),
            "UPDATE t SET a = ?2, b = '$x' WHERE id = ?1 AND c = ?12"
        );
    }

    #[test]
    fn fuzz_sql_parameter_rewriter() {
        let corpus: &[&[u8]] = &[
            b"SELECT id FROM alerts WHERE dedup_key = $1 AND integration = $2",
            b"INSERT INTO t (a, b) VALUES ($2, $1) -- $3 in a comment",
            "UPDATE t SET note = '\u{e9}$' WHERE x = $10".as_bytes(),
        ];
        muster_testkit::fuzz::run("sql-rewriter", corpus, |input| {
            let sql = String::from_utf8_lossy(input);
            let out = positional(&sql);
            // Each `$` before a digit becomes `?`, nothing else changes.
            assert_eq!(out.chars().count(), sql.chars().count());
            for (a, b) in sql.chars().zip(out.chars()) {
                assert!(a == b || (a == '$' && b == '?'), "{sql:?} -> {out:?}");
            }
            assert!(
                !out.as_bytes()
                    .windows(2)
                    .any(|w| w[0] == b'$' && w[1].is_ascii_digit())
            );
        });
    }
}
