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
use crate::error::{db_err, migrate_err};

/// How long a caller waits for a connection before getting `Unavailable`. Also bounds how
/// long `connect` keeps retrying a database that refuses connections.
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long SQLite waits on another process's write lock before answering "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const SQLITE_READERS: u32 = 4;
const PG_MAX_CONNECTIONS: u32 = 10;

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/sqlite/0001_init.sql"),
)];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[(
    1,
    "init",
    include_str!("../migrations/postgres/0001_init.sql"),
)];

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
    Postgres(PgConnectOptions),
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
            .map(Target::Postgres)
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
            StoreError::Unavailable(format!("cannot create folder {}: {e}", parent.display()))
        })?;
    }
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
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options.clone().create_if_missing(true))
        .await
        .map_err(db_err)?;

    if let Err(e) = migrate_sqlite(&writer).await {
        writer.close().await;
        return Err(e);
    }

    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(options)
        .await;
    match reader {
        Ok(reader) => Ok(SqlitePools { writer, reader }),
        Err(e) => {
            writer.close().await;
            Err(db_err(e))
        }
    }
}

/// Applies the SQLite migrations while holding the database's write lock, so two processes
/// opening one file at once do not both try to create the schema.
async fn migrate_sqlite(writer: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    // Inside this transaction the migrator's own transactions become savepoints.
    let conn: &mut sqlx::SqliteConnection = &mut tx;
    migrator(SQLITE_MIGRATIONS)
        .run(conn)
        .await
        .map_err(migrate_err)?;
    tx.commit().await.map_err(db_err)
}

async fn migrate_postgres(pool: &PgPool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    let conn: &mut sqlx::PgConnection = &mut conn;
    migrator(POSTGRES_MIGRATIONS)
        .run(conn)
        .await
        .map_err(migrate_err)
}

pub(crate) async fn open_postgres(options: PgConnectOptions) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(PG_MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .max_lifetime(Duration::from_secs(1800))
        // Checks idle connections before handing them out, so connections broken by a
        // database restart are replaced instead of failing a request.
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .map_err(db_err)?;
    // sqlx's migrator holds a PostgreSQL advisory lock while it runs, so processes starting
    // together on one database take turns.
    if let Err(e) = migrate_postgres(&pool).await {
        pool.close().await;
        return Err(e);
    }
    Ok(pool)
}
