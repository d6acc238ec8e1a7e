//! Similar past incidents: the full-text index follows incident writes (triggers), ranks the
//! related incident first and names who held roles in it.

use muster_core::{Command, IncidentNumber, Severity};
use muster_store::StoreError;

use crate::harness::{at, declare, run};

backend_tests! {
    async fn the_related_incident_ranks_first_with_its_role_holders(db) {
        let store = &db.store;
        let (old, _) = declare(store, "Checkout payments failing with database timeouts", Severity::Sev1, &["checkout"]).await;
        run(store, old.id, "alice", at(10), Command::AssignRole { role: "incident_commander".into(), person: "bob".into() }).await.unwrap();
        run(store, old.id, "alice", at(20), Command::AssignRole { role: "comms_lead".into(), person: "carol".into() }).await.unwrap();
        run(store, old.id, "bob", at(30), Command::AddNote { text: "connection pool exhausted on the primary".into() }).await.unwrap();
        let (_noise, _) = declare(store, "Search results slow", Severity::Sev3, &["search"]).await;
        let (_other, _) = declare(store, "Login page typo", Severity::Sev4, &[]).await;
        let (new, _) = declare(store, "Payments failing at checkout", Severity::Sev2, &["payments-api"]).await;
        run(store, new.id, "alice", at(40), Command::AddNote { text: "database connection pool exhausted again".into() }).await.unwrap();

        let found = store.similar_incidents(new.id, 5).await.unwrap();
        assert!(!found.is_empty());
        assert_eq!(found[0].incident.id, old.id, "{found:#?}");
        assert!(found.iter().all(|s| s.incident.id != new.id), "never itself");
        let experts: Vec<(&str, Vec<&str>)> = found[0].experts.iter()
            .map(|e| (e.person.as_str(), e.roles.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(experts, vec![("bob", vec!["incident_commander"]), ("carol", vec!["comms_lead"])]);
        if found.len() > 1 {
            assert!(found[0].score > found[1].score);
        }

        // A note added later is searchable at once (the index follows the timeline).
        let (lonely, _) = declare(store, "Zebra crossing", Severity::Sev4, &[]).await;
        assert!(store.similar_incidents(lonely.id, 5).await.unwrap().is_empty());
        run(store, old.id, "bob", at(50), Command::AddNote { text: "zebra stripes in the logs".into() }).await.unwrap();
        let found = store.similar_incidents(lonely.id, 5).await.unwrap();
        assert_eq!(found.first().map(|s| s.incident.id), Some(old.id));

        // A changed title is searchable under both names.
        run(store, lonely.id, "alice", at(60), Command::Update { title: Some("Quokka outage".into()), severity: None, status: None, services: None }).await.unwrap();
        let (q, _) = declare(store, "quokka zebra", Severity::Sev4, &[]).await;
        let ids: Vec<i64> = store.similar_incidents(q.id, 5).await.unwrap().iter().map(|s| s.incident.id.0).collect();
        assert!(ids.contains(&lonely.id.0), "{ids:?}");

        assert!(matches!(store.similar_incidents(IncidentNumber(999), 5).await, Err(StoreError::NotFound(_))));
        assert!(store.similar_incidents(new.id, 0).await.unwrap().is_empty());
    }

    async fn imported_incidents_are_indexed(db) {
        let store = &db.store;
        let services = vec!["checkout".to_string()];
        let changes = muster_core::declare("Kafka lag on checkout", Severity::Sev2, &services, &crate::harness::vocab()).unwrap();
        let events: Vec<muster_core::TimelineEvent> = changes.into_iter().map(|change| muster_core::TimelineEvent {
            seq: 0, at: at(0), actor: "import".into(), change,
        }).collect();
        let numbers = store.import_incidents(vec![events.clone(), events]).await.unwrap();
        assert_eq!(numbers, vec![IncidentNumber(1), IncidentNumber(2)]);
        let found = store.similar_incidents(IncidentNumber(1), 5).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].incident.id, IncidentNumber(2));
        assert_eq!(found[0].incident.title, "Kafka lag on checkout");
    }
}
