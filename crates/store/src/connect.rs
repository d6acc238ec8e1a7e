//! Opening the database: URL parsing, pools and migrations.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::StoreError;
use crate::error::{db_err, is_sqlite_busy, migrate_err};

/// How long a caller waits for a connection before getting `Unavailable`. Also bounds how
/// long `connect` keeps retrying a database that refuses connections.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on another process's write lock before answering "busy".
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_READERS: u32 = 4;
/// The writer's own automatic checkpoint, in WAL pages: only a safety net. Checkpoints are the
/// background checkpointer's job ([`checkpoint_wal`]), so the single writer never copies the
/// log into the database inside a commit — intake's group commit is the one serial step.
/// Under steady intake the log only starts over from its beginning after a checkpoint the
/// writer runs itself (a background one never catches up with a writer that keeps
/// appending), and that one syncs the database file: at 8,192 pages it was 7.4 % of the
/// writer's samples at one alert per request, most of it the sync. At 32,768 (128 MiB of log
/// at most, kept on disk at its largest size) it comes a quarter as often, with the background
/// checkpointer's copy done already.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "32768";
/// How often the checkpointer copies the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// How soon it goes again when the last checkpoint found at least [`BUSY_LOG_PAGES`] in the
/// log: under a burst of intake the log grows by up to 35,000 pages a second, and whatever
/// the background has not copied when the writer's safety net trips is copied inside a
/// commit.
const CHECKPOINT_SOON: Duration = Duration::from_millis(25);
/// A log this long (in pages; an eighth of the writer's net) is a burst.
const BUSY_LOG_PAGES: i64 = 4096;
const PG_MAX_CONNECTIONS: u32 = 10;
/// PostgreSQL ends a session left idle inside a transaction this long
/// (`idle_in_transaction_session_timeout`), and its locks with it: a node that stalls
/// mid-transaction (stopped, frozen, cut off without a reset) holds the other nodes up no
/// longer. The store never waits on anything but the database inside a transaction, so a
/// healthy node never comes near it; the stalled node's transaction rolls back, and what it
/// was doing is answered 5xx or retried after its lease.
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// No statement waits on a lock longer than this (`lock_timeout`); the waiter's transaction
/// fails as a retryable conflict (503 + Retry-After). It must stay below
/// [`IDLE_IN_TRANSACTION_TIMEOUT`]: a stalled node's other sessions, queued behind its own
/// idle transaction, then give up before that one is ended, so the lock passes to a live
/// node. Waiting longer, each of them would take the lock in turn, go idle holding it (their
/// node is still stopped) and add one more timeout to the stall.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(4);
const _: () = assert!(LOCK_TIMEOUT.as_millis() < IDLE_IN_TRANSACTION_TIMEOUT.as_millis());

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "timers_outbox",
        include_str!("../migrations/sqlite/0002_timers_outbox.sql"),
    ),
    (
        3,
        "policy_state",
        include_str!("../migrations/sqlite/0003_policy_state.sql"),
    ),
    (
        4,
        "overrides_audit",
        include_str!("../migrations/sqlite/0004_overrides_audit.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../migrations/sqlite/0005_alerts.sql"),
    ),
    (
        7,
        "slack",
        include_str!("../migrations/sqlite/0007_slack.sql"),
    ),
    (
        8,
        "status_page_search",
        include_str!("../migrations/sqlite/0008_status_page_search.sql"),
    ),
    (
        9,
        "brief_reads",
        include_str!("../migrations/sqlite/0009_brief_reads.sql"),
    ),
    (
        10,
        "alert_groups",
        include_str!("../migrations/sqlite/0010_alert_groups.sql"),
    ),
    (
        12,
        "inbox",
        include_str!("../migrations/sqlite/0012_inbox.sql"),
    ),
    (
        13,
        "schedule_versions",
        include_str!("../migrations/sqlite/0013_schedule_versions.sql"),
    ),
    (
        14,
        "exercises",
        include_str!("../migrations/sqlite/0014_exercises.sql"),
    ),
    (
        15,
        "token_expiry",
        include_str!("../migrations/sqlite/0015_token_expiry.sql"),
    ),
    (
        16,
        "retention",
        include_str!("../migrations/sqlite/0016_retention.sql"),
    ),
    (
        17,
        "ack_links",
        include_str!("../migrations/sqlite/0017_ack_links.sql"),
    ),
    (
        18,
        "token_teams",
        include_str!("../migrations/sqlite/0018_token_teams.sql"),
    ),
    (
        19,
        "web_sessions",
        include_str!("../migrations/sqlite/0019_web_sessions.sql"),
    ),
    (
        20,
        "timeline_at",
        include_str!("../migrations/sqlite/0020_timeline_at.sql"),
    ),
    (
        21,
        "page_links",
        include_str!("../migrations/sqlite/0021_page_links.sql"),
    ),
    (
        22,
        "timeline_digests",
        include_str!("../migrations/sqlite/0022_timeline_digests.sql"),
    ),
    (
        23,
        "alerts_lean",
        include_str!("../migrations/sqlite/0023_alerts_lean.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "timers_outbox",
        include_str!("../migrations/postgres/0002_timers_outbox.sql"),
    ),
    (
        3,
        "policy_state",
        include_str!("../migrations/postgres/0003_policy_state.sql"),
    ),
    (
        4,
        "overrides_audit",
        include_str!("../migrations/postgres/0004_overrides_audit.sql"),
    ),
    (
        5,
        "alerts",
        include_str!("../migrations/postgres/0005_alerts.sql"),
    ),
    (
        7,
        "slack",
        include_str!("../migrations/postgres/0007_slack.sql"),
    ),
    (
        8,
        "status_page_search",
        include_str!("../migrations/postgres/0008_status_page_search.sql"),
    ),
    (
        9,
        "brief_reads",
        include_str!("../migrations/postgres/0009_brief_reads.sql"),
    ),
    (
        10,
        "alert_groups",
        include_str!("../migrations/postgres/0010_alert_groups.sql"),
    ),
    (
        11,
        "statement_triggers",
        include_str!("../migrations/postgres/0011_statement_triggers.sql"),
    ),
    (
        12,
        "inbox",
        include_str!("../migrations/postgres/0012_inbox.sql"),
    ),
    (
        13,
        "schedule_versions",
        include_str!("../migrations/postgres/0013_schedule_versions.sql"),
    ),
    (
        14,
        "exercises",
        include_str!("../migrations/postgres/0014_exercises.sql"),
    ),
    (
        15,
        "token_expiry",
        include_str!("../migrations/postgres/0015_token_expiry.sql"),
    ),
    (
        16,
        "retention",
        include_str!("../migrations/postgres/0016_retention.sql"),
    ),
    (
        17,
        "ack_links",
        include_str!("../migrations/postgres/0017_ack_links.sql"),
    ),
    (
        18,
        "token_teams",
        include_str!("../migrations/postgres/0018_token_teams.sql"),
    ),
    (
        19,
        "web_sessions",
        include_str!("../migrations/postgres/0019_web_sessions.sql"),
    ),
    (
        20,
        "timeline_at",
        include_str!("../migrations/postgres/0020_timeline_at.sql"),
    ),
    (
        21,
        "page_links",
        include_str!("../migrations/postgres/0021_page_links.sql"),
    ),
    (
        22,
        "timeline_digests",
        include_str!("../migrations/postgres/0022_timeline_digests.sql"),
    ),
    (
        23,
        "alerts_incident_unchecked",
        include_str!("../migrations/postgres/0023_alerts_incident_unchecked.sql"),
    ),
    (
        24,
        "intake_prefetch",
        include_str!("../migrations/postgres/0024_intake_prefetch.sql"),
    ),
];

fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

pub(crate) enum Target {
    Sqlite(PathBuf),
    Postgres(Box<PgConnectOptions>),
}

/// Parses a database URL. Error messages name the scheme at most, never the whole URL
/// (it may carry a password).
pub(crate) fn parse_url(url: &str) -> Result<Target, StoreError> {
    let url = url.trim();
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.contains('?') {
            return Err(StoreError::BadUrl(
                "sqlite://PATH takes no query parameters".into(),
            ));
        }
        if path.is_empty() {
            return Err(StoreError::BadUrl("sqlite:// needs a file path".into()));
        }
        if path == ":memory:" {
            return Err(StoreError::BadUrl(
                "in-memory SQLite is not supported; give a file path".into(),
            ));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return PgConnectOptions::from_str(url)
            .map(|options| Target::Postgres(Box::new(options)))
            .map_err(|e| StoreError::BadUrl(format!("cannot parse the postgres URL: {e}")));
    }
    let scheme = url.split_once("://").map_or("(none)", |(scheme, _)| scheme);
    Err(StoreError::BadUrl(format!(
        "unsupported scheme `{scheme}`; expected sqlite://PATH or postgres://…"
    )))
}

pub(crate) struct SqlitePools {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
}

pub(crate) async fn open_sqlite(path: &Path) -> Result<SqlitePools, StoreError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::Internal(format!("cannot create folder {}: {e}", parent.display()))
        })?;
    }
    create_private(path)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        // With WAL, NORMAL loses no committed transaction when the process dies, only
        // (possibly) the last ones when the machine loses power.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);

    // One writer connection: writers queue in the pool instead of meeting SQLITE_BUSY.
    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // No ping before each use: a SQLite connection is a file in this process, with
        // nothing that can hang up, and the ping is a hand-off to the connection's thread
        // and back that every write (every group commit) would wait for.
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None);
    crate::wal_gather::register()?;
    let writer_options = options
        .clone()
        .create_if_missing(true)
        // Its WAL frames go to the file once per commit, not twice per frame (`wal_gather`).
        .vfs(crate::wal_gather::NAME)
        .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)
        // A multi-row statement inside a transaction keeps a statement journal (to undo just
        // that statement); in memory, not a temporary file opened, written and unlinked.
        .pragma("temp_store", "memory");
    let writer = retry_busy(|| writer.clone().connect_with(writer_options.clone()))
        .await
        .map_err(|e| sqlite_open_err(path, e))?;

    if let Err(e) = migrate_sqlite(&writer).await {
        writer.close().await;
        return Err(e);
    }

    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // As the writer: nothing to ping.
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None);
    let reader = retry_busy(|| reader.clone().connect_with(options.clone())).await;
    match reader {
        Ok(reader) => Ok(SqlitePools { writer, reader }),
        Err(e) => {
            writer.close().await;
            Err(sqlite_open_err(path, e))
        }
    }
}

/// Creates a missing database file empty and readable by its owner only (0600), before SQLite
/// opens it: SQLite gives its `-wal` and `-shm` files the database file's mode, so the whole
/// database stays private whatever the umask. An existing file is left as it is.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Internal(format!(
            "cannot create {}: {e}",
            path.display()
        ))),
    }
}

/// Runs `open` again while SQLite answers "busy", for up to the busy timeout. Needed because
/// two processes opening a new file at once both switch it to WAL at connect time, and SQLite
/// answers one of them SQLITE_BUSY at once (a lock upgrade it will not wait for) instead of
/// invoking the busy handler.
async fn retry_busy<T, F, Fut>(mut open: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let started = std::time::Instant::now();
    let mut delay = Duration::from_millis(10);
    loop {
        match open().await {
            Err(e) if is_sqlite_busy(&e) && started.elapsed() < SQLITE_BUSY_TIMEOUT => {
                tracing::debug!(error = %e, "SQLite busy while opening; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// Opening a file fails for reasons waiting will not fix (permissions, a folder in the way,
/// not a database), so only "busy" and pool time-outs stay `Unavailable`: callers retry those.
fn sqlite_open_err(path: &Path, e: sqlx::Error) -> StoreError {
    if is_sqlite_busy(&e) {
        return db_err(e);
    }
    match db_err(e) {
        StoreError::Unavailable(m) | StoreError::Internal(m) => {
            StoreError::Internal(format!("cannot open {}: {m}", path.display()))
        }
        other => other,
    }
}

/// Applies the SQLite migrations while holding the database's write lock, so two processes
/// opening one file at once do not both try to create the schema.
async fn migrate_sqlite(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    // Inside this transaction the migrator's own transactions become savepoints.
    let conn: &mut sqlx::SqliteConnection = &mut tx;
    migrator(SQLITE_MIGRATIONS)
        .run_direct(None, conn, false)
        .await
        .map_err(migrate_err)?;
    tx.commit().await.map_err(db_err)
}

/// Applies the PostgreSQL migrations; sqlx's migrator holds an advisory lock meanwhile, so
/// processes starting together on one database take turns.
///
/// Both use `run_direct` rather than `run`: `run`'s `Acquire` bound keeps the compiler from
/// proving `connect`'s future `Send` (sqlx's own comment names `run_direct` as the way round).
async fn migrate_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let conn: &mut sqlx::PgConnection = &mut conn;
    // A node starting beside one that is migrating waits for it however long that takes.
    sqlx::query("SET lock_timeout = 0")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    let migrated = migrator(POSTGRES_MIGRATIONS)
        .run_direct(None, &mut *conn, false)
        .await
        .map_err(migrate_err);
    // Back to the session's start-up value, LOCK_TIMEOUT, before the pool lends it out.
    sqlx::query("RESET lock_timeout")
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    migrated
}

pub(crate) async fn open_postgres(options: PgConnectOptions) -> Result<PgPool, StoreError> {
    // Host and port only: the URL may hold a password.
    let where_ = format!("{}:{}", options.get_host(), options.get_port());
    let options = options.options([
        (
            "idle_in_transaction_session_timeout",
            format!("{}ms", IDLE_IN_TRANSACTION_TIMEOUT.as_millis()),
        ),
        ("lock_timeout", format!("{}ms", LOCK_TIMEOUT.as_millis())),
    ]);
    let pool = PgPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        // Checks every connection before handing it out, so connections broken by a database
        // restart are replaced instead of failing a request. (Pinging only connections idle
        // for a second was tried: no measurable gain, and a connection used just before a
        // restart then failed its next call; BENCHMARKS.md.)
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(|e| match db_err(e) {
            StoreError::Unavailable(m) => StoreError::Unavailable(format!(
                "PostgreSQL at {where_} did not answer within {} s: {m}",
                ACQUIRE_TIMEOUT.as_secs()
            )),
            other => other,
        })?;
    if let Err(e) = migrate_postgres(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}

/// Copies the WAL into the database every [`CHECKPOINT_EVERY`] from a reader connection
/// (`PASSIVE`: it waits for no reader and no writer), until `stop` is dropped with the store or
/// the pool is closed. A failure is logged; the writer's own checkpoint remains as a net.
pub(crate) async fn checkpoint_wal(reader: SqlitePool, mut stop: tokio::sync::watch::Receiver<()>) {
    let mut wait = CHECKPOINT_EVERY;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        if reader.is_closed() {
            return;
        }
        // The answer is (busy, pages in the log, pages copied).
        match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
            .fetch_one(&reader)
            .await
        {
            Ok((_, log, _)) if log >= BUSY_LOG_PAGES => wait = CHECKPOINT_SOON,
            Ok(_) => wait = CHECKPOINT_EVERY,
            Err(e) => {
                wait = CHECKPOINT_EVERY;
                tracing::debug!(error = %e, "background WAL checkpoint failed");
            }
        }
    }
}
