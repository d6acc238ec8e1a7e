//! The transactional outbox: idempotent queuing, claims, delivery, retries, dead letters.

use std::collections::BTreeSet;
use std::time::Duration;

use muster_core::{IncidentNumber, Severity};
use muster_store::{Effects, OutboxItem, OutboxState, Store};
use serde_json::json;

use crate::harness::{at, declare, t0};

const LEASE: Duration = Duration::from_secs(30);

fn item(key: &str, incident: Option<IncidentNumber>, payload: serde_json::Value) -> OutboxItem {
    OutboxItem {
        idempotency_key: key.into(),
        incident,
        effect: "page".into(),
        payload,
    }
}

fn queue(items: Vec<OutboxItem>) -> Effects {
    Effects {
        timers: Vec::new(),
        outbox: items,
        ..Default::default()
    }
}

async fn state(store: &Store, key: &str) -> OutboxState {
    store
        .outbox_by_key(key)
        .await
        .unwrap()
        .expect("queued")
        .state
}

backend_tests! {
    async fn many_deliveries_settle_in_one_transaction_fenced_per_item(db) {
        let store = &db.store;
        let items = (0..5).map(|i| item(&format!("k{i}"), None, json!(i))).collect();
        store.apply_effects(t0(), &queue(items)).await.unwrap();
        let mine = store.claim_outbox("a", at(1), LEASE, 3).await.unwrap();
        let theirs = store.claim_outbox("b", at(1), LEASE, 10).await.unwrap();
        let mut ids: Vec<i64> = mine.iter().map(|c| c.id).collect();
        ids.push(theirs[0].id);
        // Only the three claims that are "a"'s settle; "b"'s stays claimed.
        let settled = store.outbox_delivered_many(&ids, "a", at(2)).await.unwrap();
        assert_eq!(settled, ids[..3].to_vec());
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox WHERE state = 'delivered'").await, 3);
        assert_eq!(state(store, &theirs[0].idempotency_key).await, OutboxState::Claimed);
        assert!(store.outbox_delivered_many(&[], "a", at(3)).await.unwrap().is_empty());
        // Settled already: nothing again.
        assert!(store.outbox_delivered_many(&ids[..3], "a", at(3)).await.unwrap().is_empty());
    }

    async fn a_deferred_claim_gives_its_attempt_back(db) {
        let store = &db.store;
        store.apply_effects(t0(), &queue(vec![item("k", None, json!(1))])).await.unwrap();
        let first = store.claim_outbox("a", at(1), LEASE, 10).await.unwrap().remove(0);
        assert_eq!(first.attempts, 1);
        // Only the claim's owner defers it.
        assert!(!store.outbox_defer(first.id, "b", at(2), at(60)).await.unwrap());
        assert!(store.outbox_defer(first.id, "a", at(2), at(60)).await.unwrap());
        let record = store.outbox_by_key("k").await.unwrap().unwrap();
        assert_eq!((record.state, record.attempts, record.next_attempt_at), (OutboxState::Queued, 0, at(60)));
        assert_eq!(store.next_outbox_due().await.unwrap(), Some(at(60)));
        assert!(store.claim_outbox("b", at(59), LEASE, 10).await.unwrap().is_empty());
        // Deferred again and again: still the first attempt when it is finally tried.
        for n in 0..3 {
            let again = store.claim_outbox("b", at(60 + n), LEASE, 10).await.unwrap().remove(0);
            assert_eq!(again.attempts, 1);
            assert!(store.outbox_defer(again.id, "b", at(60 + n), at(61 + n)).await.unwrap());
        }
        let last = store.claim_outbox("c", at(63), LEASE, 10).await.unwrap().remove(0);
        assert_eq!(last.attempts, 1);
        // A settled claim cannot be deferred.
        assert!(store.outbox_delivered(last.id, "c", at(64)).await.unwrap());
        assert!(!store.outbox_defer(last.id, "c", at(65), at(70)).await.unwrap());
        assert_eq!(state(store, "k").await, OutboxState::Delivered);
    }

    async fn many_items_of_one_decision_are_queued_in_order_known_keys_skipped(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev1, &[]).await;
        let store = &db.store;
        let n = Some(IncidentNumber(1));
        store.apply_effects(at(1), &queue(vec![item("known", n, json!(0))])).await.unwrap();
        let keys = ["e", "b", "known", "d", "b", "a"];
        let items = keys.iter().enumerate().map(|(i, k)| item(k, n, json!(i))).collect();
        store.apply_effects(at(2), &queue(items)).await.unwrap();
        let records = store.outbox_for_incident(inc.id).await.unwrap();
        let got: Vec<(&str, serde_json::Value)> =
            records.iter().map(|r| (r.idempotency_key.as_str(), r.payload.clone())).collect();
        // Queued in the decision's order, after the item known before; a key's first wins.
        assert_eq!(
            got,
            [("known", json!(0)), ("e", json!(0)), ("b", json!(1)), ("d", json!(3)), ("a", json!(5))]
        );
        let claimed = store.claim_outbox("a", at(3), LEASE, 10).await.unwrap();
        let order: Vec<&str> = claimed.iter().map(|c| c.idempotency_key.as_str()).collect();
        assert_eq!(order, ["known", "e", "b", "d", "a"]);
    }

    async fn queuing_a_known_key_is_a_no_op(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev1, &[]).await;
        let store = &db.store;
        let decide = |text: &'static str| {
            move |_: &muster_core::Incident| {
                Ok((
                    vec![muster_core::Change::NoteAdded { text: text.into() }],
                    queue(vec![item("INC-1/page:oncall", Some(IncidentNumber(1)), json!({ "n": text }))]),
                ))
            }
        };
        store.update_with_effects(inc.id, "p", at(1), decide("first")).await.unwrap();
        // The same decision again (a retry, a replay): the page is not queued twice.
        store.update_with_effects(inc.id, "p", at(2), decide("second")).await.unwrap();
        store.apply_effects(at(3), &queue(vec![item("INC-1/page:oncall", None, json!(3))])).await.unwrap();
        let records = store.outbox_for_incident(inc.id).await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].payload, json!({ "n": "first" }));
        assert_eq!(records[0].state, OutboxState::Queued);
        assert_eq!(records[0].created_at, at(1));
        assert_eq!(records[0].next_attempt_at, at(1));
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox").await, 1);

        // Even once delivered, the key stays known.
        let claimed = store.claim_outbox("a", at(4), LEASE, 10).await.unwrap();
        assert!(store.outbox_delivered(claimed[0].id, "a", at(5)).await.unwrap());
        store.apply_effects(at(6), &queue(vec![item("INC-1/page:oncall", None, json!(6))])).await.unwrap();
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox").await, 1);
        assert!(store.claim_outbox("a", at(100), LEASE, 10).await.unwrap().is_empty());
    }

    async fn an_item_is_claimed_failed_retried_and_delivered(db) {
        let store = &db.store;
        store.apply_effects(t0(), &queue(vec![item("k", None, json!({ "to": "bob" }))])).await.unwrap();
        assert_eq!(store.next_outbox_due().await.unwrap(), Some(t0()));
        let claimed = store.claim_outbox("a", at(1), LEASE, 10).await.unwrap();
        assert_eq!(claimed.len(), 1);
        let first = &claimed[0];
        assert_eq!((first.idempotency_key.as_str(), first.effect.as_str(), first.attempts), ("k", "page", 1));
        assert_eq!(first.payload, json!({ "to": "bob" }));
        assert_eq!(first.created_at, t0());
        assert_eq!(state(store, "k").await, OutboxState::Claimed);
        // Claimed and leased: nobody else gets it.
        assert!(store.claim_outbox("b", at(2), LEASE, 10).await.unwrap().is_empty());

        // Failed, retry in a minute.
        assert!(store.outbox_failed(first.id, "a", at(3), "503 from pager", Some(at(63))).await.unwrap());
        let record = store.outbox_by_key("k").await.unwrap().unwrap();
        assert_eq!(record.state, OutboxState::Failed);
        assert_eq!(record.last_error.as_deref(), Some("503 from pager"));
        assert_eq!(record.next_attempt_at, at(63));
        assert_eq!(store.next_outbox_due().await.unwrap(), Some(at(63)));
        assert!(store.claim_outbox("b", at(62), LEASE, 10).await.unwrap().is_empty());
        let retry = store.claim_outbox("b", at(63), LEASE, 10).await.unwrap();
        assert_eq!((retry[0].id, retry[0].attempts), (first.id, 2));

        // Only the owner of the claim settles it.
        assert!(!store.outbox_delivered(first.id, "a", at(64)).await.unwrap());
        assert_eq!(state(store, "k").await, OutboxState::Claimed);
        assert!(store.outbox_delivered(first.id, "b", at(64)).await.unwrap());
        let record = store.outbox_by_key("k").await.unwrap().unwrap();
        assert_eq!(record.state, OutboxState::Delivered);
        assert_eq!(record.delivered_at, Some(at(64)));
        assert_eq!(record.attempts, 2);
        // Delivered is final.
        assert!(!store.outbox_delivered(first.id, "b", at(65)).await.unwrap());
        assert!(!store.outbox_failed(first.id, "b", at(65), "late", None).await.unwrap());
        assert_eq!(state(store, "k").await, OutboxState::Delivered);
        assert!(store.claim_outbox("c", at(10_000), LEASE, 10).await.unwrap().is_empty());
        assert_eq!(store.next_outbox_due().await.unwrap(), None);
    }

    async fn an_item_without_retry_becomes_a_dead_letter(db) {
        let (inc, _) = declare(&db.store, "x", Severity::Sev1, &[]).await;
        let store = &db.store;
        store
            .apply_effects(t0(), &queue(vec![item("d1", Some(inc.id), json!(1)), item("d2", None, json!(2))]))
            .await
            .unwrap();
        let claimed = store.claim_outbox("a", at(1), LEASE, 10).await.unwrap();
        assert_eq!(claimed.iter().map(|c| c.idempotency_key.as_str()).collect::<Vec<_>>(), ["d1", "d2"]);
        let long = "x".repeat(5000);
        assert!(store.outbox_failed(claimed[0].id, "a", at(2), &long, None).await.unwrap());
        assert!(store.outbox_delivered(claimed[1].id, "a", at(2)).await.unwrap());
        let dead = store.dead_letters(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].idempotency_key, "d1");
        assert_eq!(dead[0].state, OutboxState::Dead);
        assert_eq!(dead[0].last_error.as_ref().map(|e| e.len()), Some(2000));
        assert!(store.claim_outbox("b", at(100_000), LEASE, 10).await.unwrap().is_empty());
        assert_eq!(store.outbox_for_incident(inc.id).await.unwrap()[0].state, OutboxState::Dead);
    }

    async fn an_expired_claim_is_taken_over(db) {
        let store = &db.store;
        store.apply_effects(t0(), &queue(vec![item("e", None, json!(null))])).await.unwrap();
        let a = store.claim_outbox("a", at(0), LEASE, 10).await.unwrap();
        assert!(store.claim_outbox("b", at(30), LEASE, 10).await.unwrap().is_empty());
        let b = store.claim_outbox("b", at(31), LEASE, 10).await.unwrap();
        assert_eq!((b[0].id, b[0].attempts), (a[0].id, 2));
        assert!(!store.outbox_delivered(a[0].id, "a", at(32)).await.unwrap());
        assert!(!store.outbox_failed(a[0].id, "a", at(32), "x", None).await.unwrap());
        assert!(store.outbox_delivered(b[0].id, "b", at(32)).await.unwrap());
    }

    async fn concurrent_claimers_never_get_the_same_item(db) {
        const ITEMS: usize = 500;
        let items = (0..ITEMS).map(|i| item(&format!("item-{i:03}"), None, json!(i))).collect();
        db.store.apply_effects(t0(), &queue(items)).await.unwrap();
        let mut claimers = Vec::new();
        for c in 0..4 {
            let store = Store::connect(&db.url).await.unwrap();
            claimers.push(tokio::spawn(async move {
                let owner = format!("claimer-{c}");
                let mut got = Vec::new();
                loop {
                    let claimed = store.claim_outbox(&owner, at(10), LEASE, 20).await.unwrap();
                    if claimed.is_empty() {
                        break;
                    }
                    for c in claimed {
                        assert!(store.outbox_delivered(c.id, &owner, at(11)).await.unwrap());
                        got.push(c.idempotency_key);
                    }
                }
                store.close().await;
                got
            }));
        }
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        assert_eq!(all.len(), ITEMS);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), ITEMS);
        assert_eq!(db.raw_i64("SELECT COUNT(*) FROM outbox WHERE state = 'delivered' AND attempts = 1").await, ITEMS as i64);
    }
}
