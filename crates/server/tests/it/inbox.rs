//! `GET /api/v1/inbox`: what the store keeps, as a viewer reads it.

use muster_core::{IncidentNumber, Timestamp};
use muster_store::{NewInboxEntry, Store};
use reqwest::Method;
use serde_json::json;

use crate::both;

fn entry(key: &str, incident: Option<i64>, person: Option<&str>, recipient: &str) -> NewInboxEntry {
    NewInboxEntry {
        key: key.into(),
        incident: incident.map(IncidentNumber),
        person: person.map(String::from),
        recipient: recipient.into(),
        subject: format!("Subject {key}"),
        text: format!("Text {key}"),
        reason: "no configured provider reaches them".into(),
    }
}

both!(
    inbox_lists_entries_newest_first_with_filters,
    |app| async move {
        let id = app.declare("Checkout down").await;
        assert_eq!(id, "INC-1");
        let store = Store::connect(&app.db.url()).await.expect("store");
        let t = |s: &str| s.parse::<Timestamp>().expect("time");
        assert!(
            store
                .inbox_put(
                    &entry(
                        "INC-1/page:1/person:alice",
                        Some(1),
                        Some("alice"),
                        "person:alice"
                    ),
                    t("2026-03-29T03:13:00Z")
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .inbox_put(
                    &entry("digest/legal", None, None, "legal@example.com"),
                    t("2026-03-29T03:14:00Z")
                )
                .await
                .unwrap()
        );
        assert!(
            store
                .inbox_put(
                    &entry(
                        "INC-1/page:1/person:bob",
                        Some(1),
                        Some("bob"),
                        "person:bob"
                    ),
                    t("2026-03-29T03:15:00Z")
                )
                .await
                .unwrap()
        );

        let (s, v, _) = app
            .send(Method::GET, "/api/v1/inbox", Some(&app.viewer), None)
            .await;
        assert_eq!(s, 200, "{v}");
        let list = v.as_array().expect("array");
        let keys: Vec<&str> = list.iter().map(|e| e["key"].as_str().unwrap()).collect();
        assert_eq!(
            keys,
            [
                "INC-1/page:1/person:bob",
                "digest/legal",
                "INC-1/page:1/person:alice"
            ]
        );
        let mut first = list[2].clone();
        assert!(first["id"].as_i64().unwrap() > 0);
        first["id"] = json!(0);
        assert_eq!(
            first,
            json!({
                "id": 0,
                "key": "INC-1/page:1/person:alice",
                "incident": "INC-1",
                "person": "alice",
                "recipient": "person:alice",
                "subject": "Subject INC-1/page:1/person:alice",
                "text": "Text INC-1/page:1/person:alice",
                "reason": "no configured provider reaches them",
                "created_at": "2026-03-29T03:13:00Z",
            })
        );
        assert_eq!(list[1]["incident"], json!(null));
        assert_eq!(list[1]["person"], json!(null));

        let (s, v, _) = app
            .send(
                Method::GET,
                "/api/v1/inbox?person=alice",
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["key"], "INC-1/page:1/person:alice");

        let (s, v, _) = app
            .send(
                Method::GET,
                "/api/v1/inbox?incident=INC-1&limit=1",
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(s, 200, "{v}");
        assert_eq!(v.as_array().unwrap().len(), 1);
        assert_eq!(v[0]["key"], "INC-1/page:1/person:bob");

        let (s, v, _) = app.send(Method::GET, "/api/v1/inbox", None, None).await;
        assert_eq!(s, 401, "{v}");
        assert_eq!(v["error"]["code"], "unauthorized");

        let (s, v, _) = app
            .send(
                Method::GET,
                "/api/v1/inbox?incident=bogus",
                Some(&app.viewer),
                None,
            )
            .await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(
            v,
            json!({"error": {"code": "bad_request", "message": "incident: `bogus` is not an incident id"}})
        );
        store.close().await;
    }
);
