//! Opening databases: URLs, files, migrations, failures and recovery.

use std::time::{Duration, Instant};

use muster_core::{IncidentNumber, Severity};
use muster_store::{LOCK_TIMEOUT, Store, StoreError};

use crate::harness::{FreshPg, declare, with_pg};

#[tokio::test]
async fn unsupported_urls_are_bad_urls_and_never_echo_secrets() {
    for url in [
        "mysql://root:hunter2@db/muster",
        "http://example.com",
        "muster.db",
        "",
        "sqlite://",
        "sqlite://:memory:",
        "sqlite://data.db?mode=memory",
        "postgres://u:hunter2@host:notaport/db",
    ] {
        let err = Store::connect(url).await.unwrap_err();
        assert!(matches!(err, StoreError::BadUrl(_)), "{url:?}: {err:?}");
        assert!(!err.to_string().contains("hunter2"), "{url:?}: {err}");
    }
}

#[tokio::test]
async fn postgres_where_nothing_listens_is_unavailable_within_seconds() {
    let started = Instant::now();
    let err = Store::connect("postgres://postgres:hunter2@127.0.0.1:1/muster")
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn sqlite_creates_folders_and_uses_wal_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a").join("b").join("muster.db");
    let url = format!("sqlite://{}", path.display());
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.ping().await.unwrap();
    assert!(path.is_file());
    let (inc, _) = declare(&store, "x", Severity::Sev2, &[]).await;
    // Dropped without `close`, as a killed process would leave it.
    drop(store);

    let mut raw = {
        use sqlx::Connection;
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path);
        sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap()
    };
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    assert_eq!(mode, "wal");

    let store = Store::connect(&url).await.unwrap();
    assert_eq!(store.incident(inc.id).await.unwrap(), Some(inc));
    store.close().await;
    let err = store.ping().await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn sqlite_checkpoints_in_the_background_not_in_the_writers_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("muster.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let before = size();
    // A few hundred WAL frames: under the writer's own threshold (and SQLite's default of
    // 1,000), so only the background checkpointer copies them into the database file.
    for n in 0..40 {
        declare(
            &store,
            &format!("incident {n} {}", "x".repeat(150)),
            Severity::Sev3,
            &[],
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while size() <= before {
        assert!(
            Instant::now() < deadline,
            "the database file never grew: no checkpoint ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_starting_on_one_sqlite_file_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("muster.db").display());
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for start in starts {
        stores.push(start.await.unwrap().expect("concurrent start"));
    }
    let (inc, _) = declare(&stores[0], "x", Severity::Sev2, &[]).await;
    let (next, _) = declare(&stores[7], "y", Severity::Sev2, &[]).await;
    assert_eq!((inc.id, next.id), (IncidentNumber(1), IncidentNumber(2)));
    assert_eq!(stores[2].incident(inc.id).await.unwrap(), Some(inc));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_starting_on_one_postgres_database_migrate_once() {
    let Some(fresh) = FreshPg::create().await else {
        return;
    };
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = fresh.url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        })
        .collect();
    let mut results = Vec::new();
    for start in starts {
        results.push(start.await.unwrap());
    }
    let outcome = async {
        let stores: Vec<Store> = results
            .into_iter()
            .map(|r| r.expect("concurrent start"))
            .collect();
        assert_eq!(stores[0].backend(), "postgres");
        let (inc, _) = declare(&stores[1], "x", Severity::Sev2, &[]).await;
        assert_eq!(inc.id, IncidentNumber(1));
        assert_eq!(stores[2].incident(inc.id).await.unwrap(), Some(inc));
        for store in stores {
            store.close().await;
        }
    };
    let outcome = tokio::spawn(outcome).await;
    fresh.drop_database().await;
    outcome.unwrap();
}

/// Kills every server process of the test's database but the killer's own, as a restart or
/// a failover would.
async fn kill_the_store_sessions(db: &crate::harness::TestDb) {
    use sqlx::Connection;
    let url = db.pg_url().expect("postgres");
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the store held no connection to kill");
}

/// A pooled connection is checked before it is lent: one broken by a restart while it sat
/// in the pool is replaced, and every call succeeds the first time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_pool_recovers_after_its_connections_are_killed() {
    with_pg(|db| async move {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        kill_the_store_sessions(&db).await;
        // Every connection is checked before it is lent: none killed in the pool fails a call.
        for _ in 0..3 {
            let found = db.store.incident(inc.id).await;
            assert!(
                matches!(&found, Ok(Some(i)) if i.id == inc.id),
                "a call failed on a connection killed in the pool: {found:?}"
            );
        }
        let (again, _) = declare(&db.store, "y", Severity::Sev2, &[]).await;
        assert_eq!(again.id, IncidentNumber(2));
    })
    .await
}

/// A lock held by a stalled session is waited on for `LOCK_TIMEOUT` only, then refused as a
/// retryable conflict that consumed nothing; with the lock gone the same call succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_is_waited_on_no_longer_than_the_lock_timeout() {
    with_pg(|db| async move {
        use sqlx::Connection;
        let url = db.pg_url().expect("postgres").to_string();
        let mut stalled = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut stalled).await.unwrap();
        sqlx::query("SELECT value FROM counters WHERE name = 'incident' FOR UPDATE")
            .execute(&mut stalled)
            .await
            .unwrap();

        let started = Instant::now();
        let changes = muster_core::declare("x", Severity::Sev2, &[], &crate::harness::vocab())
            .expect("valid declare");
        let waited = tokio::time::timeout(
            LOCK_TIMEOUT + Duration::from_secs(20),
            db.store.declare("alice", crate::harness::t0(), changes),
        )
        .await;
        let took = started.elapsed();
        let Ok(answer) = waited else {
            panic!("the declare still waited for the lock after {took:?}");
        };
        match answer {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("retry"), "{m}"),
            other => panic!("expected a retryable refusal, got {other:?}"),
        }
        assert!(
            took >= LOCK_TIMEOUT,
            "refused after {took:?}, before the lock timeout"
        );

        sqlx::query("ROLLBACK").execute(&mut stalled).await.unwrap();
        let (inc, _) = declare(&db.store, "y", Severity::Sev2, &[]).await;
        assert_eq!(
            inc.id,
            IncidentNumber(1),
            "the refused declare took a number"
        );
    })
    .await
}

#[tokio::test]
async fn unusable_sqlite_paths_fail_fast_and_are_not_retryable() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a database, and not a folder").unwrap();
    let cases = [
        ("parent is a file", file.join("muster.db")),
        ("path is a folder", dir.path().to_path_buf()),
        ("not a database", file.clone()),
    ];
    for (what, path) in cases {
        let started = Instant::now();
        let err = Store::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_err();
        // `muster serve` retries Unavailable forever; these would never heal.
        assert!(matches!(err, StoreError::Internal(_)), "{what}: {err:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "{what}: slow");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_sqlite_file_write_concurrently() {
    // Two `Store`s on one file behave like two processes: each has its own writer
    // connection, so they meet at SQLite's lock (BEGIN IMMEDIATE + busy_timeout).
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("muster.db").display());
    let stores = [
        Store::connect(&url).await.unwrap(),
        Store::connect(&url).await.unwrap(),
    ];
    let (inc, _) = declare(&stores[0], "x", Severity::Sev2, &[]).await;
    let mut tasks = Vec::new();
    for w in 0..20usize {
        let store = stores[w % 2].clone();
        tasks.push(tokio::spawn(async move {
            let command = muster_core::Command::AddNote {
                text: format!("note {w}"),
            };
            crate::harness::run(&store, inc.id, "bob", crate::harness::at(w as i64), command).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let snapshot = crate::harness::assert_consistent(&stores[1], inc.id).await;
    assert_eq!(snapshot.last_seq, 22);
}

const CRASH_CHILD_DB: &str = "MUSTER_STORE_CRASH_CHILD_DB";
const CRASH_AFTER: i64 = 30;

/// Not a test by itself: the child process of `sqlite_committed_writes_survive_kill_9`,
/// which starts this test binary again with `CRASH_CHILD_DB` set. Without it, it does nothing.
#[tokio::test]
async fn crash_child_process_body() {
    let Ok(url) = std::env::var(CRASH_CHILD_DB) else {
        return;
    };
    let store = Store::connect(&url).await.unwrap();
    // Writes until killed (bounded, in case the parent died first).
    for i in 0..5_000 {
        let (inc, _) = declare(&store, &format!("crash {i}"), Severity::Sev2, &[]).await;
        let command = muster_core::Command::AddNote {
            text: format!("note {i}"),
        };
        crate::harness::run(&store, inc.id, "bob", crate::harness::at(i), command)
            .await
            .unwrap();
        println!("committed {}", inc.id.0);
    }
}

#[test]
fn sqlite_committed_writes_survive_kill_9() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("muster.db").display());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "connect::crash_child_process_body",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_DB, &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut committed = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            committed = n.parse().unwrap();
            if committed >= CRASH_AFTER {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructors, no checkpoint, mid-transaction
    child.wait().unwrap();
    assert!(
        committed >= CRASH_AFTER,
        "the child stopped after {committed}"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let listed = store
            .list_incidents(&muster_store::IncidentFilter {
                limit: Some(500),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut numbers: Vec<i64> = listed.iter().map(|i| i.id.0).collect();
        numbers.sort_unstable();
        let last = *numbers.last().unwrap();
        assert!(
            last >= committed,
            "lost committed incidents: {last} < {committed}"
        );
        assert_eq!(numbers, (1..=last).collect::<Vec<_>>());
        for n in 1..=committed {
            let incident = crate::harness::assert_consistent(&store, IncidentNumber(n)).await;
            assert_eq!(incident.last_seq, 3, "INC-{n} lost its note");
        }
        let (next, _) = declare(&store, "after the crash", Severity::Sev1, &[]).await;
        assert_eq!(next.id.0, last + 1);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_writers_do_not_fail_when_the_server_defaults_to_serializable() {
    with_pg(|mut db| async move {
        db.raw_execute(
            "DO $$ BEGIN EXECUTE format(\
             'ALTER DATABASE %I SET default_transaction_isolation = %L', \
             current_database(), 'serializable'); END $$",
        )
        .await
        .unwrap();
        db.reopen().await;
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let tasks: Vec<_> = (0..25usize)
            .map(|w| {
                let store = db.store.clone();
                tokio::spawn(async move {
                    let command = muster_core::Command::AddNote {
                        text: format!("note {w}"),
                    };
                    let now = crate::harness::at(w as i64);
                    crate::harness::run(&store, inc.id, "bob", now, command).await
                })
            })
            .collect();
        for task in tasks {
            task.await
                .unwrap()
                .expect("no serialization failure may surface");
        }
        let snapshot = crate::harness::assert_consistent(&db.store, inc.id).await;
        assert_eq!(snapshot.last_seq, 27);
    })
    .await
}

/// The database file and its `-wal` and `-shm` are readable by their owner only, whatever
/// the umask (022 here would give 0644).
#[cfg(unix)]
#[tokio::test]
async fn sqlite_files_are_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("private.db");
    let store = Store::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    declare(&store, "x", Severity::Sev2, &[]).await;
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
}

/// The vendored sqlx-core (`vendor/README.md`) sets TCP_NODELAY on its PostgreSQL sockets;
/// without it every two-part message waits ~40 ms for the server's delayed ACK. Read from the
/// sockets this test process holds to the database, so losing the patch, the vendored file or
/// the `[patch.crates-io]` entry fails it.
#[tokio::test]
async fn vendored_sqlx_keeps_tcp_nodelay() {
    use std::os::fd::BorrowedFd;

    let Some(fresh) = FreshPg::create().await else {
        return;
    };
    let store = Store::connect(&fresh.url).await.expect("connect");
    declare(&store, "nodelay", Severity::Sev3, &["checkout"]).await;
    let port: u16 = fresh
        .url
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let mut checked = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Some(fd) = entry
            .ok()
            .and_then(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        else {
            continue;
        };
        // SAFETY: the pool keeps its connections (and their descriptors) open while `store`
        // lives; a descriptor that is not a socket only makes the calls below fail.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let sock = socket2::SockRef::from(&borrowed);
        let to_db = sock
            .peer_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .is_some_and(|a| a.port() == port);
        if to_db {
            checked += 1;
            assert!(
                sock.tcp_nodelay().expect("getsockopt"),
                "fd {fd}: TCP_NODELAY is off"
            );
        }
    }
    assert!(checked > 0, "no socket to the database found");
    drop(store);
}

/// SQLite's migration 23 rebuilds `alerts` (no AUTOINCREMENT, no `alerts_status`): a database
/// made by the migrations before it keeps every alert with its id, its indexes but the dropped
/// one, and numbers the next alert on from the highest id.
#[tokio::test]
async fn sqlite_alerts_rebuild_keeps_every_alert_and_its_id() {
    use sqlx::{Connection, SqliteConnection, sqlite::SqliteConnectOptions};
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("upgrade.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (before, rebuild): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|p| p.file_name().unwrap().to_string_lossy().as_ref() < "0023");
    assert!(rebuild[0].ends_with("0023_alerts_lean.sql"), "{rebuild:?}");
    for file in &before {
        let sql = std::fs::read_to_string(file).unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::raw_sql(
        "INSERT INTO incidents (number, title, severity, status, services, declared_at, \
         updated_at, last_seq, state) VALUES (7, 't', 'sev2', 'investigating', '[]', 0, 0, 0, '{}');
         INSERT INTO alerts (id, integration, dedup_key, group_key, status, service, severity, \
         summary, labels, annotations, payload, count, first_seen, last_seen, resolved_at, \
         incident) VALUES \
         (3, 'am', 'a', 'g', 'resolved', 's', 'critical', 'one', '{\"x\":\"1\"}', '{}', '{}', 2, 10, 20, 20, 7), \
         (9, 'am', 'b', 'g', 'firing', 's', 'warning', 'two', '{}', '{\"y\":\"2\"}', '{\"p\":1}', 1, 30, 30, NULL, 7), \
         (12, 'pd', 'c', 'h', 'acknowledged', 't', 'info', 'three', '{}', '{}', '{}', 5, 40, 50, NULL, NULL);",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let dump = "SELECT id || '|' || integration || '|' || dedup_key || '|' || group_key || '|' \
        || status || '|' || service || '|' || severity || '|' || summary || '|' || labels || '|' \
        || annotations || '|' || payload || '|' || count || '|' || first_seen || '|' || last_seen \
        || '|' || coalesce(resolved_at, '-') || '|' || coalesce(incident, '-') FROM alerts ORDER BY id";
    let rows_before: Vec<String> = sqlx::query_scalar(dump).fetch_all(&mut conn).await.unwrap();
    assert_eq!(rows_before.len(), 3);

    let sql = std::fs::read_to_string(&rebuild[0]).unwrap();
    let mut tx = conn.begin().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let rows_after: Vec<String> = sqlx::query_scalar(dump).fetch_all(&mut conn).await.unwrap();
    assert_eq!(rows_after, rows_before);
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'alerts' ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        indexes,
        [
            "alerts_incident",
            "alerts_open_key",
            "alerts_resolved_payload"
        ]
    );
    let table: String = sqlx::query_scalar(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'alerts'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(!table.contains("AUTOINCREMENT"), "{table}");
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO alerts (integration, dedup_key, group_key, status, service, severity, \
         summary, labels, annotations, payload, count, first_seen, last_seen, incident) VALUES \
         ('am', 'd', 'g', 'firing', 's', 'critical', 'four', '{}', '{}', '{}', 1, 60, 60, 7) \
         RETURNING id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(id, 13);
    // The foreign key on the incident stayed.
    let err = sqlx::query(
        "INSERT INTO alerts (integration, dedup_key, group_key, status, service, severity, \
         summary, labels, annotations, payload, count, first_seen, last_seen, incident) VALUES \
         ('am', 'e', 'g', 'firing', 's', 'critical', 'five', '{}', '{}', '{}', 1, 60, 60, 99)",
    )
    .execute(&mut conn)
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("FOREIGN KEY constraint failed"),
        "{err}"
    );
}
