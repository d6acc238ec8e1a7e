//! The public status page: updates are drafted, approved by the incident's comms lead (or an
//! admin), published; `/status`, the Statuspage-shaped JSON and the Atom feed show published
//! updates only, escape HTML, and match Statuspage's public API v2 field by field.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::{Backend, TestApp, copy_dir, demo_dir, spawn_app_with_config};

const NAME: &str = "Payments <script>alert(\"x\")</script> failing";
const BODY: &str = "We are looking into failed payments & <b>refunds</b>.";
const SECRET: &str = "SECRET DRAFT never shown";

/// GET without a token; the body as text.
async fn public(app: &TestApp, path: &str) -> (u16, String, String) {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("").to_string())
        .unwrap_or_default();
    (status, ctype, resp.text().await.expect("body"))
}

async fn public_json(app: &TestApp, path: &str) -> Value {
    let (s, ctype, body) = public(app, path).await;
    assert_eq!(s, 200, "{path}: {body}");
    assert!(ctype.starts_with("application/json"), "{path}: {ctype}");
    serde_json::from_str(&body).expect("json")
}

/// Every public endpoint's text, to check what never appears on any of them.
async fn everything_public(app: &TestApp) -> String {
    let mut all = String::new();
    for path in [
        "/status",
        "/status/history.atom",
        "/status/api/v2/summary.json",
        "/status/api/v2/status.json",
        "/status/api/v2/components.json",
        "/status/api/v2/incidents.json",
        "/status/api/v2/incidents/unresolved.json",
    ] {
        let (s, _, body) = public(app, path).await;
        assert_eq!(s, 200, "{path}: {body}");
        all.push_str(&body);
    }
    all
}

async fn as_token(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, v, _) = app.send(Method::POST, path, Some(token), Some(body)).await;
    (s, v)
}

fn check_page(page: &Value) {
    assert_eq!(page["id"], "muster");
    assert_eq!(page["name"], "Example Shop status");
    assert_eq!(page["url"], "https://status.example.com");
    assert_eq!(page["time_zone"], "Etc/UTC");
    assert!(is_time(&page["updated_at"]), "{page}");
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && s.parse::<jiff::Timestamp>().is_ok())
}

/// Checks every field of a Statuspage component object.
fn check_component(c: &Value) {
    let keys: Vec<&str> = c.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "position",
        "description",
        "showcase",
        "start_date",
        "group_id",
        "page_id",
        "group",
        "only_show_if_degraded",
    ] {
        assert!(keys.contains(&k), "component lacks {k}: {c}");
    }
    assert!(c["id"].is_string() && c["name"].is_string());
    assert!(
        [
            "operational",
            "degraded_performance",
            "partial_outage",
            "major_outage",
            "under_maintenance"
        ]
        .contains(&c["status"].as_str().unwrap()),
        "{c}"
    );
    assert!(
        is_time(&c["created_at"]) && is_time(&c["updated_at"]),
        "{c}"
    );
    assert!(c["position"].as_u64().unwrap() >= 1);
    assert!(c["description"].is_string() || c["description"].is_null());
    assert!(c["showcase"].is_boolean() && c["only_show_if_degraded"].is_boolean());
    assert!(c["start_date"].is_null());
    assert!(c["group_id"].is_string() || c["group_id"].is_null());
    assert_eq!(c["page_id"], "muster");
    if c["group"] == true {
        assert!(c["components"].is_array(), "a group lists its members: {c}");
    } else {
        assert_eq!(c["group"], false);
    }
}

fn component<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no component {id} in {list}"))
}

/// Checks every field of a Statuspage incident object and its updates.
fn check_incident(i: &Value) {
    for k in [
        "id",
        "name",
        "status",
        "created_at",
        "updated_at",
        "monitoring_at",
        "resolved_at",
        "impact",
        "shortlink",
        "started_at",
        "page_id",
        "incident_updates",
        "components",
    ] {
        assert!(i.get(k).is_some(), "incident lacks {k}: {i}");
    }
    assert!(
        [
            "investigating",
            "identified",
            "monitoring",
            "resolved",
            "postmortem"
        ]
        .contains(&i["status"].as_str().unwrap())
    );
    assert!(["none", "minor", "major", "critical"].contains(&i["impact"].as_str().unwrap()));
    assert!(is_time(&i["created_at"]) && is_time(&i["updated_at"]) && is_time(&i["started_at"]));
    assert!(i["monitoring_at"].is_null() || is_time(&i["monitoring_at"]));
    assert!(i["resolved_at"].is_null() || is_time(&i["resolved_at"]));
    assert_eq!(i["page_id"], "muster");
    assert_eq!(
        i["shortlink"].as_str().unwrap(),
        format!("https://status.example.com#{}", i["id"].as_str().unwrap())
    );
    for u in i["incident_updates"].as_array().unwrap() {
        for k in [
            "id",
            "status",
            "body",
            "incident_id",
            "created_at",
            "updated_at",
            "display_at",
            "affected_components",
            "deliver_notifications",
            "custom_tweet",
            "tweet_id",
        ] {
            assert!(u.get(k).is_some(), "update lacks {k}: {u}");
        }
        assert_eq!(u["incident_id"], i["id"]);
        assert!(is_time(&u["created_at"]) && is_time(&u["display_at"]));
        for a in u["affected_components"].as_array().into_iter().flatten() {
            for k in ["code", "name", "old_status", "new_status"] {
                assert!(a[k].is_string(), "affected component lacks {k}: {a}");
            }
        }
    }
    for c in i["components"].as_array().unwrap() {
        check_component(c);
    }
}

both!(
    drafts_never_appear_and_published_updates_do,
    |app| async move {
        let app: TestApp = app;
        let inc = app.declare("Checkout failing").await;
        let (s, p) = app
            .post(
                "/api/v1/status-page/incidents",
                json!({"incident": inc, "name": NAME}),
            )
            .await;
        assert_eq!(s, 201, "{p}");
        let pid = p["id"].as_str().unwrap().to_string();
        assert_eq!(p["incident"], inc);
        let updates = format!("/api/v1/status-page/incidents/{pid}/updates");

        // Bad drafts are refused, naming the field.
        let (s, v) = app
            .post(&updates, json!({"status": "panicking", "body": "x"}))
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("invalid_field")),
            "{v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains("status"),
            "{v}"
        );
        let (s, v) = app
            .post(
                &updates,
                json!({"status": "investigating", "body": "x",
            "components": [{"component": "paymnts", "status": "major_outage"}]}),
            )
            .await;
        assert_eq!(s, 422);
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("components[0].component"),
            "{v}"
        );

        let (s, draft) = app
            .post(
                &updates,
                json!({"status": "investigating", "body": BODY,
            "components": [{"component": "payments", "status": "major_outage"}]}),
            )
            .await;
        assert_eq!(s, 201, "{draft}");
        assert_eq!(draft["state"], "draft");
        let uid = draft["id"].as_str().unwrap().to_string();

        // Nothing is public yet.
        let all = everything_public(&app).await;
        assert!(!all.contains("failed payments"), "a draft leaked");
        let summary = public_json(&app, "/status/api/v2/summary.json").await;
        assert_eq!(summary["incidents"], json!([]));
        assert_eq!(
            summary["status"],
            json!({"indicator": "none", "description": "All Systems Operational"})
        );
        assert_eq!(
            component(&summary["components"], "payments")["status"],
            "operational"
        );

        // Publishing an unapproved draft: 409. Approving without the comms-lead role: 403.
        let publish = format!("{updates}/{uid}/publish");
        let approve = format!("{updates}/{uid}/approve");
        let (s, v) = app.post(&publish, json!({})).await;
        assert_eq!(s, 409, "{v}");
        let (s, v) = app.post(&approve, json!({})).await;
        assert_eq!(s, 403, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("comms_lead"),
            "{v}"
        );
        let (s, _) = as_token(&app, &app.viewer, &approve, json!({})).await;
        assert_eq!(s, 403);

        // The comms lead (made so by an admin) approves what alice drafted; then it is
        // published.
        let (s, v) = as_token(
            &app,
            &app.admin,
            &format!("/api/v1/incidents/{inc}/roles"),
            json!({"role": "comms_lead", "person": "bob"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let bob = {
            let store = muster_store::Store::connect(&app.db.url()).await.unwrap();
            let now = muster_core::Clock::now(app.clock.as_ref());
            let t = store
                .create_token("bob", muster_core::Access::Responder, now)
                .await
                .unwrap();
            store.close().await;
            t
        };
        let (s, v) = as_token(&app, &bob, &approve, json!({})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(
            (v["state"].as_str(), v["approved_by"].as_str()),
            (Some("approved"), Some("bob"))
        );
        let (s, v) = as_token(&app, &bob, &approve, json!({})).await;
        assert_eq!(s, 409, "approving twice: {v}");
        assert!(
            !everything_public(&app).await.contains("failed payments"),
            "approved is not published"
        );
        let (s, v) = app.post(&publish, json!({})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["state"], "published");

        // A later draft stays private.
        let (s, _) = app
            .post(&updates, json!({"status": "resolved", "body": SECRET}))
            .await;
        assert_eq!(s, 201);
        let (s, list) = app.get("/api/v1/status-page/incidents").await;
        assert_eq!(s, 200);
        assert_eq!(
            list[0]["updates"].as_array().unwrap().len(),
            2,
            "responders see drafts"
        );
        let all = everything_public(&app).await;
        assert!(!all.contains("SECRET"), "an unapproved draft leaked");

        // summary.json, field by field.
        let summary = public_json(&app, "/status/api/v2/summary.json").await;
        check_page(&summary["page"]);
        assert_eq!(
            summary["status"],
            json!({"indicator": "critical", "description": "Major Service Outage"})
        );
        assert_eq!(summary["scheduled_maintenances"], json!([]));
        let components = &summary["components"];
        for c in components.as_array().unwrap() {
            check_component(c);
        }
        let ids: Vec<&str> = components
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids,
            ["shop", "website", "payments", "platform", "api"],
            "groups, then their members"
        );
        let payments = component(components, "payments");
        assert_eq!(payments["status"], "major_outage");
        assert_eq!(payments["group_id"], "shop");
        assert_eq!(payments["description"], "Paying for orders.");
        assert_eq!(payments["position"], 3);
        let shop = component(components, "shop");
        assert_eq!(
            (shop["group"].as_bool(), shop["status"].as_str()),
            (Some(true), Some("major_outage"))
        );
        assert_eq!(shop["components"], json!(["website", "payments"]));
        assert_eq!(component(components, "website")["status"], "operational");

        let incidents = summary["incidents"].as_array().unwrap();
        assert_eq!(incidents.len(), 1);
        let i = &incidents[0];
        check_incident(i);
        assert_eq!(i["id"], pid.as_str());
        assert_eq!(i["name"], NAME);
        assert_eq!(i["status"], "investigating");
        assert_eq!(i["impact"], "critical");
        assert_eq!(i["resolved_at"], Value::Null);
        let u = &i["incident_updates"][0];
        assert_eq!(u["body"], BODY);
        assert_eq!(u["status"], "investigating");
        assert_eq!(
            u["affected_components"],
            json!([{"code": "payments", "name": "Payments", "old_status": "operational", "new_status": "major_outage"}])
        );
        assert_eq!(i["components"][0]["id"], "payments");

        // status.json, components.json, incidents.json, unresolved.json.
        let status = public_json(&app, "/status/api/v2/status.json").await;
        check_page(&status["page"]);
        assert_eq!(status["status"]["indicator"], "critical");
        assert_eq!(status.as_object().unwrap().len(), 2);
        let comps = public_json(&app, "/status/api/v2/components.json").await;
        assert_eq!(comps["components"], summary["components"]);
        let all_incidents = public_json(&app, "/status/api/v2/incidents.json").await;
        assert_eq!(all_incidents["incidents"], summary["incidents"]);
        let unresolved = public_json(&app, "/status/api/v2/incidents/unresolved.json").await;
        assert_eq!(unresolved["incidents"], summary["incidents"]);

        // The HTML page: text status, escaped name, no script, language and headings.
        let (s, ctype, html) = public(&app, "/status").await;
        assert_eq!(s, 200);
        assert!(ctype.starts_with("text/html"), "{ctype}");
        assert!(
            html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"),
            "{}",
            &html[..60]
        );
        assert!(html.contains("<h1>Example Shop status</h1>"));
        assert!(html.contains("Major Service Outage"));
        assert!(html.contains("<h2 id=\"active-heading\">Current incidents</h2>"));
        assert!(
            html.contains(
                "Payments &lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt; failing"
            ) || html
                .contains("Payments &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; failing"),
            "{html}"
        );
        assert!(
            !html.to_lowercase().contains("<script"),
            "no script on the page, escaped or injected"
        );
        assert!(
            html.contains("failed payments &amp; &lt;b&gt;refunds&lt;&#x2f;b&gt;.")
                || html.contains("failed payments &amp; &lt;b&gt;refunds&lt;/b&gt;."),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"status status-major_outage\">Major outage</span>"),
            "status in words"
        );
        assert!(html.contains("<strong>Investigating</strong>"));

        // Resolve it (an admin token may approve too); the page goes back to operational.
        let (s, res) = app
            .post(
                &updates,
                json!({"status": "resolved", "body": "Payments work again.",
            "components": [{"component": "payments", "status": "operational"}]}),
            )
            .await;
        assert_eq!(s, 201);
        let rid = res["id"].as_str().unwrap();
        let (s, v) = as_token(
            &app,
            &app.admin,
            &format!("{updates}/{rid}/approve"),
            json!({}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        app.clock.advance(jiff::SignedDuration::from_secs(600));
        let (s, _) = app
            .post(&format!("{updates}/{rid}/publish"), json!({}))
            .await;
        assert_eq!(s, 200);
        let summary = public_json(&app, "/status/api/v2/summary.json").await;
        assert_eq!(
            summary["incidents"],
            json!([]),
            "only unresolved incidents in the summary"
        );
        assert_eq!(summary["status"]["indicator"], "none");
        assert_eq!(
            component(&summary["components"], "payments")["status"],
            "operational"
        );
        let history = public_json(&app, "/status/api/v2/incidents.json").await;
        let i = &history["incidents"][0];
        check_incident(i);
        assert_eq!(i["status"], "resolved");
        assert!(is_time(&i["resolved_at"]));
        assert_eq!(i["impact"], "critical", "the worst it was");
        assert_eq!(
            i["incident_updates"][0]["body"], "Payments work again.",
            "newest first"
        );
        assert_eq!(
            i["incident_updates"][0]["affected_components"][0]["old_status"],
            "major_outage"
        );
        assert!(!everything_public(&app).await.contains("SECRET"));

        // The approvals are audited.
        let (s, audit, _) = app
            .send(
                Method::GET,
                &format!("/api/v1/audit?subject=public_incident:{pid}"),
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, 200, "{audit}");
        let actions: Vec<(&str, &str)> = audit
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(
            actions,
            [
                ("public_update.published", "alice"),
                ("public_update.approved", "root"),
                ("public_update.published", "alice"),
                ("public_update.approved", "bob"),
            ]
        );

        atom_feed_parses(&app).await;
    }
);

/// Parses the Atom feed with Python's `feedparser` (installed by scripts/test.sh). Without it
/// the check is skipped with a message, except under `CI=true`, where that is a failure.
async fn atom_feed_parses(app: &TestApp) {
    let (s, ctype, feed) = public(app, "/status/history.atom").await;
    assert_eq!(s, 200);
    assert!(ctype.starts_with("application/atom+xml"), "{ctype}");
    let has_parser = std::process::Command::new("python3")
        .args(["-c", "import feedparser"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_parser {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "python3 with feedparser is required under CI=true (pip install feedparser)"
        );
        eprintln!("skipping the feedparser check: python3 -c 'import feedparser' failed");
        return;
    }
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &feed).unwrap();
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": bool(d.bozo), "error": str(d.get("bozo_exception", "")),
    "version": d.version, "id": d.feed.get("id"), "title": d.feed.get("title"),
    "updated": d.feed.get("updated"), "author": d.feed.get("author"),
    "entries": [{"id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
                 "updated": e.get("updated"), "content": e.content[0].value if e.get("content") else None,
                 "content_type": e.content[0].type if e.get("content") else None}
                for e in d.entries]}))
"#;
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(file.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("json from python");
    assert_eq!(
        parsed["bozo"], false,
        "feedparser: {} in\n{feed}",
        parsed["error"]
    );
    assert_eq!(parsed["version"], "atom10");
    assert_eq!(parsed["id"], "https://status.example.com/history.atom");
    assert_eq!(parsed["title"], "Example Shop status: incident history");
    assert_eq!(parsed["author"], "Example Shop status");
    assert!(parsed["updated"].is_string());
    let entry = &parsed["entries"][0];
    assert_eq!(
        entry["title"], NAME,
        "the title is text: escaped in XML, read back intact"
    );
    assert_eq!(entry["link"], "https://status.example.com#pi-1");
    assert_eq!(entry["id"], "https://status.example.com#pi-1");
    assert_eq!(entry["content_type"], "text/html");
    let content = entry["content"].as_str().unwrap();
    assert!(content.contains("Payments work again."), "{content}");
    assert!(
        content.contains("&lt;b&gt;refunds&lt;/b&gt;"),
        "update bodies are text, not markup: {content}"
    );
    assert!(!feed.contains("<script"), "{feed}");
    assert!(!feed.contains("SECRET"));
}

/// With `require_approval: false` a draft may be published at once; without a status page
/// the public endpoints answer 404 and the API 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approval_can_be_turned_off_and_the_page_off() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&demo_dir(), dir.path());
        let file = dir.path().join("status-page.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace("require_approval: true", "require_approval: false"),
        )
        .unwrap();
        let Some(app) = spawn_app_with_config(backend, dir.path()).await else {
            continue;
        };
        let inc = app.declare("Checkout failing").await;
        let (_, p) = app
            .post("/api/v1/status-page/incidents", json!({"incident": inc}))
            .await;
        assert_eq!(
            p["name"], "Checkout failing",
            "defaults to the incident's title"
        );
        let updates = format!(
            "/api/v1/status-page/incidents/{}/updates",
            p["id"].as_str().unwrap()
        );
        let (s, d) = app
            .post(
                &updates,
                json!({"status": "identified", "body": "Found it."}),
            )
            .await;
        assert_eq!(s, 201, "{d}");
        // Default components: those mapped to the incident's services (checkout → payments).
        assert_eq!(
            d["components"],
            json!([{"component": "payments", "status": "partial_outage"}])
        );
        let (s, v) = app
            .post(
                &format!("{updates}/{}/publish", d["id"].as_str().unwrap()),
                json!({}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let summary = public_json(&app, "/status/api/v2/summary.json").await;
        assert_eq!(summary["status"]["indicator"], "major");
        assert_eq!(summary["incidents"][0]["status"], "identified");

        std::fs::remove_file(&file).unwrap();
        let (s, v, _) = app
            .send(
                Method::POST,
                "/api/v1/config/reload",
                Some(&app.admin),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, _, _) = public(&app, "/status").await;
        assert_eq!(s, 404);
        let (s, _) = app
            .post(&updates, json!({"status": "identified", "body": "x"}))
            .await;
        assert_eq!(s, 409);
    }
}
