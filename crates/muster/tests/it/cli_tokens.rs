//! `muster token create|list|revoke` against a running `muster serve`, on SQLite and on
//! PostgreSQL: a revoked or expired token is refused at once, feed tokens open only the
//! calendar feeds, and list never shows a secret.

use std::time::{Duration, Instant};

use muster_testkit::{Backend, TestDb};

use crate::cli::{Server, run, stdout, wait_for};

/// GET with a bearer token (or `?token=` already in the URL): the status.
fn status(url: &str, token: Option<&str>) -> u16 {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut req = reqwest::Client::new().get(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().status().as_u16()
    })
}

fn create(db: &str, name: &str, role: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "token", "create", "--name", name, "--role", role, "--db", db,
    ];
    args.extend_from_slice(extra);
    let out = run(&args, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().last().unwrap().trim().to_string()
}

fn token_lifecycle(backend: Backend) {
    let Some(db) = TestDb::fresh_blocking(backend) else {
        return;
    };
    let db = db.url();
    let ops = create(&db, "ops", "responder", &[]);
    let temp = create(&db, "temp", "viewer", &["--expires-in", "3s"]);
    let created = Instant::now();
    let feed = create(&db, "calendar", "feed", &["--expires-in", "30d"]);
    let server = Server::start(&db);
    let api = format!("{}/api/v1/incidents", server.url);
    let ical = |token: &str| format!("{}/ical/people/alice.ics?token={token}", server.url);
    assert_eq!(status(&api, Some(&ops)), 200);
    assert_eq!(status(&api, Some(&feed)), 401, "a feed token opens no API");
    assert_eq!(status(&ical(&feed), None), 200);
    assert_eq!(
        status(&ical(&ops), None),
        403,
        "no full token in a calendar URL"
    );

    // The table: names, roles, expiries, never a secret.
    let out = run(&["token", "list", "--db", &db], &[]);
    assert!(out.status.success());
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(lines[0].starts_with("NAME "), "{table}");
    assert!(
        lines[1].starts_with("calendar ") && lines[1].contains(" feed "),
        "{table}"
    );
    assert!(
        lines[2].starts_with("ops ") && lines[2].ends_with(" never"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("temp ") && lines[3].contains(" viewer "),
        "{table}"
    );
    for secret in [&ops, &temp, &feed] {
        assert!(!table.contains(&secret[4..]), "{table}");
    }

    // Revoked: refused from the next request.
    let out = run(&["token", "revoke", "ops", "--db", &db], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "Revoked token `ops`.\n");
    assert_eq!(status(&api, Some(&ops)), 401);
    let out = run(&["token", "revoke", "ops", "--db", &db], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no token named `ops` (or it is already revoked)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Expired: refused once its time has passed (the server reads the real clock).
    if created.elapsed() < Duration::from_secs(3) {
        assert_eq!(status(&api, Some(&temp)), 200, "valid before its expiry");
    }
    assert!(
        wait_for(|| status(&api, Some(&temp)) == 401),
        "expired token still accepted"
    );
    let out = run(&["token", "list", "--json", "--db", &db], &[]);
    let listed: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<(&str, &str, bool)> = listed
        .iter()
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["role"].as_str().unwrap(),
                t["expired"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("calendar", "feed", false), ("temp", "viewer", true)],
        "the revoked token is gone from the list"
    );

    // A token limited to teams: the ids are checked against the configuration.
    let demo = muster_testkit::demo_dir();
    let demo = demo.to_str().expect("utf-8 path");
    let _pay = create(
        &db,
        "pay",
        "responder",
        &["--team", "payments", "--config", demo],
    );
    let out = run(&["token", "list", "--json", "--db", &db], &[]);
    let pay: serde_json::Value = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|t| t["name"] == "pay")
        .expect("listed");
    assert_eq!(pay["teams"], serde_json::json!(["payments"]));
    let table = stdout(&run(&["token", "list", "--db", &db], &[]));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("pay ") && l.contains(" payments ")),
        "{table}"
    );
    let out = run(
        &[
            "token", "create", "--name", "x", "--role", "viewer", "--team", "nope", "--config",
            demo, "--db", &db,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--team: unknown team `nope`") && err.contains("teams: comms, exec-staff"),
        "{err}"
    );

    // Bad input is refused with the reason, and creates nothing.
    let out = run(
        &[
            "token", "create", "--name", "x", "--role", "root", "--db", &db,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown role `root`; expected admin, responder, viewer or feed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &[
            "token",
            "create",
            "--name",
            "x",
            "--role",
            "viewer",
            "--expires-in",
            "30",
            "--db",
            &db,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("duration needs a unit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn token_lifecycle_sqlite() {
    token_lifecycle(Backend::Sqlite);
}

#[test]
fn token_lifecycle_postgres() {
    token_lifecycle(Backend::Postgres);
}
