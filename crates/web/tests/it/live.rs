//! Live updates: a page's event stream hears a commit of its incident (from any entry
//! point: here the reactions the API calls), and not another incident's.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use muster_core::Command;
use tower::ServiceExt;

use crate::both;

/// The next SSE event's name and data, waiting at most `within`.
async fn next_event(body: &mut axum::body::Body, within: Duration) -> Option<(String, String)> {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = String::new();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .ok()??
            .ok()?;
        if let Some(data) = frame.data_ref() {
            buf.push_str(&String::from_utf8_lossy(data));
        }
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf[..end].to_string();
            buf.drain(..end + 2);
            let mut name = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event:") {
                    name = Some(n.trim().to_string());
                } else if let Some(d) = line.strip_prefix("data:") {
                    data.push_str(d.trim());
                }
            }
            if let Some(name) = name {
                return Some((name, data));
            }
        }
    }
}

both!(
    a_pages_stream_hears_its_incidents_commits,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let mine = web.declare("Checkout down", "SEV1").await;
        let other = web.declare("Elsewhere", "SEV4").await;
        let req = Request::get(format!("/incidents/{}/events", mine.id))
            .header(header::COOKIE, &browser.cookie)
            .body(Body::empty())
            .unwrap();
        let resp = web.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "text/event-stream");
        let mut body = resp.into_body();
        let ready = next_event(&mut body, Duration::from_secs(5)).await;
        assert_eq!(ready, Some(("ready".into(), "ready".into())));
        // Another incident's commit is not announced to this page…
        muster_server::reactions::apply(
            &web.state,
            "alice",
            other.id,
            Command::AddNote { text: "x".into() },
        )
        .await
        .unwrap();
        // …its own is, right after the commit.
        muster_server::reactions::apply(
            &web.state,
            "alice",
            mine.id,
            Command::AddNote { text: "y".into() },
        )
        .await
        .unwrap();
        let got = next_event(&mut body, Duration::from_secs(5)).await;
        assert_eq!(got, Some(("changed".into(), mine.id.to_string())));

        // The list's stream hears every incident.
        let req = Request::get("/events")
            .header(header::COOKIE, &browser.cookie)
            .body(Body::empty())
            .unwrap();
        let mut all = web.app.clone().oneshot(req).await.unwrap().into_body();
        assert_eq!(
            next_event(&mut all, Duration::from_secs(5))
                .await
                .unwrap()
                .0,
            "ready"
        );
        muster_server::reactions::apply(
            &web.state,
            "alice",
            other.id,
            Command::AddNote { text: "z".into() },
        )
        .await
        .unwrap();
        let got = next_event(&mut all, Duration::from_secs(5)).await;
        assert_eq!(got, Some(("changed".into(), other.id.to_string())));

        // Without a session there is no stream.
        let req = Request::get(format!("/incidents/{}/events", mine.id))
            .body(Body::empty())
            .unwrap();
        let resp = web.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    }
);

both!(
    assets_are_served_from_the_binary_with_a_cache_header,
    |web| async move {
        for (path, kind) in [
            ("/assets/htmx.min.js", "text/javascript"),
            ("/assets/muster.js", "text/javascript"),
            ("/assets/muster.css", "text/css"),
        ] {
            let a = web.get(path, None).await;
            assert_eq!(a.status, StatusCode::OK, "{path}");
            assert!(
                a.headers[header::CONTENT_TYPE]
                    .to_str()
                    .unwrap()
                    .starts_with(kind)
            );
            assert_eq!(a.headers[header::CACHE_CONTROL], "public, max-age=3600");
            assert!(!a.body.is_empty());
        }
        assert_eq!(
            web.get("/assets/nope.js", None).await.status,
            StatusCode::NOT_FOUND
        );
        // Pages forbid inline script and framing.
        let page = web.get("/login", None).await;
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert!(!page.body.contains("<script>"), "no inline script");
        // The API and the status page are where they were.
        assert_eq!(web.get("/status", None).await.status, StatusCode::OK);
        assert_eq!(
            web.get("/api/v1/incidents", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(web.get("/healthz", None).await.status, StatusCode::OK);
    }
);

/// Another node's commits reach this node's streams through the store's wake-ups
/// (PostgreSQL only: SQLite has one node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_nodes_commit_reaches_a_stream_on_postgres() {
    let Some(web) = crate::support::web(crate::support::Backend::Postgres).await else {
        return;
    };
    let db_url = web.store_url();
    // Node B: its own store and state on the same database, its relay running.
    let store_b = muster_store::Store::connect(&db_url).await.unwrap();
    let state_b = muster_server::AppState::new(
        store_b,
        web.clock.clone() as std::sync::Arc<dyn muster_core::Clock>,
        muster_config::load(&crate::support::demo_dir()).unwrap(),
        None,
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let relay = muster_web::spawn_wake_relay(&state_b, stop_rx.clone());
    let app_b = muster_server::app_with(state_b.clone(), muster_web::router_until(stop_rx));
    let browser = web.sign_in(&web.responder).await;
    let req = Request::get("/events")
        .header(header::COOKIE, &browser.cookie)
        .body(Body::empty())
        .unwrap();
    let mut body = app_b.oneshot(req).await.unwrap().into_body();
    assert_eq!(
        next_event(&mut body, Duration::from_secs(5))
            .await
            .unwrap()
            .0,
        "ready"
    );
    // The wake-up listener is subscribed once the relay has its `Wakeups`.
    let ready = state_b.store.wakeups().await;
    drop(ready);
    // Node A declares: its timers wake every node.
    let inc = web.declare("Declared on node A", "SEV1").await;
    let got = next_event(&mut body, Duration::from_secs(10)).await;
    assert_eq!(
        got,
        Some(("changed".into(), "any".into())),
        "declared {}",
        inc.id
    );
    // The server's shutdown ends the stream.
    stop_tx.send_replace(true);
    assert_eq!(next_event(&mut body, Duration::from_secs(5)).await, None);
    relay.await.unwrap();
}
