//! Tokens at the door: a revoked or expired token is refused from its next request on every
//! node; feed tokens open calendar feeds only, and calendar URLs take feed tokens only.

use muster_core::{Access, Clock};
use reqwest::Method;
use serde_json::Value;

use crate::both;
use crate::support::TestApp;

const UNKNOWN: &str = "unknown, revoked or expired token";

/// GET `base` + `path` with `token`: status and JSON body.
async fn get_at(app: &TestApp, base: &str, path: &str, token: &str) -> (u16, Value) {
    let resp = app
        .http
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Each node answers `want` to `token`; on 401 with the one unknown-token message.
async fn on_every_node(app: &TestApp, nodes: &[&str], token: &str, want: u16) {
    for base in nodes {
        let (s, v) = get_at(app, base, "/api/v1/incidents", token).await;
        assert_eq!(s, want, "{base}: {v}");
        if want == 401 {
            assert_eq!(v["error"]["code"], "unauthorized", "{v}");
            assert_eq!(v["error"]["message"], UNKNOWN, "{v}");
        }
    }
}

both!(revoked_tokens_are_refused_on_every_node, |app| async move {
    let second = app.second_node().await;
    let nodes = [app.base.as_str(), second.as_str()];
    let now = app.clock.now();
    let token = app
        .store
        .create_token("ci-bot", Access::Responder, now)
        .await
        .unwrap();
    on_every_node(&app, &nodes, &token, 200).await;
    assert!(app.store.revoke_token("ci-bot", now).await.unwrap());
    on_every_node(&app, &nodes, &token, 401).await;
    // The other tokens are untouched.
    on_every_node(&app, &nodes, &app.responder, 200).await;
});

both!(expired_tokens_are_refused_on_every_node, |app| async move {
    let second = app.second_node().await;
    let nodes = [app.base.as_str(), second.as_str()];
    let now = app.clock.now();
    let hour = jiff::SignedDuration::from_hours(1);
    let token = app
        .store
        .create_token_expiring("temp", Access::Viewer, now, Some(now + hour))
        .await
        .unwrap();
    on_every_node(&app, &nodes, &token, 200).await;
    app.clock
        .set(now + hour - jiff::SignedDuration::from_secs(1));
    on_every_node(&app, &nodes, &token, 200).await;
    app.clock.set(now + hour);
    on_every_node(&app, &nodes, &token, 401).await;
    on_every_node(&app, &nodes, &app.viewer, 200).await;
});

both!(feed_tokens_open_calendar_feeds_only, |app| async move {
    // The API refuses a feed token, reads and writes alike.
    for path in ["/api/v1/incidents", "/api/v1/schedules", "/api/v1/audit"] {
        let (s, v, _) = app.send(Method::GET, path, Some(&app.feed), None).await;
        assert_eq!(s, 401, "{path}: {v}");
        assert_eq!(v["error"]["code"], "unauthorized");
        assert_eq!(
            v["error"]["message"],
            "a feed token opens calendar feeds (/ical/…?token=) only, not the API"
        );
    }
    let (s, v, _) = app
        .send(
            Method::POST,
            "/api/v1/incidents",
            Some(&app.feed),
            Some(serde_json::json!({"title": "x", "severity": "SEV3"})),
        )
        .await;
    assert_eq!(s, 401, "{v}");
    // Calendar feeds take it, and refuse every full token with 403.
    for path in [
        "/ical/schedules/payments-primary.ics",
        "/ical/people/alice.ics",
    ] {
        let url = format!("{}{path}?token={}", app.base, app.feed);
        let resp = app.http.get(url).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert!(
            resp.text()
                .await
                .unwrap()
                .starts_with("BEGIN:VCALENDAR\r\n")
        );
        for (token, name, role) in [
            (&app.viewer, "watcher", "viewer"),
            (&app.responder, "alice", "responder"),
            (&app.admin, "root", "admin"),
        ] {
            let url = format!("{}{path}?token={token}", app.base);
            let resp = app.http.get(url).send().await.unwrap();
            assert_eq!(resp.status().as_u16(), 403, "{path} with {role}");
            let v: Value = resp.json().await.unwrap();
            assert_eq!(v["error"]["code"], "forbidden");
            assert_eq!(
                v["error"]["message"],
                format!(
                    "token `{name}` is a {role} token, which may not be put in a calendar URL; revoke it and create a feed token (muster token create --role feed)"
                )
            );
        }
    }
    // A revoked feed token is refused like any other.
    assert!(
        app.store
            .revoke_token("calendar", app.clock.now())
            .await
            .unwrap()
    );
    let url = format!("{}/ical/people/alice.ics?token={}", app.base, app.feed);
    let resp = app.http.get(url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], UNKNOWN);
});
