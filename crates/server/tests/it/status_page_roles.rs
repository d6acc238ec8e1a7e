//! Who may speak for the company: a public update's drafter never approves it, and only the
//! incident commander (or an admin) makes someone comms lead — through the HTTP API, on both
//! backends.

use muster_core::{Access, Clock};
use muster_store::Store;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

async fn as_token(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (s, v, _) = app.send(Method::POST, path, Some(token), Some(body)).await;
    (s, v)
}

async fn token(app: &TestApp, name: &str, access: Access) -> String {
    let store = Store::connect(&app.db.url()).await.expect("store");
    let t = store
        .create_token(name, access, app.clock.now())
        .await
        .expect("token");
    store.close().await;
    t
}

/// A SEV3 (no policy staffs it) with `alice`'s token's person as its incident commander.
async fn incident_commanded_by(app: &TestApp, commander: &str) -> String {
    let (s, v) = app
        .post(
            "/api/v1/incidents",
            json!({"title": "Refunds slow", "severity": "SEV3", "services": ["checkout"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let inc = v["id"].as_str().expect("id").to_string();
    assert_eq!(v["roles"], json!({}), "nobody staffs a SEV3: {v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/incidents/{inc}/roles"),
            json!({"role": "incident_commander", "person": commander}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    inc
}

both!(
    only_the_commander_or_an_admin_assigns_comms_lead,
    |app| async move {
        let inc = incident_commanded_by(&app, "bob").await;
        let roles = format!("/api/v1/incidents/{inc}/roles");
        // alice is a responder but not the commander.
        let (s, v) = app
            .post(&roles, json!({"role": "comms_lead", "person": "alice"}))
            .await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "forbidden");
        assert_eq!(
            v["error"]["message"],
            "only the incident's incident_commander or an admin may assign comms_lead; it is \
             held by `bob`"
        );
        // Other roles stay open to responders.
        let (s, v) = app
            .post(&roles, json!({"role": "scribe", "person": "alice"}))
            .await;
        assert_eq!(s, 200, "{v}");
        // The commander may.
        let bob = token(&app, "bob", Access::Responder).await;
        let (s, v) = as_token(
            &app,
            &bob,
            &roles,
            json!({"role": "comms_lead", "person": "alice"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["roles"]["comms_lead"]["person"], "alice");
        // An admin may.
        let (s, v) = as_token(
            &app,
            &app.admin,
            &roles,
            json!({"role": "comms_lead", "person": "grace"}),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["roles"]["comms_lead"]["person"], "grace");
        // Without a commander nobody but an admin may; the refusal wrote nothing.
        let (s, _, _) = app
            .send(
                Method::DELETE,
                &format!("{roles}/incident_commander"),
                Some(&app.responder),
                None,
            )
            .await;
        assert_eq!(s, 200);
        let (s, v) = as_token(
            &app,
            &bob,
            &roles,
            json!({"role": "comms_lead", "person": "bob"}),
        )
        .await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(
            v["error"]["message"],
            "only the incident's incident_commander or an admin may assign comms_lead; nobody \
             holds it on the incident"
        );
        let (_, inc_now) = app.get(&format!("/api/v1/incidents/{inc}")).await;
        assert_eq!(inc_now["roles"]["comms_lead"]["person"], "grace");
    }
);

both!(
    the_drafter_of_an_update_cannot_approve_it,
    |app| async move {
        let inc = incident_commanded_by(&app, "alice").await;
        // alice commands and makes herself comms lead.
        let (s, v) = app
            .post(
                &format!("/api/v1/incidents/{inc}/roles"),
                json!({"role": "comms_lead", "person": "alice"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        let (s, p) = app
            .post("/api/v1/status-page/incidents", json!({"incident": inc}))
            .await;
        assert_eq!(s, 201, "{p}");
        let updates = format!(
            "/api/v1/status-page/incidents/{}/updates",
            p["id"].as_str().expect("id")
        );
        let (s, d) = app
            .post(
                &updates,
                json!({"status": "investigating", "body": "Refunds are slow."}),
            )
            .await;
        assert_eq!(s, 201, "{d}");
        let approve = format!("{updates}/{}/approve", d["id"].as_str().expect("id"));
        // The comms lead drafted it: she may not approve it.
        let (s, v) = app.post(&approve, json!({})).await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(v["error"]["code"], "forbidden");
        assert_eq!(
            v["error"]["message"],
            "`alice` drafted this update and may not approve it; another person must (the \
         incident's comms_lead or an admin)"
        );
        // Nor may an admin approve what it drafted.
        let (s, d2) = as_token(
            &app,
            &app.admin,
            &updates,
            json!({"status": "investigating", "body": "Still slow."}),
        )
        .await;
        assert_eq!(s, 201, "{d2}");
        let approve2 = format!("{updates}/{}/approve", d2["id"].as_str().expect("id"));
        let (s, v) = as_token(&app, &app.admin, &approve2, json!({})).await;
        assert_eq!(s, 403, "{v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with("`root` drafted this update"),
            "{v}"
        );
        // Each approves the other's.
        let (s, v) = as_token(&app, &app.admin, &approve, json!({})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["approved_by"], "root");
        let (s, v) = app.post(&approve2, json!({})).await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["approved_by"], "alice");
    }
);
