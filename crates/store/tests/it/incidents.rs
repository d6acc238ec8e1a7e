//! Declaring, updating, reading and listing incidents.

use muster_core::{
    Change, Command, DomainError, IncidentNumber, Severity, Status, TimelineEvent, Timestamp,
};
use muster_store::{IncidentCount, IncidentFilter, StoreError};

use crate::harness::{assert_consistent, at, declare, full_timeline, run, t0};

fn numbers(incidents: &[muster_core::Incident]) -> Vec<i64> {
    incidents.iter().map(|i| i.id.0).collect()
}

backend_tests! {
    async fn declare_numbers_are_sequential_and_survive_a_restart(db) {
        let mut db = db;
        let (first, events) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        assert_eq!(first.id.to_string(), "INC-1");
        assert_eq!(first.title, "Checkout 500s");
        assert_eq!(first.services, vec!["checkout".to_string()]);
        assert_eq!(first.declared_by, "alice");
        assert_eq!(first.declared_at, t0());
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(events[0].change.kind(), "declared");
        assert_eq!(first.last_seq, 2);
        assert!(first.milestone("declared").is_some());

        let (second, _) = declare(&db.store, "Search slow", Severity::Sev3, &[]).await;
        assert_eq!(second.id, IncidentNumber(2));
        assert_eq!(db.store.incident(first.id).await.unwrap(), Some(first.clone()));

        db.reopen().await;
        assert_eq!(db.store.incident(first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(full_timeline(&db.store, first.id).await, events);
        let (third, _) = declare(&db.store, "Payments down", Severity::Sev2, &[]).await;
        assert_eq!(third.id, IncidentNumber(3), "numbers continue after a restart");
        assert_consistent(&db.store, first.id).await;
        assert_consistent(&db.store, third.id).await;
    }

    async fn declare_without_a_declared_change_is_refused(db) {
        let err = db
            .store
            .declare("alice", t0(), vec![Change::NoteAdded { text: "hi".into() }])
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        let err = db.store.declare("alice", t0(), vec![]).await.unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        // Nothing was allocated: the next declare is still INC-1.
        let (inc, _) = declare(&db.store, "x", Severity::Sev4, &[]).await;
        assert_eq!(inc.id, IncidentNumber(1));
    }

    async fn updates_append_gap_free_seqs_and_the_snapshot_is_the_replay(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout 500s", Severity::Sev2, &["checkout"]).await;
        let id = inc.id;
        let commands = vec![
            Command::Acknowledge,
            Command::AssignRole { role: "incident_commander".into(), person: "bob".into() },
            Command::AddTask { title: "roll back deploy".into(), assignee: Some("carol".into()) },
            Command::AddTask { title: "page payments".into(), assignee: None },
            Command::SetTaskDone { task_id: 1, done: true },
            Command::Update {
                title: Some("Checkout and payments 500s".into()),
                severity: Some(Severity::Sev1),
                status: Some(Status::Identified),
                services: Some(vec!["checkout".into(), "payments-api".into()]),
            },
            Command::AddNote { text: "rollback at 03:40".into() },
            Command::ReachMilestone { milestone: "mitigated".into() },
            Command::Resolve,
            Command::Reopen { status: Status::Investigating },
            Command::ReleaseRole { role: "incident_commander".into() },
        ];
        let mut last_seq = inc.last_seq;
        let mut appended: Vec<TimelineEvent> = Vec::new();
        for (i, command) in commands.into_iter().enumerate() {
            // Sub-millisecond precision on purpose: the store keeps milliseconds.
            let now = Timestamp::from_nanosecond(
                at(60 * (i as i64 + 1)).as_nanosecond() + 123_456_789,
            )
            .unwrap();
            let (after, events) = run(store, id, "bob", now, command.clone()).await.unwrap();
            assert!(!events.is_empty(), "{command:?} appended nothing");
            let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
            let expected: Vec<i64> = (last_seq + 1..=last_seq + events.len() as i64).collect();
            assert_eq!(seqs, expected, "after {command:?}");
            assert!(events.iter().all(|e| e.actor == "bob"));
            assert!(events.iter().all(|e| e.at.as_millisecond() == now.as_millisecond()));
            assert_eq!(after.last_seq, expected[expected.len() - 1]);
            assert_eq!(store.incident(id).await.unwrap().as_ref(), Some(&after));
            last_seq = after.last_seq;
            appended.extend(events);
        }
        let snapshot = assert_consistent(store, id).await;
        assert_eq!(snapshot.title, "Checkout and payments 500s");
        assert_eq!(snapshot.severity, Severity::Sev1);
        assert_eq!(snapshot.status, Status::Investigating);
        assert_eq!(snapshot.services, vec!["checkout".to_string(), "payments-api".to_string()]);
        assert!(snapshot.roles.is_empty());
        assert_eq!(snapshot.tasks.len(), 2);
        assert!(snapshot.tasks[0].done);
        assert_eq!(snapshot.reopened_seq, snapshot.last_seq - 1);
        // What update returned is exactly what was stored.
        let stored = full_timeline(store, id).await;
        assert_eq!(&stored[2..], &appended[..]);
    }

    async fn a_refused_decision_writes_nothing(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout 500s", Severity::Sev2, &[]).await;
        let (resolved, _) = run(store, inc.id, "bob", at(60), Command::Resolve).await.unwrap();
        let before = full_timeline(store, inc.id).await;

        let err = run(store, inc.id, "bob", at(120), Command::Resolve).await.unwrap_err();
        assert!(matches!(err, StoreError::Domain(DomainError::Conflict(_))), "{err:?}");
        let err = run(
            store,
            inc.id,
            "bob",
            at(120),
            Command::AssignRole { role: "scribe".into(), person: "mallory".into() },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StoreError::Domain(DomainError::Unknown { .. })), "{err:?}");

        assert_eq!(full_timeline(store, inc.id).await, before);
        assert_eq!(store.incident(inc.id).await.unwrap(), Some(resolved));
        // The next accepted change continues right after the last stored seq.
        let (_, events) = run(
            store,
            inc.id,
            "bob",
            at(180),
            Command::Reopen { status: Status::Identified },
        )
        .await
        .unwrap();
        assert_eq!(events[0].seq, before.len() as i64 + 1);
        assert_consistent(store, inc.id).await;
    }

    async fn an_empty_decision_writes_nothing(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout 500s", Severity::Sev2, &[]).await;
        let (same, events) = run(
            store,
            inc.id,
            "bob",
            at(60),
            Command::Update { title: None, severity: Some(Severity::Sev2), status: None, services: None },
        )
        .await
        .unwrap();
        assert!(events.is_empty());
        assert_eq!(same, inc);
        assert_eq!(store.incident(inc.id).await.unwrap(), Some(inc.clone()));
        assert_eq!(full_timeline(store, inc.id).await.len(), 2);
    }

    async fn a_missing_incident_is_not_found(db) {
        let store = &db.store;
        declare(store, "exists", Severity::Sev4, &[]).await;
        let missing = IncidentNumber(99);
        let err = run(store, missing, "bob", at(1), Command::Acknowledge).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(n) if n == missing), "{err:?}");
        assert_eq!(store.incident(missing).await.unwrap(), None);
        let err = store.timeline(missing, 0, 10).await.unwrap_err();
        assert!(matches!(err, StoreError::NotFound(n) if n == missing), "{err:?}");
        // The decision never ran for a missing incident.
        let err = store
            .update(missing, "bob", at(1), |_| -> Result<Vec<Change>, DomainError> {
                panic!("decide called for a missing incident")
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)));
    }

    async fn list_filters(db) {
        let store = &db.store;
        // INC-1..INC-6
        let specs: [(Severity, &[&str]); 6] = [
            (Severity::Sev1, &["checkout"]),
            (Severity::Sev2, &["checkout", "payments-api"]),
            (Severity::Sev3, &["search"]),
            (Severity::Sev1, &[]),
            (Severity::Sev2, &["payments-api"]),
            (Severity::Sev4, &["search", "checkout"]),
        ];
        for (i, (severity, services)) in specs.iter().enumerate() {
            declare(store, &format!("incident {}", i + 1), *severity, services).await;
        }
        let id = |n| IncidentNumber(n);
        run(store, id(2), "bob", at(1), Command::Acknowledge).await.unwrap(); // investigating
        run(store, id(3), "bob", at(1), Command::Resolve).await.unwrap();
        run(store, id(5), "bob", at(1), Command::Resolve).await.unwrap();
        // INC-6 leaves checkout: the service filter must follow.
        run(
            store,
            id(6),
            "bob",
            at(2),
            Command::Update { title: None, severity: None, status: None, services: Some(vec!["search".into()]) },
        )
        .await
        .unwrap();

        let list = |filter: IncidentFilter| async move { numbers(&store.list_incidents(&filter).await.unwrap()) };

        assert_eq!(list(IncidentFilter::default()).await, vec![6, 5, 4, 3, 2, 1]);
        assert_eq!(
            list(IncidentFilter { status: Some(vec![Status::Resolved]), ..Default::default() }).await,
            vec![5, 3]
        );
        assert_eq!(
            list(IncidentFilter {
                status: Some(vec![Status::Triage, Status::Investigating]),
                ..Default::default()
            })
            .await,
            vec![6, 4, 2, 1]
        );
        assert_eq!(
            list(IncidentFilter { status: Some(vec![]), ..Default::default() }).await,
            Vec::<i64>::new()
        );
        assert_eq!(
            list(IncidentFilter { severity: Some(vec![Severity::Sev1]), ..Default::default() }).await,
            vec![4, 1]
        );
        assert_eq!(
            list(IncidentFilter {
                severity: Some(vec![Severity::Sev2, Severity::Sev4]),
                ..Default::default()
            })
            .await,
            vec![6, 5, 2]
        );
        assert_eq!(
            list(IncidentFilter { service: Some("checkout".into()), ..Default::default() }).await,
            vec![2, 1]
        );
        assert_eq!(
            list(IncidentFilter { service: Some("search".into()), ..Default::default() }).await,
            vec![6, 3]
        );
        assert_eq!(
            list(IncidentFilter { service: Some("check".into()), ..Default::default() }).await,
            Vec::<i64>::new(),
            "service matches whole names only"
        );
        assert_eq!(list(IncidentFilter { open_only: true, ..Default::default() }).await, vec![6, 4, 2, 1]);
        assert_eq!(list(IncidentFilter { limit: Some(2), ..Default::default() }).await, vec![6, 5]);
        assert_eq!(list(IncidentFilter { limit: Some(0), ..Default::default() }).await, Vec::<i64>::new());
        assert_eq!(
            list(IncidentFilter { before: Some(id(4)), ..Default::default() }).await,
            vec![3, 2, 1]
        );
        // Keyset paging walks everything exactly once.
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = list(IncidentFilter { limit: Some(4), before, ..Default::default() }).await;
            if page.is_empty() {
                break;
            }
            before = page.last().map(|n| IncidentNumber(*n));
            seen.extend(page);
        }
        assert_eq!(seen, vec![6, 5, 4, 3, 2, 1]);
        assert_eq!(
            list(IncidentFilter {
                severity: Some(vec![Severity::Sev2]),
                service: Some("payments-api".into()),
                open_only: true,
                ..Default::default()
            })
            .await,
            vec![2]
        );
        // Listed incidents are the full snapshots.
        let listed = store.list_incidents(&IncidentFilter::default()).await.unwrap();
        for incident in &listed {
            assert_eq!(store.incident(incident.id).await.unwrap().as_ref(), Some(incident));
        }
    }

    async fn list_limit_defaults_to_50_and_is_capped_at_500(db) {
        let store = &db.store;
        // 501 declares from 10 concurrent writers (sequential commits are slow on PostgreSQL).
        let writers: Vec<_> = (0..10)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in (w..501).step_by(10) {
                        let title = format!("i{i}");
                        let changes = muster_core::declare(&title, Severity::Sev4, &[], &crate::harness::vocab()).unwrap();
                        store.declare("alice", t0(), changes).await.unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap();
        }
        let default = store.list_incidents(&IncidentFilter::default()).await.unwrap();
        assert_eq!(default.len(), 50);
        assert_eq!(default[0].id, IncidentNumber(501));
        let capped = store
            .list_incidents(&IncidentFilter { limit: Some(10_000), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(capped.len(), 500);
    }

    async fn timeline_pages_in_seq_order(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout 500s", Severity::Sev2, &[]).await;
        for i in 0..8 {
            run(store, inc.id, "bob", at(i), Command::AddNote { text: format!("note {i}") }).await.unwrap();
        }
        // 2 declare events + 8 notes.
        let all = full_timeline(store, inc.id).await;
        assert_eq!(all.len(), 10);
        let page = store.timeline(inc.id, 0, 3).await.unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        let page = store.timeline(inc.id, 3, 4).await.unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![4, 5, 6, 7]);
        assert_eq!(page, all[3..7].to_vec());
        let page = store.timeline(inc.id, 7, 100).await.unwrap();
        assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![8, 9, 10]);
        assert!(store.timeline(inc.id, 10, 100).await.unwrap().is_empty());
        assert!(store.timeline(inc.id, 0, 0).await.unwrap().is_empty());
        assert_eq!(
            all[9].change,
            Change::NoteAdded { text: "note 7".into() }
        );
        // Other incidents' events never mix in.
        let (other, _) = declare(store, "other", Severity::Sev4, &[]).await;
        assert_eq!(full_timeline(store, other.id).await.len(), 2);
        assert_eq!(full_timeline(store, inc.id).await, all);
    }

    async fn incident_counts_group_by_status_and_severity(db) {
        let store = &db.store;
        assert!(store.incident_counts().await.unwrap().is_empty());
        for severity in [Severity::Sev1, Severity::Sev1, Severity::Sev2, Severity::Sev3] {
            declare(store, "x", severity, &[]).await;
        }
        run(store, IncidentNumber(2), "bob", at(1), Command::Resolve).await.unwrap();
        run(store, IncidentNumber(3), "bob", at(1), Command::Acknowledge).await.unwrap();
        let mut counts = store.incident_counts().await.unwrap();
        counts.sort_by_key(|c| (c.status, c.severity));
        let count = |status, severity, count| IncidentCount { status, severity, count };
        assert_eq!(
            counts,
            vec![
                count(Status::Triage, Severity::Sev1, 1),
                count(Status::Triage, Severity::Sev3, 1),
                count(Status::Investigating, Severity::Sev2, 1),
                count(Status::Resolved, Severity::Sev1, 1),
            ]
        );
    }

    async fn the_timeline_is_append_only_in_the_database(db) {
        let store = &db.store;
        let (inc, events) = declare(store, "Checkout 500s", Severity::Sev2, &[]).await;
        let update = db.raw_execute("UPDATE timeline SET actor = 'mallory'").await;
        let err = update.expect_err("UPDATE on timeline must fail");
        assert!(err.to_string().contains("append-only"), "{err}");
        let update_one = db.raw_execute("UPDATE timeline SET seq = 7 WHERE seq = 2").await;
        assert!(update_one.is_err(), "UPDATE of one event must fail");
        let delete = db.raw_execute("DELETE FROM timeline").await;
        let err = delete.expect_err("DELETE on timeline must fail");
        assert!(err.to_string().contains("append-only"), "{err}");
        let delete_one = db.raw_execute("DELETE FROM timeline WHERE seq = 1").await;
        assert!(delete_one.is_err(), "DELETE of one event must fail");
        if db.store.backend() == "postgres" {
            assert!(db.raw_execute("TRUNCATE timeline").await.is_err(), "TRUNCATE must fail");
        }
        // Inserting stays possible (that is how the store appends), and nothing changed.
        assert_eq!(full_timeline(store, inc.id).await, events);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timeline").await, 2);
    }
}
