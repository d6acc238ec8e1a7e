//! A command's transaction: the incident and its policy state handed to the decision under
//! the lock, and the events, the snapshot, the service index and the new policy state written
//! together, or nothing when the decision refuses.

use muster_core::{Change, DomainError, Severity};
use muster_store::{IncidentFilter, StoreError};
use serde_json::{Value, json};

use crate::harness::{assert_consistent, at, declare, full_timeline};

fn by_service(service: &str) -> IncidentFilter {
    IncidentFilter {
        service: Some(service.into()),
        ..Default::default()
    }
}

backend_tests! {
    async fn a_command_sees_and_keeps_its_policy_state_with_its_change(db) {
        let (inc, _) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        let (after, events) = db
            .store
            .update_with_policy(inc.id, "bob", at(5), |seen, state| {
                assert_eq!(seen.last_seq, 2, "the decision sees the stored incident");
                assert_eq!(*state, Value::Null, "no policy state was written yet");
                *state = json!({"fired": ["blast-radius"]});
                Ok((
                    vec![
                        Change::NoteAdded { text: "rolled back".into() },
                        Change::ServicesChanged {
                            added: vec!["payments".into()],
                            removed: vec!["checkout".into()],
                        },
                    ],
                    Default::default(),
                ))
            })
            .await
            .unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        assert_eq!(after.last_seq, 4);
        assert_eq!(after.services, ["payments"]);
        assert_eq!(db.store.incident(inc.id).await.unwrap(), Some(after.clone()));
        assert_eq!(
            db.store.policy_state(inc.id).await.unwrap(),
            json!({"fired": ["blast-radius"]})
        );
        let found = db.store.list_incidents(&by_service("payments")).await.unwrap();
        assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), [inc.id]);
        assert!(db.store.list_incidents(&by_service("checkout")).await.unwrap().is_empty());
        assert_consistent(&db.store, inc.id).await;

        // A refusal after the state was changed: neither the state nor the timeline moves.
        let err = db
            .store
            .update_with_policy(inc.id, "bob", at(6), |_, state| {
                assert_eq!(*state, json!({"fired": ["blast-radius"]}));
                *state = json!({"fired": []});
                Err(DomainError::Conflict("already acknowledged".into()))
            })
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Domain(DomainError::Conflict(m)) if m == "already acknowledged"),
            "{err:?}"
        );
        assert_eq!(
            db.store.policy_state(inc.id).await.unwrap(),
            json!({"fired": ["blast-radius"]})
        );
        assert_eq!(full_timeline(&db.store, inc.id).await.len(), 4);

        // The writer is usable after the refusal (its transaction was ended, not left open).
        let (again, _) = db
            .store
            .update_with_policy(inc.id, "bob", at(7), |_, _| {
                Ok((vec![Change::NoteAdded { text: "still here".into() }], Default::default()))
            })
            .await
            .unwrap();
        assert_eq!(again.last_seq, 5);
    }

    async fn a_command_on_an_unknown_incident_is_not_found(db) {
        let err = db
            .store
            .update_with_policy(muster_core::IncidentNumber(42), "bob", at(5), |_, _| {
                Ok((vec![Change::NoteAdded { text: "x".into() }], Default::default()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(n) if n.0 == 42), "{err:?}");
    }
}
