//! Durable timers: written with the change that decided them, set/move/cancel, claims and
//! leases, firing exactly once under contention, wake-ups.

use std::collections::BTreeSet;
use std::time::Duration;

use muster_core::{Change, Command, DomainError, IncidentNumber, Severity};
use muster_store::{
    Effects, FireOutcome, OutboxItem, Store, StoreError, TimerChange, TimerSpec, TimerState,
};
use serde_json::json;

use crate::harness::{at, declare, full_timeline, t0, vocab};

const LEASE: Duration = Duration::from_secs(30);

fn set(key: &str, incident: Option<IncidentNumber>, due_in_s: i64) -> TimerChange {
    TimerChange::Set(TimerSpec {
        key: key.into(),
        incident,
        due_at: at(due_in_s),
        payload: json!({ "rule": key }),
    })
}

fn cancel(key: &str) -> TimerChange {
    TimerChange::Cancel { key: key.into() }
}

fn timers(changes: Vec<TimerChange>) -> Effects {
    Effects {
        timers: changes,
        outbox: Vec::new(),
        ..Default::default()
    }
}

fn item(key: &str, incident: Option<IncidentNumber>) -> OutboxItem {
    OutboxItem {
        idempotency_key: key.into(),
        incident,
        effect: "page".into(),
        payload: json!({ "key": key }),
    }
}

fn note(text: &str) -> Change {
    Change::NoteAdded { text: text.into() }
}

/// States of every arming of `key`, oldest first.
async fn states(store: &Store, key: &str) -> Vec<TimerState> {
    store
        .timers_by_key(key)
        .await
        .unwrap()
        .iter()
        .map(|t| t.state)
        .collect()
}

backend_tests! {
    async fn effects_are_written_with_the_change_that_caused_them(db) {
        let (inc, _) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        let (after, events) = db
            .store
            .update_with_effects(inc.id, "policy:deadlines", at(5), |incident| {
                let changes = muster_core::decide(
                    incident,
                    &Command::AddNote { text: "blast radius due in 20 min".into() },
                    &vocab(),
                )?;
                Ok((
                    changes,
                    Effects {
                        timers: vec![set("INC-1/blast-radius:due", Some(incident.id), 1200)],
                        outbox: vec![item("INC-1/notify:declared", Some(incident.id))],
                        ..Default::default()
                    },
                ))
            })
            .await
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(after.last_seq, 3);
        let armed = db.store.timers_by_key("INC-1/blast-radius:due").await.unwrap();
        assert_eq!(armed.len(), 1);
        assert_eq!(armed[0].state, TimerState::Pending);
        assert_eq!(armed[0].due_at, at(1200));
        assert_eq!(armed[0].incident, Some(inc.id));
        assert_eq!(armed[0].payload, json!({ "rule": "INC-1/blast-radius:due" }));
        assert_eq!(armed[0].created_at, at(5));
        let queued = db.store.outbox_for_incident(inc.id).await.unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].idempotency_key, "INC-1/notify:declared");

        // Effects without changes are written too.
        let (_, events) = db
            .store
            .update_with_effects(inc.id, "policy", at(6), |_| {
                Ok((Vec::new(), timers(vec![set("INC-1/other", None, 60)])))
            })
            .await
            .unwrap();
        assert!(events.is_empty());
        assert_eq!(states(&db.store, "INC-1/other").await, [TimerState::Pending]);
    }

    async fn a_refused_or_failed_decision_writes_no_timer_and_no_outbox_item(db) {
        let (inc, _) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        let err = db
            .store
            .update_with_effects(inc.id, "policy", at(5), |_| {
                Err(DomainError::Conflict("no".into()))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Domain(_)), "{err:?}");

        // The change and the first effects are written before an effect fails (an outbox item
        // naming an incident that does not exist): all of it must roll back.
        let err = db
            .store
            .update_with_effects(inc.id, "policy", at(5), |_| {
                Ok((
                    vec![note("should vanish")],
                    Effects {
                        timers: vec![set("INC-1/t", Some(inc.id), 60)],
                        outbox: vec![
                            item("INC-1/ok", Some(inc.id)),
                            item("INC-99/broken", Some(IncidentNumber(99))),
                        ],
                        ..Default::default()
                    },
                ))
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        assert_eq!(full_timeline(&db.store, inc.id).await.len(), 2);
        assert!(db.store.timers_by_key("INC-1/t").await.unwrap().is_empty());
        assert!(db.store.outbox_for_incident(inc.id).await.unwrap().is_empty());
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers").await, 0);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox").await, 0);

        // The same holds for standalone effects.
        let err = db
            .store
            .apply_effects(at(5), &Effects {
                timers: vec![set("free/t", None, 60)],
                outbox: vec![item("free/broken", Some(IncidentNumber(99)))],
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Internal(_)), "{err:?}");
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers").await, 0);
        assert_eq!(db.store.next_timer_due().await.unwrap(), None);
    }

    async fn declare_with_effects_sees_the_allocated_number(db) {
        declare(&db.store, "first", Severity::Sev3, &[]).await;
        let changes = muster_core::declare("second", Severity::Sev2, &[], &vocab()).unwrap();
        let (inc, events) = db
            .store
            .declare_with_effects("alice", t0(), changes, |incident| Effects {
                timers: vec![set(&format!("{}/ack", incident.id), Some(incident.id), 300)],
                outbox: vec![item(&format!("{}/page", incident.id), Some(incident.id))],
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(inc.id, IncidentNumber(2));
        assert_eq!(events.len(), 2);
        let armed = db.store.timers_for_incident(inc.id).await.unwrap();
        assert_eq!(armed.len(), 1);
        assert_eq!(armed[0].key, "INC-2/ack");
        assert_eq!(db.store.outbox_for_incident(inc.id).await.unwrap()[0].idempotency_key, "INC-2/page");
    }

    async fn a_new_incidents_timer_whose_key_is_already_armed_still_moves_it(db) {
        // Not what the engine does (its keys name the incident), but the unread insert of a new
        // incident's timers must not lose a set when a key is armed after all.
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("INC-1/ack", None, 60)])).await.unwrap();
        let changes = muster_core::declare("first", Severity::Sev2, &[], &vocab()).unwrap();
        let (inc, _) = store
            .declare_with_effects("alice", at(1), changes, |incident| Effects {
                timers: vec![set("INC-1/ack", Some(incident.id), 300), set("INC-1/b", Some(incident.id), 5)],
                outbox: Vec::new(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(states(store, "INC-1/ack").await, [TimerState::Cancelled, TimerState::Pending]);
        let armed = store.timers_for_incident(inc.id).await.unwrap();
        let keys: BTreeSet<&str> = armed.iter().map(|t| t.key.as_str()).collect();
        assert_eq!(keys, BTreeSet::from(["INC-1/ack", "INC-1/b"]));
        assert_eq!(store.next_timer_due().await.unwrap(), Some(at(5)));
    }

    async fn set_moves_and_cancel_disarms(db) {
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("k", None, 60)])).await.unwrap();
        assert_eq!(store.next_timer_due().await.unwrap(), Some(at(60)));
        // The same time and payload again: nothing changes.
        store.apply_effects(at(1), &timers(vec![set("k", None, 60)])).await.unwrap();
        assert_eq!(states(store, "k").await, [TimerState::Pending]);
        // Not due yet: claim judges by the `now` it is given.
        assert!(store.claim_due_timers("a", at(59), LEASE, 10).await.unwrap().is_empty());

        // Moved earlier: the old arming is cancelled, the new one due at 30.
        store.apply_effects(at(2), &timers(vec![set("k", None, 30)])).await.unwrap();
        assert_eq!(states(store, "k").await, [TimerState::Cancelled, TimerState::Pending]);
        assert_eq!(store.next_timer_due().await.unwrap(), Some(at(30)));
        assert!(store.claim_due_timers("a", at(29), LEASE, 10).await.unwrap().is_empty());
        let claimed = store.claim_due_timers("a", at(30), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].due_at, claimed[0].attempts), (at(30), 1));
        assert_eq!(claimed[0].lease_until, at(60));
        // Claimed: due again just after the lease.
        assert_eq!(
            store.next_timer_due().await.unwrap(),
            Some(muster_core::Timestamp::from_millisecond(at(60).as_millisecond() + 1).unwrap())
        );

        // Cancelled while claimed: never claimed again, even after the lease.
        store.apply_effects(at(31), &timers(vec![cancel("k")])).await.unwrap();
        assert_eq!(states(store, "k").await, [TimerState::Cancelled, TimerState::Cancelled]);
        assert!(store.claim_due_timers("b", at(10_000), LEASE, 10).await.unwrap().is_empty());
        assert_eq!(store.next_timer_due().await.unwrap(), None);
        // Cancelling what is not armed is a no-op.
        store.apply_effects(at(32), &timers(vec![cancel("k"), cancel("never-set")])).await.unwrap();
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers").await, 2);

        // Set then cancel in one decision: not armed.
        store.apply_effects(at(33), &timers(vec![set("j", None, 40), cancel("j")])).await.unwrap();
        assert!(store.claim_due_timers("a", at(10_000), LEASE, 10).await.unwrap().is_empty());
        // Set again after a cancel: armed again.
        store.apply_effects(at(34), &timers(vec![set("k", None, 90)])).await.unwrap();
        let claimed = store.claim_due_timers("a", at(10_000), LEASE, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["k"]);
        assert_eq!(claimed[0].due_at, at(90));
    }

    async fn one_decision_applies_many_timer_changes_the_last_change_of_a_key_deciding(db) {
        let store = &db.store;
        let first = vec![set("same", None, 60), set("moved", None, 60), set("gone", None, 60)];
        assert!(store.apply_effects(t0(), &timers(first)).await.is_ok());
        // Unchanged, moved, cancelled, armed twice (the second wins), set then cancelled, new.
        let changes = vec![
            set("same", None, 60),
            set("moved", None, 45),
            cancel("gone"),
            set("twice", None, 10),
            set("twice", None, 20),
            set("dropped", None, 5),
            cancel("dropped"),
            set("new", None, 30),
        ];
        store.apply_effects(at(1), &timers(changes)).await.unwrap();
        assert_eq!(states(store, "same").await, [TimerState::Pending]);
        assert_eq!(states(store, "moved").await, [TimerState::Cancelled, TimerState::Pending]);
        assert_eq!(states(store, "gone").await, [TimerState::Cancelled]);
        assert_eq!(states(store, "twice").await, [TimerState::Pending]);
        assert!(states(store, "dropped").await.is_empty());
        let claimed = store.claim_due_timers("a", at(10_000), LEASE, 10).await.unwrap();
        let due: Vec<(&str, muster_core::Timestamp)> =
            claimed.iter().map(|t| (t.key.as_str(), t.due_at)).collect();
        assert_eq!(due, [("twice", at(20)), ("new", at(30)), ("moved", at(45)), ("same", at(60))]);
    }

    async fn claims_take_due_timers_earliest_first_up_to_the_limit(db) {
        let store = &db.store;
        let changes = (0..10).map(|i| set(&format!("t{i}"), None, 100 - i * 10)).collect();
        store.apply_effects(t0(), &timers(changes)).await.unwrap();
        // Due at 10..=100; at 45, t9 (10), t8 (20), t7 (30), t6 (40) are due.
        let first = store.claim_due_timers("a", at(45), LEASE, 3).await.unwrap();
        assert_eq!(first.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["t9", "t8", "t7"]);
        let second = store.claim_due_timers("b", at(45), LEASE, 3).await.unwrap();
        assert_eq!(second.iter().map(|t| t.key.as_str()).collect::<Vec<_>>(), ["t6"]);
        assert_eq!(second[0].lease_owner, "b");
        assert!(store.claim_due_timers("b", at(45), LEASE, 3).await.unwrap().is_empty());
        assert!(store.claim_due_timers("b", at(45), LEASE, 0).await.unwrap().is_empty());
    }

    async fn firing_writes_the_handlers_changes_and_effects_once(db) {
        let (inc, _) = declare(&db.store, "Checkout 500s", Severity::Sev1, &["checkout"]).await;
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("INC-1/ack", Some(inc.id), 60)])).await.unwrap();
        let claimed = store.claim_due_timers("proc-a", at(75), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let outcome = store
            .fire_timer(&claimed[0], at(77), |incident| {
                let incident = incident.expect("the timer's incident");
                assert_eq!(incident.id, IncidentNumber(1));
                Ok((
                    vec![note("nobody acknowledged")],
                    Effects {
                        timers: vec![set("INC-1/ack:again", Some(incident.id), 360)],
                        outbox: vec![item("INC-1/page:escalate", Some(incident.id))],
                        ..Default::default()
                    },
                ))
            }, "policy:ack")
            .await
            .unwrap();
        let FireOutcome::Fired { lateness, events } = outcome else {
            panic!("expected Fired, got {outcome:?}");
        };
        assert_eq!(lateness, Duration::from_secs(17));
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actor, "policy:ack");
        let timeline = full_timeline(store, inc.id).await;
        assert_eq!(timeline.len(), 3);
        assert_eq!(timeline[2].change, note("nobody acknowledged"));
        let fired = store.timers_by_key("INC-1/ack").await.unwrap();
        assert_eq!(fired[0].state, TimerState::Fired);
        assert_eq!(fired[0].fired_at, Some(at(77)));
        assert_eq!(fired[0].fired_by.as_deref(), Some("proc-a"));
        assert_eq!(states(store, "INC-1/ack:again").await, [TimerState::Pending]);
        assert_eq!(store.outbox_for_incident(inc.id).await.unwrap().len(), 1);

        // Firing the same claim again writes nothing.
        let again = store
            .fire_timer(&claimed[0], at(78), |_| Ok((vec![note("twice")], Effects::default())), "p")
            .await
            .unwrap();
        assert_eq!(again, FireOutcome::LostLease);
        assert_eq!(full_timeline(store, inc.id).await.len(), 3);

        // A fired key can be set again: a new arming.
        store.apply_effects(at(80), &timers(vec![set("INC-1/ack", Some(inc.id), 600)])).await.unwrap();
        assert_eq!(states(store, "INC-1/ack").await, [TimerState::Fired, TimerState::Pending]);
        // Cancelling it leaves the fired arming alone.
        store.apply_effects(at(81), &timers(vec![cancel("INC-1/ack")])).await.unwrap();
        assert_eq!(states(store, "INC-1/ack").await, [TimerState::Fired, TimerState::Cancelled]);
    }

    async fn a_timer_cancelled_or_moved_after_its_claim_does_not_fire(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let store = &db.store;
        store
            .apply_effects(t0(), &timers(vec![set("c", Some(inc.id), 10), set("m", Some(inc.id), 10)]))
            .await
            .unwrap();
        let claimed = store.claim_due_timers("a", at(10), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        store
            .update_with_effects(inc.id, "bob", at(11), |_| {
                Ok((vec![], timers(vec![cancel("c"), set("m", Some(inc.id), 500)])))
            })
            .await
            .unwrap();
        for timer in &claimed {
            let outcome = store
                .fire_timer(timer, at(12), |_| Ok((vec![note("fired")], Effects::default())), "p")
                .await
                .unwrap();
            assert_eq!(outcome, FireOutcome::Cancelled, "{}", timer.key);
        }
        assert_eq!(full_timeline(store, inc.id).await.len(), 2);
        assert_eq!(states(store, "m").await, [TimerState::Cancelled, TimerState::Pending]);
    }

    async fn a_refusing_handler_consumes_the_timer_and_writes_nothing_else(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("r", Some(inc.id), 10)])).await.unwrap();
        let claimed = store.claim_due_timers("a", at(10), LEASE, 10).await.unwrap();
        let outcome = store
            .fire_timer(&claimed[0], at(10), |_| Err(DomainError::Conflict("resolved".into())), "p")
            .await
            .unwrap();
        assert!(matches!(outcome, FireOutcome::Refused { .. }), "{outcome:?}");
        let record = &store.timers_by_key("r").await.unwrap()[0];
        assert_eq!(record.state, TimerState::Fired);
        assert_eq!(record.refusal.as_deref(), Some("resolved"));
        assert_eq!(full_timeline(store, inc.id).await.len(), 2);
        assert!(store.claim_due_timers("a", at(1000), LEASE, 10).await.unwrap().is_empty());
    }

    async fn an_expired_lease_is_claimed_again_and_the_dead_owner_loses(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev2, &[]).await;
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("l", Some(inc.id), 10)])).await.unwrap();
        let dead = store.claim_due_timers("dead-owner", at(10), LEASE, 10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].lease_until, at(40));
        // Leased: not claimable by anyone until the lease has ended.
        assert!(store.claim_due_timers("b", at(40), LEASE, 10).await.unwrap().is_empty());
        let taken = store.claim_due_timers("b", at(41), LEASE, 10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert_eq!((taken[0].id, taken[0].attempts, taken[0].lease_owner.as_str()), (dead[0].id, 2, "b"));

        // The dead owner wakes up late: its claim is gone.
        let late = store
            .fire_timer(&dead[0], at(42), |_| Ok((vec![note("dead")], timers(vec![set("x", None, 1)]))), "p")
            .await
            .unwrap();
        assert_eq!(late, FireOutcome::LostLease);
        assert_eq!(full_timeline(store, inc.id).await.len(), 2);
        assert!(store.timers_by_key("x").await.unwrap().is_empty());

        let outcome = store
            .fire_timer(&taken[0], at(43), |_| Ok((vec![note("b fired")], Effects::default())), "p")
            .await
            .unwrap();
        assert_eq!(
            outcome,
            FireOutcome::Fired { lateness: Duration::from_secs(33), events: full_timeline(store, inc.id).await[2..].to_vec() }
        );
        let record = &store.timers_by_key("l").await.unwrap()[0];
        assert_eq!(record.fired_by.as_deref(), Some("b"));
        // And after the fire, the dead owner still loses.
        let later = store
            .fire_timer(&dead[0], at(44), |_| Ok((vec![note("dead")], Effects::default())), "p")
            .await
            .unwrap();
        assert_eq!(later, FireOutcome::LostLease);
        assert_eq!(full_timeline(store, inc.id).await.len(), 3);
    }

    async fn an_owner_that_reclaims_its_own_expired_timer_fences_its_old_claim(db) {
        let store = &db.store;
        store.apply_effects(t0(), &timers(vec![set("f", None, 10)])).await.unwrap();
        let old = store.claim_due_timers("a", at(10), LEASE, 10).await.unwrap();
        let new = store.claim_due_timers("a", at(41), LEASE, 10).await.unwrap();
        assert_eq!((old[0].attempts, new[0].attempts), (1, 2));
        let outcome = store.fire_timer(&old[0], at(42), |_| Ok((vec![], Effects::default())), "p").await.unwrap();
        assert_eq!(outcome, FireOutcome::LostLease);
        let outcome = store.fire_timer(&new[0], at(42), |_| Ok((vec![], Effects::default())), "p").await.unwrap();
        assert!(matches!(outcome, FireOutcome::Fired { .. }), "{outcome:?}");
    }

    async fn a_thousand_timers_fire_exactly_once_with_four_claimers(db) {
        const TIMERS: usize = 1000;
        const INCIDENTS: i64 = 4;
        for i in 0..INCIDENTS {
            declare(&db.store, &format!("incident {i}"), Severity::Sev2, &[]).await;
        }
        let changes = (0..TIMERS)
            .map(|i| {
                let incident = IncidentNumber(1 + (i as i64 % INCIDENTS));
                set(&format!("{incident}/t{i:04}"), Some(incident), (i % 50) as i64)
            })
            .collect();
        db.store.apply_effects(t0(), &timers(changes)).await.unwrap();

        let started = std::time::Instant::now();
        let mut claimers = Vec::new();
        for c in 0..4 {
            // A separate handle (its own pools) per claimer, as separate processes would have.
            let store = Store::connect(&db.url).await.unwrap();
            claimers.push(tokio::spawn(async move {
                let owner = format!("claimer-{c}");
                let mut fired = Vec::new();
                loop {
                    let claimed = store.claim_due_timers(&owner, at(3600), Duration::from_secs(600), 25).await.unwrap();
                    if claimed.is_empty() {
                        break;
                    }
                    for timer in claimed {
                        let key = timer.key.clone();
                        let outcome = store
                            .fire_timer(&timer, at(3600), |incident| {
                                let incident = incident.expect("incident");
                                Ok((
                                    vec![note(&format!("fired {key}"))],
                                    Effects {
                                        timers: vec![],
                                        outbox: vec![item(&format!("out/{key}"), Some(incident.id))],
                                        ..Default::default()
                                    },
                                ))
                            }, &owner)
                            .await
                            .unwrap();
                        assert!(matches!(outcome, FireOutcome::Fired { .. }), "{outcome:?}");
                        fired.push(timer.key);
                    }
                }
                store.close().await;
                fired
            }));
        }
        let mut all = Vec::new();
        let mut per_claimer = Vec::new();
        for claimer in claimers {
            let fired = claimer.await.unwrap();
            per_claimer.push(fired.len());
            all.extend(fired);
        }
        eprintln!("{} timers fired by 4 claimers {per_claimer:?} in {:?}", all.len(), started.elapsed());
        assert_eq!(all.len(), TIMERS);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), TIMERS);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers WHERE state = 'fired'").await, TIMERS as i64);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers WHERE state <> 'fired'").await, 0);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM timers WHERE attempts <> 1").await, 0);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox").await, TIMERS as i64);
        assert_eq!(db.raw_i64("SELECT COUNT(DISTINCT idempotency_key) FROM outbox").await, TIMERS as i64);
        assert_eq!(
            db.raw_i64("SELECT COUNT(*) FROM timeline WHERE kind = 'note_added'").await,
            TIMERS as i64
        );
        for i in 1..=INCIDENTS {
            crate::harness::assert_consistent(&db.store, IncidentNumber(i)).await;
        }
    }

    async fn a_commit_that_sets_a_timer_wakes_the_scheduler(db) {
        // On PostgreSQL the waiter uses another handle, so only `pg_notify` can reach it.
        let writer = db.store.clone();
        let waiter_store = if db.pg_url().is_some() {
            Store::connect(&db.url).await.unwrap()
        } else {
            db.store.clone()
        };
        let wakeups = waiter_store.wakeups().await;
        // Nothing written yet: no wake-up.
        let idle = tokio::time::timeout(Duration::from_millis(300), wakeups.notified()).await;
        assert!(idle.is_err(), "woken without a commit");
        // Reads and claims that find nothing do not wake either.
        writer.claim_due_timers("a", at(0), LEASE, 10).await.unwrap();
        writer.apply_effects(t0(), &timers(vec![cancel("nothing")])).await.unwrap();
        let idle = tokio::time::timeout(Duration::from_millis(300), wakeups.notified()).await;
        assert!(idle.is_err(), "woken by a commit that set nothing");

        writer.apply_effects(t0(), &timers(vec![set("w", None, 60)])).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), wakeups.notified())
            .await
            .expect("a wake-up after a commit that set a timer");
        // Seen once: the next wait needs another commit, e.g. an outbox item.
        let idle = tokio::time::timeout(Duration::from_millis(300), wakeups.notified()).await;
        assert!(idle.is_err(), "the same wake-up seen twice");
        writer.apply_effects(t0(), &Effects { timers: vec![], outbox: vec![item("o", None)], ..Default::default() }).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), wakeups.notified())
            .await
            .expect("a wake-up after a commit that queued an outbox item");
        if db.pg_url().is_some() {
            waiter_store.close().await;
        }
    }
}
