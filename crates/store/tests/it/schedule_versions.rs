//! Calendar sequences of schedule definitions: 0 at first sight, one more per change.

use crate::harness::at;

backend_tests! {
    async fn schedule_sequence_bumps_when_the_definition_changes(db) {
        let store = &db.store;
        assert_eq!(store.schedule_sequence("primary", "fp-a", at(0)).await.unwrap(), 0, "first sight");
        assert_eq!(store.schedule_sequence("primary", "fp-a", at(10)).await.unwrap(), 0, "same definition");
        assert_eq!(store.schedule_sequence("primary", "fp-b", at(20)).await.unwrap(), 1, "changed");
        assert_eq!(store.schedule_sequence("primary", "fp-b", at(30)).await.unwrap(), 1);
        assert_eq!(store.schedule_sequence("primary", "fp-a", at(40)).await.unwrap(), 2, "back to an older definition");
        assert_eq!(store.schedule_sequence("secondary", "fp-a", at(50)).await.unwrap(), 0, "per schedule");
        assert_eq!(store.schedule_sequence("primary", "fp-a", at(60)).await.unwrap(), 2);
        assert_eq!(
            db.raw_rows("SELECT schedule, fingerprint, CAST(sequence AS TEXT), CAST(updated_at AS TEXT) \
                         FROM schedule_versions ORDER BY schedule").await,
            vec![
                vec![Some("primary".into()), Some("fp-a".into()), Some("2".into()), Some(crate::harness::at(40).as_millisecond().to_string())],
                vec![Some("secondary".into()), Some("fp-a".into()), Some("0".into()), Some(crate::harness::at(50).as_millisecond().to_string())],
            ],
            "updated_at moves only with a change"
        );
    }

    async fn concurrent_callers_seeing_one_change_bump_once(db) {
        let store = &db.store;
        assert_eq!(store.schedule_sequence("primary", "fp-a", at(0)).await.unwrap(), 0);
        // Another node, its own connections.
        let other = muster_store::Store::connect(&db.url).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = if i % 2 == 0 { store.clone() } else { other.clone() };
            tasks.push(tokio::spawn(async move {
                s.schedule_sequence("primary", "fp-b", at(10)).await.unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        other.close().await;
        assert_eq!(store.schedule_sequence("primary", "fp-b", at(20)).await.unwrap(), 1);
    }
}
