//! `GET /api/v1/incidents/{id}/similar`: the obviously related past incident first, with the
//! people who held roles in it.

use serde_json::json;

use crate::both;
use crate::support::TestApp;

async fn declare(app: &TestApp, title: &str, service: &str) -> String {
    let (s, v) = app
        .post(
            "/api/v1/incidents",
            json!({"title": title, "severity": "SEV2", "services": [service]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

both!(
    similar_incidents_rank_the_related_one_first,
    |app| async move {
        let app: TestApp = app;
        let old = declare(&app, "Redis evictions make checkout slow", "checkout").await;
        for (role, person) in [("incident_commander", "bob"), ("ops_lead", "priya")] {
            let (s, v) = app
                .post(
                    &format!("/api/v1/incidents/{old}/roles"),
                    json!({"role": role, "person": person}),
                )
                .await;
            assert!(s == 200 || s == 201, "{v}");
        }
        let (s, _) = app
            .post(
                &format!("/api/v1/incidents/{old}/notes"),
                json!({"text": "maxmemory reached, keys evicted"}),
            )
            .await;
        assert!(s == 200 || s == 201);
        declare(
            &app,
            "Kafka consumer lag on fraud detection",
            "fraud-detection",
        )
        .await;
        declare(&app, "CDN certificate expiring", "cdn").await;
        let new = declare(&app, "Checkout slow again: redis maxmemory", "payments-api").await;

        let (s, v) = app
            .get(&format!("/api/v1/incidents/{new}/similar?limit=3"))
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["incident"], new.as_str());
        let similar = v["similar"].as_array().unwrap();
        assert!(!similar.is_empty() && similar.len() <= 3);
        assert_eq!(similar[0]["id"], old.as_str(), "{v}");
        assert_eq!(similar[0]["title"], "Redis evictions make checkout slow");
        assert!(similar[0]["score"].as_f64().unwrap() > 0.0);
        // The demo's playbooks assign roles at declaration too; everyone who held one is listed.
        let experts = similar[0]["experts"].as_array().unwrap();
        for expected in [
            json!({"person": "bob", "name": "Bob Brown", "roles": ["incident_commander"]}),
            json!({"person": "priya", "name": "Priya Patel", "roles": ["ops_lead"]}),
        ] {
            assert!(experts.contains(&expected), "{expected} not in {experts:?}");
        }
        assert!(similar.iter().all(|s| s["id"] != new.as_str()));

        // "Brief me" names the same incident and its experts.
        let (s, v) = app.get(&format!("/api/v1/incidents/{new}/brief")).await;
        assert_eq!(s, 200, "{v}");
        let in_brief = v["summary"]["similar"]
            .as_array()
            .expect("similar in the brief");
        assert_eq!(in_brief[0]["id"], old.as_str(), "{v}");
        let names = in_brief[0]["experts"].as_array().unwrap();
        assert!(
            names.contains(&json!("bob")) && names.contains(&json!("priya")),
            "{v}"
        );
        assert!(
            v["markdown"]
                .as_str()
                .unwrap()
                .contains("Redis evictions make checkout slow"),
            "{v}"
        );

        let (s, v) = app
            .get(&format!("/api/v1/incidents/{new}/similar?limit=0"))
            .await;
        assert_eq!(s, 400, "{v}");
        assert!(v["error"]["message"].as_str().unwrap().starts_with("limit"));
        let (s, _) = app.get("/api/v1/incidents/INC-999/similar").await;
        assert_eq!(s, 404);
    }
);
