//! Opening databases: URLs, files, migrations, failures and recovery.

use std::time::{Duration, Instant};

use muster_core::{IncidentNumber, Severity};
use muster_store::{Store, StoreError};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_processes_starting_on_one_sqlite_file_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("muster.db").display());
    let starts: Vec<_> = (0..4)
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
    let (next, _) = declare(&stores[3], "y", Severity::Sev2, &[]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_pool_recovers_after_its_connections_are_killed() {
    with_pg(|db| async move {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let url = db.pg_url().expect("postgres").to_string();
        // Kill every server process of this database but ours, as a restart or a failover
        // would.
        let mut admin = {
            use sqlx::Connection;
            sqlx::PgConnection::connect(&url).await.unwrap()
        };
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap();
        assert!(!killed.is_empty(), "the store held no connection to kill");
        // A call may see the dead connection once, and then only as Unavailable.
        for attempt in 0..3 {
            match db.store.incident(inc.id).await {
                Ok(found) => {
                    assert_eq!(found, Some(inc.clone()));
                    break;
                }
                Err(StoreError::Unavailable(_)) if attempt < 2 => continue,
                Err(e) => panic!("attempt {attempt}: {e:?}"),
            }
        }
        let (again, _) = declare(&db.store, "y", Severity::Sev2, &[]).await;
        assert_eq!(again.id, IncidentNumber(2));
    })
    .await
}
