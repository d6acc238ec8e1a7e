//! Many writers at once: nothing lost, nothing duplicated, no gaps.

use std::collections::BTreeSet;

use muster_core::{Change, Command, IncidentNumber, Severity};

use crate::harness::{assert_consistent, at, declare, full_timeline, run, t0, vocab};

const WRITERS: usize = 25;
const DECLARERS: usize = 20;

backend_tests! {
    async fn concurrent_writers_on_one_incident_lose_nothing(db) {
        let (inc, _) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        let id = inc.id;
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                // Task ids are decided from the locked state (max + 1): a writer that saw a
                // stale state would reuse an id.
                let command = if w % 2 == 0 {
                    Command::AddTask { title: format!("task from writer {w}"), assignee: None }
                } else {
                    Command::AddNote { text: format!("note from writer {w}") }
                };
                run(&store, id, &format!("writer-{w}"), at(w as i64), command).await
            }));
        }
        for task in tasks {
            let (_, events) = task.await.unwrap().unwrap();
            assert_eq!(events.len(), 1);
        }

        let snapshot = assert_consistent(&db.store, id).await;
        let events = full_timeline(&db.store, id).await;
        assert_eq!(events.len(), 2 + WRITERS);
        assert_eq!(snapshot.last_seq, (2 + WRITERS) as i64);
        for w in 0..WRITERS {
            let actor = format!("writer-{w}");
            let mine: Vec<&Change> = events.iter().filter(|e| e.actor == actor).map(|e| &e.change).collect();
            assert_eq!(mine.len(), 1, "{actor} has {} events", mine.len());
            let ok = match mine[0] {
                Change::TaskAdded { title, .. } => w % 2 == 0 && *title == format!("task from writer {w}"),
                Change::NoteAdded { text } => w % 2 == 1 && *text == format!("note from writer {w}"),
                _ => false,
            };
            assert!(ok, "{actor}: {:?}", mine[0]);
        }
        let task_ids: BTreeSet<u32> = snapshot.tasks.iter().map(|t| t.id).collect();
        let expected: BTreeSet<u32> = (1..=WRITERS.div_ceil(2) as u32).collect();
        assert_eq!(task_ids, expected, "task ids must be distinct and gap-free");
        assert_eq!(snapshot.tasks.len(), WRITERS.div_ceil(2));
    }

    async fn concurrent_declares_get_distinct_gap_free_numbers(db) {
        let mut tasks = Vec::new();
        for d in 0..DECLARERS {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let changes = muster_core::declare(&format!("incident {d}"), Severity::Sev3, &[], &vocab()).unwrap();
                store.declare(&format!("declarer-{d}"), t0(), changes).await
            }));
        }
        let mut numbers = Vec::new();
        for task in tasks {
            let (incident, events) = task.await.unwrap().unwrap();
            assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
            numbers.push(incident.id.0);
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=DECLARERS as i64).collect::<Vec<_>>());
        for n in 1..=DECLARERS as i64 {
            let incident = assert_consistent(&db.store, IncidentNumber(n)).await;
            let d: usize = incident.declared_by.trim_start_matches("declarer-").parse().unwrap();
            assert_eq!(incident.title, format!("incident {d}"), "INC-{n} mixed two declares");
        }
        let (next, _) = declare(&db.store, "after", Severity::Sev4, &[]).await;
        assert_eq!(next.id.0, DECLARERS as i64 + 1);
    }

    async fn concurrent_updates_on_different_incidents_and_reads_mix(db) {
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(declare(&db.store, &format!("inc {i}"), Severity::Sev2, &[]).await.0.id);
        }
        let mut tasks = Vec::new();
        for w in 0..24usize {
            let store = db.store.clone();
            let id = ids[w % ids.len()];
            tasks.push(tokio::spawn(async move {
                run(&store, id, "bob", at(w as i64), Command::AddNote { text: format!("n{w}") }).await.unwrap();
                // Reads run alongside writes and always see a consistent incident.
                let seen = store.incident(id).await.unwrap().unwrap();
                assert!(seen.last_seq >= 3);
                store.list_incidents(&Default::default()).await.unwrap().len()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap(), 4);
        }
        for id in ids {
            let snapshot = assert_consistent(&db.store, id).await;
            assert_eq!(snapshot.last_seq, 2 + 6);
        }
    }

    async fn a_panicking_decision_rolls_back_and_frees_the_writer(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let store = db.store.clone();
        let panicked = tokio::spawn(async move {
            store
                .update(inc.id, "bob", at(1), |_| -> Result<Vec<Change>, muster_core::DomainError> {
                    panic!("decide blew up")
                })
                .await
        })
        .await;
        assert!(panicked.unwrap_err().is_panic());
        // The writer is free again and nothing was written.
        let (after, events) = run(&db.store, inc.id, "bob", at(2), Command::Acknowledge).await.unwrap();
        assert_eq!(events[0].seq, 3);
        assert_eq!(after.last_seq, 4);
        assert_consistent(&db.store, inc.id).await;
    }

    async fn an_update_dropped_while_starting_leaves_the_writer_without_a_transaction(db) {
        // Dropped after a few polls, an update has often sent BEGIN and not seen its answer:
        // the connection runs BEGIN anyway and must not be handed to the next writer with a
        // transaction open ("cannot start a transaction within a transaction").
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        for i in 0..40 {
            let dropped = run(&db.store, inc.id, "bob", at(i), Command::AddNote { text: "gone".into() });
            poll_then_drop(dropped, 1 + i as usize % 4).await;
            let kept = run(&db.store, inc.id, "bob", at(i), Command::AddNote { text: "kept".into() });
            let (_, events) = kept.await.unwrap_or_else(|e| panic!("update after drop {i}: {e}"));
            assert_eq!(events.len(), 1);
        }
        assert_consistent(&db.store, inc.id).await;
    }

    async fn updates_cancelled_at_any_point_commit_whole_or_not_at_all(db) {
        // A client that disconnects drops the request future wherever it is. The update must
        // then be committed whole or not at all (a future dropped after COMMIT was sent may
        // still have committed: that is inherent), and must not keep the writer.
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let mut confirmed = BTreeSet::new();
        for i in 0..40u64 {
            // Two events per update: a title and a severity change (to whichever severity
            // the incident does not have, decided under the lock).
            let update = db.store.update(inc.id, "bob", at(i as i64), move |incident| {
                let severity = if incident.severity == Severity::Sev1 {
                    Severity::Sev2
                } else {
                    Severity::Sev1
                };
                let command = Command::Update {
                    title: Some(format!("title {i}")),
                    severity: Some(severity),
                    status: None,
                    services: None,
                };
                muster_core::decide(incident, &command, &vocab())
            });
            let limit = std::time::Duration::from_micros(i * 100);
            if let Ok(result) = tokio::time::timeout(limit, update).await {
                result.unwrap();
                confirmed.insert(i as i64);
            }
        }
        let snapshot = assert_consistent(&db.store, inc.id).await;
        let events = full_timeline(&db.store, inc.id).await;
        let mut per_update = std::collections::BTreeMap::<i64, Vec<&'static str>>::new();
        for e in &events[2..] {
            let i = e.at.as_second() - at(0).as_second();
            per_update.entry(i).or_default().push(e.change.kind());
        }
        for (i, kinds) in &per_update {
            assert_eq!(kinds, &["title_changed", "severity_changed"], "update {i} is partial");
        }
        for i in &confirmed {
            assert!(per_update.contains_key(i), "confirmed update {i} is missing");
        }
        // The writer is free: the next update goes through and continues the seqs.
        let (_, events) = run(&db.store, inc.id, "bob", at(99), Command::AddNote { text: "after".into() })
            .await
            .unwrap();
        assert_eq!(events[0].seq, snapshot.last_seq + 1);
    }
}

/// Polls `future` up to `polls` times, yielding between polls, then drops it unfinished (or
/// finished, if it was quicker).
async fn poll_then_drop<F: std::future::Future>(future: F, polls: usize) {
    let mut future = std::pin::pin!(future);
    for _ in 0..polls {
        let ready =
            std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_ready()))
                .await;
        if ready {
            return;
        }
        tokio::task::yield_now().await;
    }
}
