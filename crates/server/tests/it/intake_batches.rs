//! The group commit on PostgreSQL: a batch held up in the database does not hold up the
//! alerts of other groups behind it (batches gather only briefly while another is in flight).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Backend, TestApp, spawn_app};

const AM: &str = "/api/v1/integrations/demo-alertmanager/alertmanager";

fn webhook(group: &str, fingerprint: &str) -> Value {
    json!({
        "version": "4",
        "groupKey": group,
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "muster",
        "groupLabels": {"alertname": group},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": group, "severity": "critical", "instance": fingerprint},
            "annotations": {"summary": "Checkout is down"},
            "startsAt": "2026-03-29T03:10:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": fingerprint,
        }],
    })
}

async fn post(app: &TestApp, body: &Value) -> u16 {
    let resp = app
        .http
        .post(format!("{}{AM}", app.base))
        .json(body)
        .send()
        .await
        .expect("request");
    resp.status().as_u16()
}

/// Sessions of the app's database waiting on a lock.
async fn lock_waiters(db: &mut sqlx::PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(db)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_waiting_on_a_lock_does_not_hold_up_other_groups() {
    use sqlx::Connection;
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    assert_eq!(post(&app, &webhook("joined", "j1")).await, 200);

    // Another session holds the incident counter: a new group's batch waits for it.
    let mut holder = sqlx::PgConnection::connect(&app.db.url())
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut holder)
        .await
        .expect("begin");
    sqlx::query("SELECT value FROM counters WHERE name = 'incident' FOR UPDATE")
        .execute(&mut holder)
        .await
        .expect("lock the counter");
    let held = {
        let (http, url, body) = (
            app.http.clone(),
            format!("{}{AM}", app.base),
            webhook("new", "n1"),
        );
        tokio::spawn(async move {
            let resp = http.post(url).json(&body).send().await.expect("request");
            resp.status().as_u16()
        })
    };
    let mut probe = sqlx::PgConnection::connect(&app.db.url())
        .await
        .expect("connect");
    let deadline = Instant::now() + Duration::from_secs(3);
    while lock_waiters(&mut probe).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the new group's batch never waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // An alert of an open group needs no counter: answered while the other batch waits.
    assert_eq!(post(&app, &webhook("joined", "j2")).await, 200);
    assert!(
        !held.is_finished(),
        "the open group's alert was answered only after the held batch ended"
    );
    assert_eq!(
        lock_waiters(&mut probe).await,
        1,
        "the held batch stopped waiting"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut holder)
        .await
        .expect("rollback");
    assert_eq!(held.await.expect("task"), 200);
}
