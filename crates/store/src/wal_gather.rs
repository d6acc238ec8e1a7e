//! The SQLite writer's WAL writes gathered: a VFS over the default one (`unix`) whose WAL
//! files collect a transaction's frames in memory and write them with one `pwrite` at its
//! commit, instead of SQLite's two per frame (a 24-byte header, then the page).
//!
//! Why: a group commit of a few thousand alerts appends a few hundred frames, and each
//! `pwrite` pays a system call and the page-cache work for every 4 KiB page it touches; a
//! 4,120-byte frame written in two parts touches three. That was a sixth of the writer's turn
//! (BENCHMARKS.md, "SQLite intake: the WAL written once per commit"), and the writer is intake's
//! one serial step.
//!
//! What must hold: every frame of a transaction is in the file before SQLite publishes the
//! commit in the WAL index (shared memory, which this layer does not see), so readers and crash
//! recovery see exactly what they would without it. SQLite writes a commit in this order:
//! frames (header, page) appended; then, only if a frame was overwritten in place, each
//! frame's header rewritten, each after a read; then the index. So:
//! * a commit frame's header (bytes 4..8, the database size, are not zero) writes everything
//!   gathered, itself included, at once, and the page after it goes straight to the file;
//! * a read, sync, truncation, size query or close writes what is gathered first;
//! * a write that does not continue the gathered run writes the run first;
//! * a run is written before it would grow past [`RUN_AT_MOST`] (the default VFS's limit).
//!
//! Only WAL files are wrapped; the database file and everything else is the default VFS's own.
//! The writer connection opens with it ([`NAME`]); readers keep the default.
//!
//! The unsafe code is confined to this module. Its invariants: a [`WalFile`] is written into
//! the memory SQLite allocated for it (`szOsFile` bytes) when the file opens, followed by the
//! default VFS's own file object, and dropped exactly once, in `close`; SQLite calls a file's
//! methods from one thread at a time (the connection's), so the gathered run needs no lock.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

use crate::StoreError;

/// The VFS's name, for `SqliteConnectOptions::vfs`.
pub(crate) const NAME: &str = "muster-wal-gather";
const NAME_C: &CStr = c"muster-wal-gather";

/// The longest run written at once. The default VFS writes at most this many bytes per
/// `pwrite` (it masks the length to 17 bits) and answers "disk full" to a longer write, since
/// SQLite's own writes are a page at most; so a run is written before it would grow past it.
/// About 31 frames of 4 KiB pages.
const RUN_AT_MOST: usize = 0x1ffff;
/// A WAL frame's header; no other write to a WAL file has this length (its own header is 32).
const FRAME_HEADER: usize = 24;

/// The default VFS, which this one wraps (set once, by [`register`]).
static INNER: OnceLock<Inner> = OnceLock::new();
static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();

struct Inner(*mut ffi::sqlite3_vfs);
// SAFETY: a registered VFS is immutable and lives for the process; SQLite itself shares it
// between threads.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

/// Registers the VFS (once per process); the error names why SQLite refused.
pub(crate) fn register() -> Result<(), StoreError> {
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find(NULL)` initializes SQLite and returns the default VFS,
            // which lives for the process. The copy is leaked, as a registered VFS must live
            // for the process; SQLite writes only its `pNext`.
            unsafe {
                let inner = ffi::sqlite3_vfs_find(std::ptr::null());
                if inner.is_null() {
                    return Err("SQLite has no default VFS".to_string());
                }
                let _ = INNER.set(Inner(inner));
                let mut vfs = *inner;
                vfs.zName = NAME_C.as_ptr();
                vfs.pNext = std::ptr::null_mut();
                // Room for our file object and the default VFS's after it; a file that is not
                // a WAL uses the same memory as the default VFS's alone.
                vfs.szOsFile = (std::mem::size_of::<WalFile>() as c_int) + (*inner).szOsFile;
                vfs.xOpen = Some(open);
                let rc = ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0);
                if rc != ffi::SQLITE_OK {
                    return Err(format!("SQLite refused the WAL VFS (code {rc})"));
                }
                Ok(())
            }
        })
        .clone()
        .map_err(StoreError::Internal)
}

/// A WAL file: the default VFS's file object (`real`, just after this one) and the run of
/// appended writes not yet in the file.
#[repr(C)]
struct WalFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
    run: Vec<u8>,
    /// Where `run` goes in the file.
    run_at: i64,
    /// The last write was a commit frame's header: its page goes straight to the file.
    commit_page_next: bool,
    /// The file's path, for the tests' count of writes.
    #[cfg(test)]
    path: String,
}

/// Writes that reached each WAL file, by path (tests only).
#[cfg(test)]
static WRITES: std::sync::Mutex<std::collections::BTreeMap<String, usize>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn inner_vfs() -> *mut ffi::sqlite3_vfs {
    INNER.get().map_or(std::ptr::null_mut(), |i| i.0)
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner = inner_vfs();
    if inner.is_null() {
        return ffi::SQLITE_CANTOPEN;
    }
    // SAFETY: `register` set the inner VFS before this VFS could be found; SQLite passes
    // `file` with `szOsFile` bytes.
    unsafe {
        let Some(inner_open) = (*inner).xOpen else {
            return ffi::SQLITE_CANTOPEN;
        };
        if flags & ffi::SQLITE_OPEN_WAL == 0 {
            // Not a WAL: the default VFS's file, in the same memory, untouched.
            return inner_open(inner, name, file, flags, out_flags);
        }
        let real = file
            .cast::<u8>()
            .add(std::mem::size_of::<WalFile>())
            .cast::<ffi::sqlite3_file>();
        (*real).pMethods = std::ptr::null();
        let rc = inner_open(inner, name, real, flags, out_flags);
        if (*real).pMethods.is_null() {
            // Nothing to close: SQLite calls no method of a file without methods.
            (*file).pMethods = std::ptr::null();
            return rc;
        }
        std::ptr::write(
            file.cast::<WalFile>(),
            WalFile {
                base: ffi::sqlite3_file {
                    pMethods: &WAL_METHODS,
                },
                real,
                run: Vec::new(),
                run_at: 0,
                commit_page_next: false,
                #[cfg(test)]
                path: CStr::from_ptr(name).to_string_lossy().into_owned(),
            },
        );
        rc
    }
}

/// The wrapped file's state. SAFETY (callers): `file` is a [`WalFile`] opened by [`open`]
/// and not yet closed.
unsafe fn wal<'f>(file: *mut ffi::sqlite3_file) -> &'f mut WalFile {
    unsafe { &mut *file.cast::<WalFile>() }
}

/// The default VFS's methods of the wrapped file.
fn methods(w: &WalFile) -> &'static ffi::sqlite3_io_methods {
    // SAFETY: the default VFS set them when it opened the file; they are static.
    unsafe { &*(*w.real).pMethods }
}

impl WalFile {
    fn count_write(&self) {
        #[cfg(test)]
        {
            let mut writes = WRITES.lock().unwrap_or_else(|e| e.into_inner());
            *writes.entry(self.path.clone()).or_default() += 1;
        }
    }

    /// Writes the gathered run to the file.
    fn write_run(&mut self) -> c_int {
        if self.run.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Some(write) = methods(self).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let Ok(len) = c_int::try_from(self.run.len()) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        self.count_write();
        // SAFETY: `real` is open; the run is `len` bytes and lives through the call.
        let rc = unsafe { write(self.real, self.run.as_ptr().cast(), len, self.run_at) };
        self.run.clear();
        rc
    }

    fn gather(&mut self, data: &[u8], at: i64) -> c_int {
        let run_end = self.run_at + self.run.len() as i64;
        let too_long = self.run.len() + data.len() > RUN_AT_MOST;
        if !self.run.is_empty() && (at != run_end || too_long) {
            let rc = self.write_run();
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
        if (self.commit_page_next && data.len() != FRAME_HEADER) || data.len() > RUN_AT_MOST {
            // The commit frame's page, after its header and everything before it went out.
            self.commit_page_next = false;
            return self.write_through(data, at);
        }
        self.commit_page_next = false;
        if self.run.is_empty() {
            self.run_at = at;
        }
        self.run.extend_from_slice(data);
        let commit_header = data.len() == FRAME_HEADER && data[4..8] != [0, 0, 0, 0];
        if commit_header {
            self.commit_page_next = true;
            return self.write_run();
        }
        ffi::SQLITE_OK
    }

    fn write_through(&mut self, data: &[u8], at: i64) -> c_int {
        let Some(write) = methods(self).xWrite else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        let Ok(len) = c_int::try_from(data.len()) else {
            return ffi::SQLITE_IOERR_WRITE;
        };
        self.count_write();
        // SAFETY: `real` is open; `data` is `len` bytes and lives through the call.
        unsafe { write(self.real, data.as_ptr().cast(), len, at) }
    }
}

/// Writes the run, then calls the default VFS's method `$m` with the same arguments.
macro_rules! after_run {
    ($file:ident, $m:ident $(, $arg:expr)*) => {{
        // SAFETY: SQLite calls this only on a file `open` wrapped and has not closed.
        let w = unsafe { wal($file) };
        let rc = w.write_run();
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        match methods(w).$m {
            // SAFETY: the default VFS's method, on its own open file.
            Some(m) => unsafe { m(w.real $(, $arg)*) },
            None => ffi::SQLITE_IOERR,
        }
    }};
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite closes a file once; after this its memory is not used as a WalFile.
    let w = unsafe { wal(file) };
    let written = w.write_run();
    let closed = match methods(w).xClose {
        // SAFETY: the default VFS's close, on its own open file, once.
        Some(m) => unsafe { m(w.real) },
        None => ffi::SQLITE_OK,
    };
    // SAFETY: written by `open`, dropped here only.
    unsafe { std::ptr::drop_in_place(file.cast::<WalFile>()) };
    if written != ffi::SQLITE_OK {
        written
    } else {
        closed
    }
}

unsafe extern "C" fn write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    at: ffi::sqlite3_int64,
) -> c_int {
    let Ok(len) = usize::try_from(amount) else {
        return ffi::SQLITE_IOERR_WRITE;
    };
    // SAFETY: SQLite passes `amount` readable bytes, valid during the call (they are copied
    // into the run or written before it returns).
    let data = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    // SAFETY: as `after_run`.
    unsafe { wal(file) }.gather(data, at)
}

unsafe extern "C" fn read(
    file: *mut ffi::sqlite3_file,
    buf: *mut c_void,
    amount: c_int,
    at: ffi::sqlite3_int64,
) -> c_int {
    after_run!(file, xRead, buf, amount, at)
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: ffi::sqlite3_int64) -> c_int {
    after_run!(file, xTruncate, size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    after_run!(file, xSync, flags)
}

unsafe extern "C" fn file_size(
    file: *mut ffi::sqlite3_file,
    size: *mut ffi::sqlite3_int64,
) -> c_int {
    after_run!(file, xFileSize, size)
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    after_run!(file, xLock, level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    after_run!(file, xUnlock, level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    after_run!(file, xCheckReservedLock, out)
}

unsafe extern "C" fn file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    after_run!(file, xFileControl, op, arg)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as `after_run`.
    let w = unsafe { wal(file) };
    // SAFETY: the default VFS's method, on its own open file.
    methods(w)
        .xSectorSize
        .map_or(4096, |m| unsafe { m(w.real) })
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: as `after_run`.
    let w = unsafe { wal(file) };
    // SAFETY: the default VFS's method, on its own open file.
    methods(w)
        .xDeviceCharacteristics
        .map_or(0, |m| unsafe { m(w.real) })
}

/// Version 1 methods: SQLite maps shared memory and pages through the database file, never a
/// WAL file, and checks the version before calling those.
static WAL_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

#[cfg(test)]
mod tests {
    use std::path::Path;

    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::{Connection, SqliteConnection};

    use super::{NAME, WRITES, register};

    const PAGE: u64 = 4096;
    const FRAME: u64 = PAGE + 24;

    async fn writer(path: &Path, cache_pages: &'static str) -> SqliteConnection {
        register().expect("registered");
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .vfs(NAME)
            // Everything stays in the WAL, so the copy below must recover it from there.
            .pragma("wal_autocheckpoint", "0")
            .pragma("cache_size", cache_pages);
        let mut conn = SqliteConnection::connect_with(&options)
            .await
            .expect("opens");
        sqlx::raw_sql("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&mut conn)
            .await
            .expect("table");
        conn
    }

    /// Inserts a row per key, each with `len` copies of `fill`.
    async fn insert(
        conn: &mut SqliteConnection,
        keys: std::ops::Range<i64>,
        fill: &str,
        len: usize,
    ) {
        for k in keys {
            sqlx::query("INSERT INTO t (k, v) VALUES (?, ?)")
                .bind(k)
                .bind(fill.repeat(len))
                .execute(&mut *conn)
                .await
                .expect("inserts");
        }
    }

    fn writes(wal: &Path) -> usize {
        let writes = WRITES.lock().unwrap_or_else(|e| e.into_inner());
        writes.get(&*wal.to_string_lossy()).copied().unwrap_or(0)
    }

    /// What a process opening the files as they are now finds: the database and its WAL
    /// copied while the writer still holds them (no shared-memory index, so SQLite recovers
    /// the log from the file alone, as after `kill -9`), read with the default VFS.
    async fn as_found(db: &Path, into: &Path) -> (i64, i64) {
        let copy = into.join("copy.db");
        std::fs::copy(db, &copy).expect("database copied");
        std::fs::copy(db.with_extension("db-wal"), into.join("copy.db-wal")).expect("WAL copied");
        let mut conn = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&copy))
            .await
            .expect("copy opens");
        sqlx::query_as("SELECT count(*), coalesce(sum(length(v)), 0) FROM t")
            .fetch_one(&mut conn)
            .await
            .expect("copy reads")
    }

    /// A commit of a few hundred frames reaches the file in a few writes (SQLite's own: two per
    /// frame), and all of it is there when the commit returns: a copy taken then recovers
    /// every row, and a reader on the default VFS sees them.
    #[tokio::test]
    async fn a_commit_is_in_the_file_in_a_few_writes_when_it_returns() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("a.db");
        let wal = dir.path().join("a.db-wal");
        let mut conn = writer(&db, "-2000").await;
        let before = writes(&wal);
        let mut tx = conn.begin().await.expect("begins");
        insert(&mut tx, 0..2000, "x", 600).await;
        tx.commit().await.expect("commits");
        let frames = (std::fs::metadata(&wal).expect("WAL").len() - 32) / FRAME;
        let made = writes(&wal) - before;
        assert!(frames > 300, "{frames} frames");
        // One per full run, the commit frame's header with the last run, and its page.
        assert!(
            (made as u64) <= FRAME * frames / super::RUN_AT_MOST as u64 + 3,
            "{made} writes for {frames} frames"
        );
        let copy = tempfile::tempdir().expect("dir");
        assert_eq!(as_found(&db, copy.path()).await, (2000, 2000 * 600));
        let mut reader = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&db))
            .await
            .expect("reader opens");
        let seen: (i64,) = sqlx::query_as("SELECT count(*) FROM t")
            .fetch_one(&mut reader)
            .await
            .expect("reads");
        assert_eq!(seen.0, 2000);
    }

    /// With a cache of a few pages, a transaction spills pages into the WAL and later writes
    /// some of them again in place, so SQLite rewrites the frames' checksums at the commit
    /// (reading each back): the copy taken at the commit still recovers exactly the committed
    /// rows, and a transaction rolled back after spilling leaves nothing behind.
    #[tokio::test]
    async fn frames_written_again_in_a_transaction_are_recovered_as_committed() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("b.db");
        let mut conn = writer(&db, "8").await;
        let mut tx = conn.begin().await.expect("begins");
        insert(&mut tx, 0..400, "y", 500).await;
        for k in (0..400_i64).step_by(3) {
            sqlx::query("UPDATE t SET v = ? WHERE k = ?")
                .bind("z".repeat(700))
                .bind(k)
                .execute(&mut *tx)
                .await
                .expect("updates");
        }
        tx.commit().await.expect("commits");
        let updated = (0..400_i64).step_by(3).count() as i64;
        let expected = (400, updated * 700 + (400 - updated) * 500);
        let copy = tempfile::tempdir().expect("dir");
        assert_eq!(as_found(&db, copy.path()).await, expected);
        let mut tx = conn.begin().await.expect("begins");
        insert(&mut tx, 400..800, "w", 900).await;
        tx.rollback().await.expect("rolls back");
        let copy = tempfile::tempdir().expect("dir");
        assert_eq!(as_found(&db, copy.path()).await, expected);
        let seen: (i64, i64) = sqlx::query_as("SELECT count(*), sum(length(v)) FROM t")
            .fetch_one(&mut conn)
            .await
            .expect("reads");
        assert_eq!(seen, expected);
    }
}
