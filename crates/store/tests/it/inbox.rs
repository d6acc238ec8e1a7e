//! The inbox: notifications no provider could carry, stored once per delivery key and listed
//! newest first, by person or incident.

use muster_core::{IncidentNumber, Severity};
use muster_store::{InboxEntry, InboxFilter, NewInboxEntry, Store};

use crate::harness::{at, declare};

fn entry(key: &str, incident: Option<i64>, person: Option<&str>, recipient: &str) -> NewInboxEntry {
    NewInboxEntry {
        key: key.into(),
        incident: incident.map(IncidentNumber),
        person: person.map(String::from),
        recipient: recipient.into(),
        subject: format!("subject {key}"),
        text: format!("text {key}"),
        reason: "no configured provider reaches them".into(),
    }
}

fn keys(entries: &[InboxEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

async fn list(
    store: &Store,
    person: Option<&str>,
    incident: Option<i64>,
    limit: Option<u32>,
) -> Vec<InboxEntry> {
    store
        .inbox(&InboxFilter {
            person: person.map(String::from),
            incident: incident.map(IncidentNumber),
            limit,
        })
        .await
        .expect("inbox")
}

backend_tests! {
    async fn inbox_entries_are_stored_and_listed_whole(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        let new = entry("INC-1/page:1/person:alice/inbox", Some(inc.id.0), Some("alice"), "person:alice");
        assert!(store.inbox_put(&new, at(60)).await.unwrap());
        let listed = list(store, None, None, None).await;
        assert_eq!(listed.len(), 1);
        let got = &listed[0];
        assert!(got.id > 0);
        assert_eq!(got, &InboxEntry {
            id: got.id,
            key: "INC-1/page:1/person:alice/inbox".into(),
            incident: Some(inc.id),
            person: Some("alice".into()),
            recipient: "person:alice".into(),
            subject: "subject INC-1/page:1/person:alice/inbox".into(),
            text: "text INC-1/page:1/person:alice/inbox".into(),
            reason: "no configured provider reaches them".into(),
            created_at: at(60),
        });
        // Neither incident nor person: a channel or an address outside any incident.
        assert!(store.inbox_put(&entry("digest/1", None, None, "legal@example.com"), at(61)).await.unwrap());
        let listed = list(store, None, None, None).await;
        assert_eq!(keys(&listed), ["digest/1", "INC-1/page:1/person:alice/inbox"]);
        assert_eq!(listed[0].incident, None);
        assert_eq!(listed[0].person, None);
        assert_eq!(listed[0].recipient, "legal@example.com");
    }

    async fn inbox_put_is_idempotent_on_the_key(db) {
        let store = &db.store;
        let first = entry("k1", None, Some("bob"), "person:bob");
        assert!(store.inbox_put(&first, at(10)).await.unwrap());
        // A re-delivery after a crash: same key, maybe other text and time; nothing stored.
        let mut again = first.clone();
        again.text = "rendered again".into();
        assert!(!store.inbox_put(&again, at(20)).await.unwrap());
        let listed = list(store, None, None, None).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].text, "text k1");
        assert_eq!(listed[0].created_at, at(10));
    }

    async fn inbox_filters_by_person_and_incident(db) {
        let store = &db.store;
        let (one, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        let (two, _) = declare(store, "Search slow", Severity::Sev3, &["search"]).await;
        let puts = [
            entry("a1", Some(one.id.0), Some("alice"), "person:alice"),
            entry("b1", Some(one.id.0), Some("bob"), "person:bob"),
            entry("c1", Some(one.id.0), None, "#payments"),
            entry("a2", Some(two.id.0), Some("alice"), "person:alice"),
            entry("a3", None, Some("alice"), "person:alice"),
        ];
        for (i, e) in puts.iter().enumerate() {
            assert!(store.inbox_put(e, at(i as i64)).await.unwrap());
        }
        assert_eq!(keys(&list(store, Some("alice"), None, None).await), ["a3", "a2", "a1"]);
        assert_eq!(keys(&list(store, Some("bob"), None, None).await), ["b1"]);
        assert!(list(store, Some("carol"), None, None).await.is_empty());
        assert_eq!(keys(&list(store, None, Some(one.id.0), None).await), ["c1", "b1", "a1"]);
        assert_eq!(keys(&list(store, None, Some(two.id.0), None).await), ["a2"]);
        assert_eq!(keys(&list(store, Some("alice"), Some(one.id.0), None).await), ["a1"]);
        assert_eq!(keys(&list(store, Some("alice"), Some(one.id.0), Some(0)).await), Vec::<&str>::new());
    }

    async fn inbox_is_newest_first_and_limited(db) {
        let store = &db.store;
        // Stored out of time order (two nodes, clocks apart): listing follows created_at,
        // then the newest row among equal times.
        assert!(store.inbox_put(&entry("late", None, None, "#ops"), at(300)).await.unwrap());
        assert!(store.inbox_put(&entry("early", None, None, "#ops"), at(100)).await.unwrap());
        assert!(store.inbox_put(&entry("tie-1", None, None, "#ops"), at(200)).await.unwrap());
        assert!(store.inbox_put(&entry("tie-2", None, None, "#ops"), at(200)).await.unwrap());
        assert_eq!(keys(&list(store, None, None, None).await), ["late", "tie-2", "tie-1", "early"]);
        assert_eq!(keys(&list(store, None, None, Some(2)).await), ["late", "tie-2"]);

        for i in 0..105 {
            store.inbox_put(&entry(&format!("bulk-{i}"), None, None, "#ops"), at(400 + i)).await.unwrap();
        }
        let default = list(store, None, None, None).await;
        assert_eq!(default.len(), 100, "default limit");
        assert_eq!(default[0].key, "bulk-104");
        assert_eq!(list(store, None, None, Some(5000)).await.len(), 109, "max 1000, all 109 here");
    }
}
