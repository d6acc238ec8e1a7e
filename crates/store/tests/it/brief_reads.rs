//! "Brief me since I last looked": one mark per reader and incident, never moving back, and
//! the events since that mark read without the rest of a long timeline.

use muster_core::{Change, IncidentNumber, Severity};
use muster_store::MAX_TIMELINE_LIMIT;

use crate::harness::{at, declare};

backend_tests! {
    async fn brief_looks_are_kept_per_reader_and_never_move_back(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        assert_eq!(store.last_brief_look("alice", inc.id).await.unwrap(), None);
        store.record_brief_look("alice", inc.id, at(600)).await.unwrap();
        store.record_brief_look("bob", inc.id, at(60)).await.unwrap();
        assert_eq!(store.last_brief_look("alice", inc.id).await.unwrap(), Some(at(600)));
        assert_eq!(store.last_brief_look("bob", inc.id).await.unwrap(), Some(at(60)));
        store.record_brief_look("alice", inc.id, at(900)).await.unwrap();
        assert_eq!(store.last_brief_look("alice", inc.id).await.unwrap(), Some(at(900)));
        store.record_brief_look("alice", inc.id, at(30)).await.unwrap();
        assert_eq!(store.last_brief_look("alice", inc.id).await.unwrap(), Some(at(900)));
        assert_eq!(store.last_brief_look("alice", IncidentNumber(99)).await.unwrap(), None);
        assert!(store.record_brief_look("alice", IncidentNumber(99), at(1)).await.is_err(), "only real incidents");
    }

    async fn events_since_a_time_are_read_across_pages_in_order(db) {
        let store = &db.store;
        let (inc, declared) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        // 23 commits a minute apart, 100 notes each: more than two pages in all.
        let commits = 23;
        for k in 1..=commits {
            let notes = (0..100).map(|j| Change::NoteAdded { text: format!("note {k}-{j}") }).collect();
            store.update(inc.id, "bob", at(k * 60), move |_| Ok(notes)).await.unwrap();
        }
        assert!(commits * 100 > 2 * i64::from(MAX_TIMELINE_LIMIT));
        let all = store.timeline_since(inc.id, None).await.unwrap();
        assert_eq!(all.len(), declared.len() + commits as usize * 100);
        assert!(all.windows(2).all(|w| w[0].seq < w[1].seq), "oldest first, no repeats");
        let since = store.timeline_since(inc.id, Some(at(12 * 60))).await.unwrap();
        let texts: Vec<String> = since
            .iter()
            .map(|e| match &e.change {
                Change::NoteAdded { text } => text.clone(),
                other => panic!("only notes are this late, got {other:?}"),
            })
            .collect();
        let expected: Vec<String> = (12..=commits)
            .flat_map(|k| (0..100).map(move |j| format!("note {k}-{j}")))
            .collect();
        assert_eq!(texts, expected);
        assert!(store.timeline_since(inc.id, Some(at(commits * 60 + 1))).await.unwrap().is_empty());
        assert!(store.timeline_since(IncidentNumber(99), None).await.unwrap().is_empty());
    }

    async fn events_stamped_out_of_time_order_are_read_in_seq_order(db) {
        // A timer fired late, or a drill's injects, stamp events earlier than ones already
        // written: the read is in seq order whatever order the database finds the rows in.
        let store = &db.store;
        let (inc, declared) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        for k in (1..=30).rev() {
            let note = Change::NoteAdded { text: format!("note {k}") };
            store.update(inc.id, "bob", at(k * 60), move |_| Ok(vec![note])).await.unwrap();
        }
        let since = store.timeline_since(inc.id, Some(at(10 * 60))).await.unwrap();
        let seqs: Vec<i64> = since.iter().map(|e| e.seq).collect();
        let first = declared.len() as i64 + 1;
        assert_eq!(seqs, (first..first + 21).collect::<Vec<_>>());
        assert!(since.iter().all(|e| e.at >= at(10 * 60)));
    }
}
