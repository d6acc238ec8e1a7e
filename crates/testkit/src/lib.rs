//! Fresh databases for integration tests, on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `MUSTER_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`);
//! each test gets its own database, dropped afterwards. When PostgreSQL is unreachable a test
//! is skipped with a message, except under `CI=true`, where that is a failure.

pub mod fakes;
pub mod fuzz;

use std::path::Path;

use sqlx::Connection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn pg_admin_url() -> String {
    std::env::var("MUSTER_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A database that lives as long as the value.
pub enum TestDb {
    Sqlite(tempfile::TempDir),
    Postgres { admin: String, name: String },
}

impl TestDb {
    /// The URL to give `Store::connect` or `muster --db`.
    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite(dir) => format!("sqlite://{}/muster.db", dir.path().display()),
            TestDb::Postgres { admin, name } => {
                let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                format!("{base}/{name}")
            }
        }
    }

    /// The PostgreSQL database name, if this is one.
    pub fn pg_name(&self) -> Option<&str> {
        match self {
            TestDb::Postgres { name, .. } => Some(name),
            TestDb::Sqlite(_) => None,
        }
    }

    /// A fresh database, or `None` when PostgreSQL is unreachable outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is unreachable: a PostgreSQL test may not skip there.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(TestDb::Sqlite(tempfile::tempdir().expect("tempdir"))),
            Backend::Postgres => {
                let admin = pg_admin_url();
                let mut conn = match sqlx::PgConnection::connect(&admin).await {
                    Ok(c) => c,
                    Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                        eprintln!("skipping: PostgreSQL unreachable at {admin}: {e}");
                        return None;
                    }
                    Err(e) => panic!("PostgreSQL unreachable at {admin} (CI=true): {e}"),
                };
                let name = format!("muster_t_{:016x}", rand::random::<u64>());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create database");
                Some(TestDb::Postgres { admin, name })
            }
        }
    }

    /// `fresh` for tests that are not async.
    pub fn fresh_blocking(backend: Backend) -> Option<TestDb> {
        block_on(TestDb::fresh(backend))
    }

    /// Runs SQL on the PostgreSQL admin connection (no-op on SQLite).
    pub async fn admin_exec(&self, sql: &str) {
        if let TestDb::Postgres { admin, .. } = self {
            let mut conn = sqlx::PgConnection::connect(admin).await.expect("admin");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(&mut conn)
                .await
                .expect("admin sql");
        }
    }
}

/// Another process's hold on a SQLite file's write lock (`BEGIN IMMEDIATE`), until dropped
/// or [`SqliteWriteLock::release`]d.
pub struct SqliteWriteLock(sqlx::SqliteConnection);

impl SqliteWriteLock {
    /// Rolls the lock's transaction back and closes its connection.
    pub async fn release(mut self) {
        sqlx::query("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("rollback");
        let _ = self.0.close().await;
    }
}

impl TestDb {
    /// Takes the SQLite file's write lock from a connection of its own, as another process
    /// would; `None` on PostgreSQL.
    pub async fn sqlite_write_lock(&self) -> Option<SqliteWriteLock> {
        let TestDb::Sqlite(dir) = self else {
            return None;
        };
        let options =
            sqlx::sqlite::SqliteConnectOptions::new().filename(dir.path().join("muster.db"));
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .expect("open sqlite");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut conn)
            .await
            .expect("take the write lock");
        Some(SqliteWriteLock(conn))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { admin, name } = self {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let admin = admin.clone();
            // On a thread of its own: the test's runtime may be shutting down, or absent.
            let _ = std::thread::spawn(move || {
                block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                    }
                })
            })
            .join();
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

/// Copies a directory tree (e.g. the demo config, to change it in a test).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy file");
        }
    }
}

/// The repository's demo configuration.
pub fn demo_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}
pub mod language_model;
