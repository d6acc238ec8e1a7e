//! Run-time schedule overrides and their audit trail.

use muster_store::NewOverride;

use crate::harness::{at, t0};

fn cover(person: &str, replaces: Option<&str>) -> NewOverride {
    NewOverride {
        schedule: "payments-primary".into(),
        person: person.into(),
        replaces: replaces.map(Into::into),
        from: at(3600),
        to: at(7200),
        reason: "dentist".into(),
    }
}

backend_tests! {
    async fn overrides_are_stored_listed_and_deleted_with_an_audit_trail(db) {
        let store = &db.store;
        assert_eq!(store.schedule_revision("payments-primary").await.unwrap(), 0);
        let first = store.create_override(&cover("erin", Some("alice")), "alice", t0()).await.unwrap();
        let second = store.create_override(&cover("bob", None), "carol", at(5)).await.unwrap();
        assert_eq!(first.id, "ovr-1");
        assert_eq!(second.id, "ovr-2");
        assert_eq!(first.created_by, "alice");
        assert_eq!(first.from, at(3600));
        let other = NewOverride { schedule: "platform-primary".into(), ..cover("dave", None) };
        store.create_override(&other, "alice", at(6)).await.unwrap();

        let live = store.overrides("payments-primary").await.unwrap();
        assert_eq!(live, vec![first.clone(), second.clone()], "oldest first, this schedule only");
        assert_eq!(store.schedule_revision("payments-primary").await.unwrap(), 2);

        let removed = store.delete_override("payments-primary", "ovr-1", "bob", at(10)).await.unwrap();
        assert_eq!(removed, Some(first.clone()));
        assert_eq!(store.overrides("payments-primary").await.unwrap(), vec![second]);
        assert_eq!(store.schedule_revision("payments-primary").await.unwrap(), 3, "a deletion bumps the revision");
        assert_eq!(
            store.delete_override("payments-primary", "ovr-1", "bob", at(11)).await.unwrap(),
            None,
            "deleting twice finds nothing"
        );
        assert_eq!(
            store.delete_override("platform-primary", "ovr-2", "bob", at(11)).await.unwrap(),
            None,
            "an override is only deleted through its own schedule"
        );

        let trail = store.audit(Some("schedule:payments-primary"), 10).await.unwrap();
        let actions: Vec<(&str, &str)> = trail.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
        assert_eq!(actions, [("override.deleted", "bob"), ("override.created", "carol"), ("override.created", "alice")]);
        assert_eq!(trail[0].data["id"], "ovr-1");
        assert_eq!(trail[2].data["reason"], "dentist");
        assert_eq!(trail[2].data["replaces"], "alice");
        assert_eq!(trail[0].at, at(10));
        assert_eq!(store.audit(None, 10).await.unwrap().len(), 4);
        assert_eq!(store.audit(None, 1).await.unwrap().len(), 1);

        // The deleted row is kept with who removed it.
        let rows = db.raw_rows("SELECT deleted_by FROM schedule_overrides WHERE id = 'ovr-1'").await;
        assert_eq!(rows, vec![vec![Some("bob".to_string())]]);
    }

    async fn the_audit_log_is_append_only(db) {
        db.store.create_override(&cover("erin", None), "alice", t0()).await.unwrap();
        assert!(db.raw_execute("UPDATE audit_log SET actor = 'mallory'").await.is_err());
        assert!(db.raw_execute("DELETE FROM audit_log").await.is_err());
        let trail = db.store.audit(None, 10).await.unwrap();
        assert_eq!(trail.len(), 1);
        assert_eq!(trail[0].actor, "alice");
    }
}
