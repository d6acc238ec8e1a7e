//! "Brief me since I last looked": one mark per reader and incident, never moving back.

use muster_core::{IncidentNumber, Severity};

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
}
