//! The OpenAPI document is generated from the handlers: it must cover every `/api/v1`
//! route the router serves and pass an independent validator.

use std::collections::BTreeSet;

use reqwest::Method;

use crate::support::{Backend, spawn_app};

/// Every `/api/v1` route the server answers, as (method, path template).
const ROUTES: &[(&str, &str)] = &[
    ("get", "/api/v1/incidents"),
    ("post", "/api/v1/incidents"),
    ("get", "/api/v1/incidents/{id}"),
    ("patch", "/api/v1/incidents/{id}"),
    ("get", "/api/v1/incidents/{id}/timeline"),
    ("get", "/api/v1/incidents/{id}/milestones"),
    ("post", "/api/v1/incidents/{id}/milestones"),
    ("get", "/api/v1/incidents/{id}/roles"),
    ("post", "/api/v1/incidents/{id}/roles"),
    ("delete", "/api/v1/incidents/{id}/roles/{role}"),
    ("get", "/api/v1/incidents/{id}/tasks"),
    ("post", "/api/v1/incidents/{id}/tasks"),
    ("patch", "/api/v1/incidents/{id}/tasks/{task_id}"),
    ("post", "/api/v1/incidents/{id}/notes"),
    ("post", "/api/v1/incidents/{id}/responders"),
    ("delete", "/api/v1/incidents/{id}/responders/{person}"),
    ("post", "/api/v1/incidents/{id}/nudges/ack"),
    ("post", "/api/v1/incidents/{id}/notifications/{key}/ack"),
    ("get", "/api/v1/incidents/{id}/clock"),
    ("get", "/api/v1/incidents/{id}/brief"),
    ("get", "/api/v1/incidents/{id}/status-update-draft"),
    ("get", "/api/v1/incidents/{id}/handoff"),
    ("get", "/api/v1/incidents/{id}/exec-summary"),
    ("get", "/api/v1/incidents/{id}/review-draft"),
    ("get", "/api/v1/services"),
    ("get", "/api/v1/people"),
    ("get", "/api/v1/policies"),
    ("get", "/api/v1/schedules"),
    ("post", "/api/v1/config/reload"),
    ("get", "/api/v1/schedules/{id}/oncall"),
    ("get", "/api/v1/schedules/{id}/shifts"),
    ("get", "/api/v1/schedules/{id}/overrides"),
    ("post", "/api/v1/schedules/{id}/overrides"),
    ("post", "/api/v1/schedules/{id}/take-pager"),
    ("delete", "/api/v1/schedules/{id}/overrides/{override_id}"),
    ("get", "/api/v1/audit"),
    ("get", "/api/v1/outbox/dead-letters"),
    ("get", "/api/v1/inbox"),
    ("get", "/api/v1/drills"),
    ("post", "/api/v1/drills"),
    ("get", "/api/v1/drills/{id}"),
    ("post", "/api/v1/drills/{id}/inject"),
    ("post", "/api/v1/drills/{id}/skip"),
    ("post", "/api/v1/drills/{id}/pause"),
    ("post", "/api/v1/drills/{id}/resume"),
    ("post", "/api/v1/drills/{id}/step"),
    ("post", "/api/v1/drills/{id}/end"),
    ("get", "/api/v1/drills/{id}/report"),
    ("get", "/api/v1/reports/policies"),
    ("get", "/api/v1/reports/load"),
    ("get", "/api/v1/reports/load/heatmap.svg"),
    ("get", "/api/v1/reports/load/people.svg"),
    ("get", "/api/v1/alerts"),
    ("get", "/api/v1/alerts/{id}"),
    ("post", "/api/v1/alerts/{id}/ack"),
    ("post", "/api/v1/alerts/{id}/resolve"),
    ("post", "/api/v1/integrations/{key}/alertmanager"),
    ("post", "/api/v1/integrations/{key}/events"),
    ("post", "/api/v1/heartbeats/{key}"),
    ("get", "/api/v1/silences"),
    ("post", "/api/v1/silences"),
    ("delete", "/api/v1/silences/{id}"),
    ("get", "/api/v1/incidents/{id}/similar"),
    ("get", "/api/v1/status-page/incidents"),
    ("post", "/api/v1/status-page/incidents"),
    ("get", "/api/v1/status-page/incidents/{id}"),
    ("post", "/api/v1/status-page/incidents/{id}/updates"),
    (
        "post",
        "/api/v1/status-page/incidents/{id}/updates/{update_id}/approve",
    ),
    (
        "post",
        "/api/v1/status-page/incidents/{id}/updates/{update_id}/publish",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_covers_every_route_and_validates() {
    let app = spawn_app(Backend::Sqlite).await.expect("sqlite app");
    let (s, doc, headers) = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(headers[reqwest::header::CONTENT_TYPE], "application/json");
    // Encoded once and kept: the next request gets the same document.
    let (s, again, _) = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert_eq!(again, doc);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );

    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Every documented route is really served: with a token it is never the router's 404
    // nor a 405 (a 404 from a handler carries its own message).
    for (method, path) in ROUTES {
        let concrete = path
            .replace("{id}", "INC-1")
            .replace("{role}", "scribe")
            .replace("{task_id}", "1")
            .replace("{override_id}", "ovr-1")
            .replace("{person}", "alice")
            .replace("{update_id}", "pu-1");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = matches!(*method, "post" | "patch").then(|| serde_json::json!({}));
        let (s, v, _) = app.send(m, &concrete, Some(&app.admin), body).await;
        assert_ne!(s, 405, "{method} {path}");
        assert_ne!(
            v["error"]["message"], "no such route",
            "{method} {path} is not routed"
        );
    }

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(file.path())
        .output()
        .expect("python3 runs (the test command installs openapi-spec-validator)");
    assert!(
        out.status.success(),
        "openapi-spec-validator rejected the document:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    common_answers_are_documented(&doc);
}

/// The answers the extractors, the token check and the load shedder give before a handler
/// runs are in every operation's document, in the JSON error shape.
fn common_answers_are_documented(doc: &serde_json::Value) {
    let error_body = serde_json::json!({"$ref": "#/components/schemas/ErrorBody"});
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let open = op["security"] == serde_json::json!([{}]);
            let has_body = op.get("requestBody").is_some();
            let mut want = vec!["400", "503"];
            if !open {
                want.extend(["401", "403"]);
            }
            if has_body {
                want.extend(["408", "413", "415", "422"]);
            }
            for status in want {
                let answer = &op["responses"][status];
                assert_eq!(
                    answer["content"]["application/json"]["schema"], error_body,
                    "{method} {path} does not document {status}"
                );
            }
            assert_eq!(
                op["responses"]["503"]["headers"]["Retry-After"]["schema"]["type"], "integer",
                "{method} {path}: 503 without Retry-After"
            );
            assert_eq!(
                op["responses"].get("401").is_some(),
                !open,
                "{method} {path}: 401 documented on a route without a token or missing"
            );
        }
    }
}
