//! What the public and operational endpoints promise a browser or a scraper: the status
//! page's security headers, readiness that means "can write", a `/metrics` token.

use reqwest::Method;

use crate::both;

// Every public page answer (HTML, Atom, JSON) carries a CSP that allows no script, `nosniff`
// and a referrer policy.
both!(status_page_sends_security_headers, |app| async move {
    let template = include_str!("../../templates/status.html");
    for path in [
        "/status",
        "/status/",
        "/status/history.atom",
        "/status/api/v2/summary.json",
        "/status/api/v2/status.json",
        "/status/api/v2/components.json",
        "/status/api/v2/incidents.json",
        "/status/api/v2/incidents/unresolved.json",
    ] {
        let (s, body, h) = app.send(Method::GET, path, None, None).await;
        assert_eq!(s, 200, "{path}: {body}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert_eq!(
            csp,
            muster_server::status::content_security_policy(),
            "{path}"
        );
        assert!(csp.starts_with("default-src 'none';"), "{csp}");
        assert!(!csp.contains("script"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(
            h["referrer-policy"], "strict-origin-when-cross-origin",
            "{path}"
        );
        if path.starts_with("/status/") && path.len() > "/status/".len() {
            continue;
        }
        // The stylesheet the policy hashes is the one the page really carries.
        let html = body.as_str().unwrap();
        let style = |t: &str| {
            let from = t.find("<style>").unwrap();
            let to = t.find("</style>").unwrap();
            t[from..to].to_string()
        };
        assert_eq!(style(html), style(template), "{path}");
    }
});

async fn readyz(app: &crate::support::TestApp) -> (u16, serde_json::Value) {
    let (s, v, _) = app.send(Method::GET, "/readyz", None, None).await;
    (s, v)
}

/// Polls `/readyz` until it answers `want` (the pool reconnects lazily), up to 20 s.
async fn readyz_until(app: &crate::support::TestApp, want: u16) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (s, v) = readyz(app).await;
        if s == want {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/readyz stays {s}: {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A PostgreSQL database that has become read-only (as a standby is) still answers reads, but
/// the node is not ready: it would take alerts it cannot store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_is_503_when_postgres_is_read_only() {
    let Some(app) = crate::support::spawn_app(crate::support::Backend::Postgres).await else {
        return;
    };
    assert_eq!(readyz(&app).await.0, 200);
    let name = app.db.pg_name().unwrap().to_string();
    let kick =
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
    app.db
        .admin_exec(&format!(
            "ALTER DATABASE {name} SET default_transaction_read_only = on"
        ))
        .await;
    app.db.admin_exec(&kick).await;
    let v = readyz_until(&app, 503).await;
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    assert_eq!(v["error"]["message"], "database not writable", "{v}");
    // Reads still work: the failure is the write probe's.
    let (s, v) = app.get("/api/v1/incidents").await;
    assert_eq!(s, 200, "{v}");

    app.db
        .admin_exec(&format!(
            "ALTER DATABASE {name} RESET default_transaction_read_only"
        ))
        .await;
    app.db.admin_exec(&kick).await;
    let v = readyz_until(&app, 200).await;
    assert_eq!(v["status"], "ready", "{v}");
}

/// Another process holding the SQLite file's write lock: reads go on (WAL), writes wait, and
/// `/readyz` answers 503 once the busy timeout is spent; ready again when the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readyz_is_503_when_the_sqlite_file_cannot_be_written() {
    let app = crate::support::spawn_app(crate::support::Backend::Sqlite)
        .await
        .unwrap();
    assert_eq!(readyz(&app).await.0, 200);
    let lock = app.db.sqlite_write_lock().await.unwrap();
    let (s, v) = readyz(&app).await;
    assert_eq!(s, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    assert_eq!(v["error"]["message"], "database not writable", "{v}");
    lock.release().await;
    let v = readyz_until(&app, 200).await;
    assert_eq!(v["status"], "ready", "{v}");
}

async fn scrape(
    app: &crate::support::TestApp,
    token: Option<&str>,
) -> (u16, String, Option<String>) {
    let mut req = app.http.get(format!("{}/metrics", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap_or("").to_string());
    (status, resp.text().await.expect("body"), challenge)
}

// Without a `metrics` section `/metrics` is open, as before.
both!(metrics_are_open_without_a_token, |app| async move {
    let (s, body, _) = scrape(&app, None).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("muster_incidents{"), "{body}");
});

const METRICS_TOKEN: &str = "3f9c2a7be41d08c6a5f1e2d3c4b5a697";

/// With `metrics.token` set, `/metrics` answers 401 (with a Bearer challenge) without it or
/// with anything else, API tokens included, and 200 with it.
async fn metrics_need_the_configured_token(backend: crate::support::Backend) {
    let dir = tempfile::tempdir().unwrap();
    crate::support::copy_dir(&crate::support::demo_dir(), dir.path());
    std::fs::write(
        dir.path().join("metrics.yaml"),
        format!("metrics:\n  token: {METRICS_TOKEN}\n"),
    )
    .unwrap();
    let Some(app) = crate::support::spawn_app_with_config(backend, dir.path()).await else {
        return;
    };
    for wrong in [None, Some("nope"), Some(app.admin.as_str())] {
        let (s, body, challenge) = scrape(&app, wrong).await;
        assert_eq!(s, 401, "{wrong:?}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "unauthorized", "{v}");
        assert_eq!(
            v["error"]["message"],
            "/metrics needs `Authorization: Bearer` with the configured metrics token"
        );
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert!(!body.contains("muster_"), "{body}");
    }
    let (s, body, _) = scrape(&app, Some(METRICS_TOKEN)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("muster_incidents{"), "{body}");
    // Health checks stay open.
    assert_eq!(readyz(&app).await.0, 200);
}

mod metrics_need_the_configured_token {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::metrics_need_the_configured_token(crate::support::Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::metrics_need_the_configured_token(crate::support::Backend::Postgres).await
    }
}
