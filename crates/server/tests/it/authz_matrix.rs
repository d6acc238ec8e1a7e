//! The authorization matrix: every operation of `/openapi.json` × every kind of caller, against
//! a table written here by hand from the access rules (`muster_core::access`). An operation
//! the document gains without a row here fails the test, so a new route cannot ship without
//! someone deciding who may call it. One caller is an admin limited to a team that owns none
//! of what the requests touch.

use std::collections::BTreeMap;

use muster_core::{Access, Clock};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Needs {
    /// No token: intake, authenticated by its integration key.
    Key,
    Viewer,
    Responder,
    Admin,
}

/// `METHOD path` → who may call it.
fn table() -> BTreeMap<&'static str, Needs> {
    use Needs::*;
    let rows: &[(&str, Needs)] = &[
        ("GET /api/v1/incidents", Viewer),
        ("POST /api/v1/incidents", Responder),
        ("GET /api/v1/incidents/{id}", Viewer),
        ("PATCH /api/v1/incidents/{id}", Responder),
        ("GET /api/v1/incidents/{id}/timeline", Viewer),
        ("GET /api/v1/incidents/{id}/milestones", Viewer),
        ("POST /api/v1/incidents/{id}/milestones", Responder),
        ("GET /api/v1/incidents/{id}/roles", Viewer),
        ("POST /api/v1/incidents/{id}/roles", Responder),
        ("DELETE /api/v1/incidents/{id}/roles/{role}", Responder),
        ("GET /api/v1/incidents/{id}/tasks", Viewer),
        ("POST /api/v1/incidents/{id}/tasks", Responder),
        ("PATCH /api/v1/incidents/{id}/tasks/{task_id}", Responder),
        ("POST /api/v1/incidents/{id}/notes", Responder),
        ("POST /api/v1/incidents/{id}/responders", Responder),
        (
            "DELETE /api/v1/incidents/{id}/responders/{person}",
            Responder,
        ),
        ("POST /api/v1/incidents/{id}/nudges/ack", Responder),
        (
            "POST /api/v1/incidents/{id}/notifications/{key}/ack",
            Responder,
        ),
        ("GET /api/v1/incidents/{id}/clock", Viewer),
        ("GET /api/v1/incidents/{id}/brief", Viewer),
        ("GET /api/v1/incidents/{id}/status-update-draft", Viewer),
        ("GET /api/v1/incidents/{id}/handoff", Viewer),
        ("GET /api/v1/incidents/{id}/exec-summary", Viewer),
        ("GET /api/v1/incidents/{id}/review-draft", Viewer),
        ("GET /api/v1/incidents/{id}/similar", Viewer),
        ("GET /api/v1/services", Viewer),
        ("GET /api/v1/people", Viewer),
        ("GET /api/v1/policies", Viewer),
        ("GET /api/v1/schedules", Viewer),
        ("POST /api/v1/config/reload", Admin),
        ("GET /api/v1/schedules/{id}/oncall", Viewer),
        ("GET /api/v1/schedules/{id}/shifts", Viewer),
        ("GET /api/v1/schedules/{id}/overrides", Viewer),
        ("POST /api/v1/schedules/{id}/overrides", Admin),
        // A responder who rotates in it (alice is in payments-primary's rotation).
        ("POST /api/v1/schedules/{id}/take-pager", Responder),
        (
            "DELETE /api/v1/schedules/{id}/overrides/{override_id}",
            Admin,
        ),
        ("GET /api/v1/audit", Viewer),
        ("GET /api/v1/outbox/dead-letters", Responder),
        ("GET /api/v1/inbox", Viewer),
        ("GET /api/v1/drills", Viewer),
        ("POST /api/v1/drills", Responder),
        ("GET /api/v1/drills/{id}", Viewer),
        ("POST /api/v1/drills/{id}/inject", Responder),
        ("POST /api/v1/drills/{id}/skip", Responder),
        ("POST /api/v1/drills/{id}/pause", Responder),
        ("POST /api/v1/drills/{id}/resume", Responder),
        ("POST /api/v1/drills/{id}/step", Responder),
        ("POST /api/v1/drills/{id}/end", Responder),
        ("GET /api/v1/drills/{id}/report", Viewer),
        ("GET /api/v1/reports/policies", Viewer),
        ("GET /api/v1/reports/load", Viewer),
        ("GET /api/v1/reports/load/heatmap.svg", Viewer),
        ("GET /api/v1/reports/load/people.svg", Viewer),
        ("GET /api/v1/alerts", Viewer),
        ("GET /api/v1/alerts/{id}", Viewer),
        ("POST /api/v1/alerts/{id}/ack", Responder),
        ("POST /api/v1/alerts/{id}/resolve", Responder),
        ("POST /api/v1/integrations/{key}/alertmanager", Key),
        ("POST /api/v1/integrations/{key}/events", Key),
        ("POST /api/v1/heartbeats/{key}", Key),
        ("GET /api/v1/silences", Viewer),
        ("POST /api/v1/silences", Responder),
        ("DELETE /api/v1/silences/{id}", Responder),
        ("GET /api/v1/status-page/incidents", Viewer),
        ("POST /api/v1/status-page/incidents", Responder),
        ("GET /api/v1/status-page/incidents/{id}", Viewer),
        ("POST /api/v1/status-page/incidents/{id}/updates", Responder),
        (
            "POST /api/v1/status-page/incidents/{id}/updates/{update_id}/approve",
            Responder,
        ),
        (
            "POST /api/v1/status-page/incidents/{id}/updates/{update_id}/publish",
            Responder,
        ),
    ];
    rows.iter().copied().collect()
}

/// Operations that, on the things this test sends them to (an incident on checkout, the
/// payments-primary schedule), write what team payments owns, or concern every team: an admin
/// limited to another team gets 403 there (`muster_server::scope`), and passes the door
/// elsewhere (reads, drills, and writes whose owners are in the body, which `team_scopes.rs`
/// covers).
fn other_team_refused(op: &str) -> bool {
    let (method, path) = op.split_once(' ').unwrap_or_default();
    method != "GET"
        && (path.starts_with("/api/v1/incidents/{id}")
            || path.starts_with("/api/v1/schedules/{id}/overrides")
            || path == "/api/v1/schedules/{id}/take-pager"
            || path == "/api/v1/config/reload")
}

/// A caller: a label, the token sent (none for `None`), the access it carries, if any, and
/// whether it is limited to a team that owns nothing this test touches.
struct Callers {
    list: Vec<(&'static str, Option<String>, Option<Access>, bool)>,
}

async fn callers(app: &TestApp) -> Callers {
    let now = app.clock.now();
    let revoked = app
        .store
        .create_token("revoked", Access::Admin, now)
        .await
        .expect("token");
    assert!(
        app.store
            .revoke_token("revoked", now)
            .await
            .expect("revoke")
    );
    let expired = app
        .store
        .create_token_expiring(
            "expired",
            Access::Admin,
            now - jiff::SignedDuration::from_hours(2),
            Some(now - jiff::SignedDuration::from_hours(1)),
        )
        .await
        .expect("token");
    let other_team = app
        .store
        .create_scoped_token(
            "identity-lead",
            Access::Admin,
            now,
            None,
            &muster_core::Scope::teams(["identity"]),
        )
        .await
        .expect("token");
    Callers {
        list: vec![
            ("no token", None, None, false),
            ("revoked admin", Some(revoked), None, false),
            ("expired admin", Some(expired), None, false),
            ("feed", Some(app.feed.clone()), None, false),
            (
                "viewer",
                Some(app.viewer.clone()),
                Some(Access::Viewer),
                false,
            ),
            (
                "responder",
                Some(app.responder.clone()),
                Some(Access::Responder),
                false,
            ),
            ("admin", Some(app.admin.clone()), Some(Access::Admin), false),
            (
                "other-team admin",
                Some(other_team),
                Some(Access::Admin),
                true,
            ),
        ],
    }
}

/// A concrete path for a documented one, on things that exist (so a refusal cannot hide
/// behind a 404).
fn concrete(path: &str, incident: &str) -> String {
    let id = if path.starts_with("/api/v1/schedules/{id}") {
        "payments-primary"
    } else {
        incident
    };
    path.replace("{id}", id)
        .replace("{role}", "scribe")
        .replace("{task_id}", "1")
        .replace("{person}", "alice")
        .replace("{override_id}", "ovr-1")
        .replace("{update_id}", "pu-1")
        .replace("{key}", "no-such-key")
}

both!(
    every_operation_answers_every_caller_as_the_table_says,
    |app| async move {
        let incident = app.declare("Matrix").await;
        let (s, doc, _) = app.send(Method::GET, "/openapi.json", None, None).await;
        assert_eq!(s, 200);
        let table = table();
        let callers = callers(&app).await;
        let mut wrong = Vec::new();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("operations").keys() {
                let op = format!("{} {path}", method.to_uppercase());
                let Some(&needs) = table.get(op.as_str()) else {
                    wrong.push(format!("{op}: no row in the authorization table"));
                    continue;
                };
                seen += 1;
                let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
                let url = concrete(path, &incident);
                let body = matches!(m, Method::POST | Method::PATCH).then(|| json!({}));
                for (who, token, access, other_team) in &callers.list {
                    let (s, v, _) = app
                        .send(m.clone(), &url, token.as_deref(), body.clone())
                        .await;
                    let problem = if *other_team && other_team_refused(&op) {
                        let code = v["error"]["code"].as_str().unwrap_or("");
                        (s != 403 || code != "forbidden").then(|| format!("{s} {v}, want 403"))
                    } else {
                        judge(needs, *access, s, &v)
                    };
                    if let Some(problem) = problem {
                        wrong.push(format!("{op} as {who}: {problem}"));
                    }
                }
            }
        }
        assert_eq!(
            seen,
            table.len(),
            "rows for operations no longer documented"
        );
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
);

/// What is wrong with answer `s`/`v` for a caller holding `access` (`None`: no valid token)
/// on an operation that needs `needs`; `None` when it is right.
fn judge(needs: Needs, access: Option<Access>, s: u16, v: &Value) -> Option<String> {
    let code = v["error"]["code"].as_str().unwrap_or("");
    let needed = match needs {
        // Intake ignores bearer tokens: the unknown key is a 404 for everyone.
        Needs::Key => return (s != 404).then(|| format!("{s} {v}, want 404")),
        Needs::Viewer => Access::Viewer,
        Needs::Responder => Access::Responder,
        Needs::Admin => Access::Admin,
    };
    match access {
        None => (s != 401 || code != "unauthorized").then(|| format!("{s} {v}, want 401")),
        Some(a) if !a.allows(needed) => {
            (s != 403 || code != "forbidden").then(|| format!("{s} {v}, want 403"))
        }
        Some(_) => {
            matches!(s, 401 | 403 | 500..).then(|| format!("{s} {v}, want an answer past the door"))
        }
    }
}
