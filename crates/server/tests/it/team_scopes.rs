//! Team scopes: a token limited to teams writes only what its teams own (the owner teams of
//! an incident's, alert's or silence's services; a schedule's team), reads everything, and
//! never does what concerns every team. Refusals are 403 before the body is read, and write
//! nothing.

use muster_core::{Access, Clock, IncidentNumber, Scope};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::TestApp;

async fn limited(app: &TestApp, name: &str, access: Access, teams: &[&str]) -> String {
    app.store
        .create_scoped_token(
            name,
            access,
            app.clock.now(),
            None,
            &Scope::teams(teams.iter().copied()),
        )
        .await
        .expect("token")
}

async fn send(
    app: &TestApp,
    token: &str,
    m: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (s, v, _) = app.send(m, path, Some(token), body).await;
    (s, v)
}

fn refused(s: u16, v: &Value, message: &str) {
    assert_eq!(s, 403, "{v}");
    assert_eq!(v["error"]["code"], "forbidden", "{v}");
    assert_eq!(v["error"]["message"], message, "{v}");
}

async fn timeline_len(app: &TestApp, id: &str) -> usize {
    let n: IncidentNumber = id.parse().expect("id");
    app.store
        .timeline(n, 0, 1000)
        .await
        .expect("timeline")
        .len()
}

both!(
    a_limited_token_works_its_teams_incidents_only,
    |app| async move {
        let payments = limited(&app, "payments-bot", Access::Responder, &["payments"]).await;
        let identity = limited(&app, "identity-bot", Access::Responder, &["identity"]).await;
        // checkout belongs to payments.
        let inc = app.declare("Checkout down").await;
        let note = format!("/api/v1/incidents/{inc}/notes");

        let (s, v) = send(
            &app,
            &payments,
            Method::POST,
            &note,
            Some(json!({"text": "on it"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");

        let before = timeline_len(&app, &inc).await;
        // The body is not even read: an empty one is refused the same way.
        for body in [json!({"text": "not mine"}), json!({})] {
            let (s, v) = send(&app, &identity, Method::POST, &note, Some(body)).await;
            refused(
                s,
                &v,
                &format!(
                    "token `identity-bot` is limited to team identity; incident {inc} belongs to payments"
                ),
            );
        }
        let (s, v) = send(
            &app,
            &identity,
            Method::PATCH,
            &format!("/api/v1/incidents/{inc}"),
            Some(json!({"severity": "SEV3"})),
        )
        .await;
        assert_eq!(s, 403, "{v}");
        assert_eq!(timeline_len(&app, &inc).await, before, "nothing written");

        // Reading is not limited.
        let (s, _) = send(
            &app,
            &identity,
            Method::GET,
            &format!("/api/v1/incidents/{inc}"),
            None,
        )
        .await;
        assert_eq!(s, 200);

        // Naming another team's service beside its own is triage; handing the incident over
        // to another team entirely is refused.
        let patch = format!("/api/v1/incidents/{inc}");
        let both = json!({"services": ["checkout", "login"]});
        let (s, v) = send(&app, &payments, Method::PATCH, &patch, Some(both)).await;
        assert_eq!(s, 200, "{v}");
        let theirs = json!({"services": ["login"]});
        let (s, v) = send(&app, &payments, Method::PATCH, &patch, Some(theirs)).await;
        refused(
            s,
            &v,
            "token `payments-bot` is limited to team payments; the incident after this change belongs to identity",
        );
    }
);

both!(
    declarations_are_limited_to_the_callers_services,
    |app| async move {
        let identity = limited(
            &app,
            "identity-bot",
            Access::Responder,
            &["identity", "messaging"],
        )
        .await;
        let (s, v) = send(
            &app,
            &identity,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Checkout", "severity": "SEV2", "services": ["checkout"]})),
        )
        .await;
        refused(
            s,
            &v,
            "token `identity-bot` is limited to teams identity, messaging; a declared service belongs to payments",
        );
        let (_, list) = app.get("/api/v1/incidents").await;
        assert_eq!(list.as_array().map(Vec::len), Some(0), "nothing declared");

        let (s, v) = send(
            &app,
            &identity,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Logins fail", "severity": "SEV2", "services": ["login"]})),
        )
        .await;
        assert_eq!(s, 201, "{v}");

        // An incident no team owns yet (untriaged) is shared: any scope may work it.
        let (s, v) = send(
            &app,
            &identity,
            Method::POST,
            "/api/v1/incidents",
            Some(json!({"title": "Something is off", "severity": "SEV3"})),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let unowned = v["id"].as_str().expect("id").to_string();
        let payments = limited(&app, "payments-bot", Access::Responder, &["payments"]).await;
        let (s, v) = send(
            &app,
            &payments,
            Method::POST,
            &format!("/api/v1/incidents/{unowned}/notes"),
            Some(json!({"text": "looking"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
);

both!(silences_and_alerts_follow_their_service, |app| async move {
    let identity = limited(&app, "identity-bot", Access::Responder, &["identity"]).await;
    let payments = limited(&app, "payments-bot", Access::Responder, &["payments"]).await;
    let to = (app.clock.now() + jiff::SignedDuration::from_hours(2)).to_string();
    let (s, v) = send(
        &app,
        &identity,
        Method::POST,
        "/api/v1/silences",
        Some(json!({"service": "checkout", "to": to, "reason": "deploy"})),
    )
    .await;
    refused(
        s,
        &v,
        "token `identity-bot` is limited to team identity; service `checkout` belongs to payments",
    );
    let (s, v) = send(
        &app,
        &payments,
        Method::POST,
        "/api/v1/silences",
        Some(json!({"service": "checkout", "to": to, "reason": "deploy"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let silence = v["id"].as_i64().expect("id");
    let (s, v) = send(
        &app,
        &identity,
        Method::DELETE,
        &format!("/api/v1/silences/{silence}"),
        None,
    )
    .await;
    refused(
        s,
        &v,
        &format!(
            "token `identity-bot` is limited to team identity; silence {silence} belongs to payments"
        ),
    );
    let (_, live) = app.get("/api/v1/silences").await;
    assert_eq!(live.as_array().map(Vec::len), Some(1), "still in force");
    let (s, _) = send(
        &app,
        &payments,
        Method::DELETE,
        &format!("/api/v1/silences/{silence}"),
        None,
    )
    .await;
    assert_eq!(s, 200);

    // An alert on payments-api, where the demo's Events v2 integration sends them.
    let (s, v, _) = app
        .send(
            Method::POST,
            "/v2/enqueue",
            None,
            Some(
                json!({"routing_key": "demo-events-v2", "event_action": "trigger",
                "dedup_key": "scope-1",
                "payload": {"summary": "Payments 5xx", "source": "api-1", "severity": "critical"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let alert = wait_for_alert(&app).await;
    assert_eq!(alert["service"], "payments-api");
    let id = alert["id"].as_i64().expect("id");
    let (s, v) = send(
        &app,
        &identity,
        Method::POST,
        &format!("/api/v1/alerts/{id}/ack"),
        None,
    )
    .await;
    refused(
        s,
        &v,
        &format!(
            "token `identity-bot` is limited to team identity; alert {id} belongs to payments"
        ),
    );
    let (_, still) = app.get(&format!("/api/v1/alerts/{id}")).await;
    assert_eq!(still["status"], "firing", "{still}");
    let (s, v) = send(
        &app,
        &payments,
        Method::POST,
        &format!("/api/v1/alerts/{id}/ack"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
});

async fn wait_for_alert(app: &TestApp) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (_, v) = app.get("/api/v1/alerts").await;
        if let Some(a) = v.as_array().and_then(|a| a.first()) {
            return a.clone();
        }
        assert!(std::time::Instant::now() < deadline, "no alert stored");
        tokio::task::yield_now().await;
    }
}

both!(
    overrides_and_reloads_need_the_right_scope,
    |app| async move {
        let payments_admin = limited(&app, "payments-lead", Access::Admin, &["payments"]).await;
        let from = app.clock.now();
        let body = json!({"person": "alice", "from": from.to_string(),
        "to": (from + jiff::SignedDuration::from_hours(4)).to_string(), "reason": "cover"});
        let (s, v) = send(
            &app,
            &payments_admin,
            Method::POST,
            "/api/v1/schedules/payments-primary/overrides",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        let (s, v) = send(
            &app,
            &payments_admin,
            Method::POST,
            "/api/v1/schedules/platform-primary/overrides",
            Some(body),
        )
        .await;
        refused(
            s,
            &v,
            "token `payments-lead` is limited to team payments; schedule `platform-primary` belongs to platform",
        );
        let (_, listed) = send(
            &app,
            &app.admin,
            Method::GET,
            "/api/v1/schedules/platform-primary/overrides",
            None,
        )
        .await;
        assert!(
            !listed.to_string().contains("\"cover\""),
            "nothing stored on platform-primary: {listed}"
        );
        let (s, v) = send(
            &app,
            &payments_admin,
            Method::POST,
            "/api/v1/config/reload",
            None,
        )
        .await;
        refused(
            s,
            &v,
            "token `payments-lead` is limited to team payments; reloading the configuration concerns every team",
        );
    }
);
