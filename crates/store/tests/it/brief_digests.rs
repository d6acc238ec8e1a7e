//! "Brief me" of a long incident from stored block digests: the same as folding the events,
//! whatever the stored digests hold, and never past the `last_seq` the caller read.

use muster_core::brief::{DIGEST_BLOCK, Digest};
use muster_core::{Change, IncidentNumber, Severity, TimelineEvent, Timestamp};
use muster_store::Store;

use crate::harness::{at, declare};

/// Commits a minute apart of 37 events each (notes, pages, people joining), with a deadline
/// missed at expiry in the second block whose milestone comes four blocks later.
async fn long_incident(store: &Store) -> (IncidentNumber, Vec<TimelineEvent>) {
    let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
    for k in 1..=40_i64 {
        let mut changes: Vec<Change> = (0..34)
            .map(|j| Change::NoteAdded {
                text: format!("note {k}-{j}"),
            })
            .collect();
        changes.push(Change::ResponderJoined {
            person: format!("p{}", k % 7),
        });
        changes.push(Change::EscalationStep {
            escalation_policy: "platform".into(),
            pass: 0,
            step: k as u32 % 3,
            paged: vec![format!("p{k}")],
            reason: "not acknowledged".into(),
            late_by_ms: None,
        });
        changes.push(match k {
            10 => Change::DeadlineOutcome {
                policy: "blast-radius-20m".into(),
                instance: 1,
                met: false,
                expect: "blast_radius_validated".into(),
                at: at(k * 60),
                due_at: at(k * 60),
                margin_secs: 0,
                by: None,
            },
            38 => Change::MilestoneReached {
                milestone: "blast_radius_validated".into(),
            },
            _ => Change::NoteAdded {
                text: format!("last {k}"),
            },
        });
        store
            .update(inc.id, "bob", at(k * 60), move |_| Ok(changes))
            .await
            .unwrap();
    }
    let events = store.timeline_since(inc.id, None).await.unwrap();
    assert!(events.len() as i64 > 5 * DIGEST_BLOCK);
    (inc.id, events)
}

/// The fold of the events from the first stamped at or after `since`, up to `last_seq`.
fn folded(events: &[TimelineEvent], since: Option<Timestamp>, last_seq: i64) -> Digest {
    let start = since.map_or(0, |s| events.partition_point(|e| e.at < s));
    Digest::of(events[start..].iter().filter(|e| e.seq <= last_seq))
}

backend_tests! {
    async fn a_brief_digest_is_the_fold_of_the_events_it_covers(db) {
        let store = &db.store;
        let (id, events) = long_incident(store).await;
        let last = events.last().unwrap().seq;
        for since in [None, Some(at(0)), Some(at(5 * 60)), Some(at(20 * 60)), Some(at(39 * 60))] {
            let expected = folded(&events, since, last);
            // The first read folds and keeps the blocks; the second combines what was kept.
            for round in ["folded", "kept"] {
                let got = store.brief_digest(id, since, last).await.unwrap();
                assert_eq!(got, expected, "since {since:?}, {round}");
            }
        }
        let all = store.brief_digest(id, None, last).await.unwrap();
        assert_eq!(all.deadlines()[0].margin_secs, -28 * 60, "the milestone four blocks on made it late");
        let kept = db.raw_i64("SELECT count(*) FROM timeline_digests").await;
        assert_eq!(kept, last / DIGEST_BLOCK, "one digest per full block");
        let later = store.brief_digest(id, Some(at(41 * 60)), last).await.unwrap();
        assert_eq!(later, Digest::default(), "nothing stamped that late");
    }

    async fn events_past_the_callers_last_seq_are_left_out(db) {
        let store = &db.store;
        let (id, events) = long_incident(store).await;
        for last in [1, DIGEST_BLOCK - 1, DIGEST_BLOCK, 3 * DIGEST_BLOCK + 7] {
            let got = store.brief_digest(id, None, last).await.unwrap();
            assert_eq!(got.events as i64, last);
            assert_eq!(got, folded(&events, None, last), "up to {last}");
        }
    }

    async fn stale_or_damaged_stored_digests_are_folded_again(db) {
        let store = &db.store;
        let (id, events) = long_incident(store).await;
        let last = events.last().unwrap().seq;
        let expected = folded(&events, None, last);
        assert_eq!(store.brief_digest(id, None, last).await.unwrap(), expected);
        // An older format, a digest that does not parse, one of a partial block.
        db.raw_execute("UPDATE timeline_digests SET version = 0 WHERE block = 0").await.unwrap();
        db.raw_execute("UPDATE timeline_digests SET digest = '{' WHERE block = 1").await.unwrap();
        db.raw_execute("UPDATE timeline_digests SET digest = '{\"events\":3}' WHERE block = 2").await.unwrap();
        assert_eq!(store.brief_digest(id, None, last).await.unwrap(), expected);
        let rewritten = db.raw_i64(
            "SELECT count(*) FROM timeline_digests WHERE block <= 2 AND version = 1 AND length(digest) > 100",
        ).await;
        assert_eq!(rewritten, 3, "each is replaced by a good one");
    }
}
