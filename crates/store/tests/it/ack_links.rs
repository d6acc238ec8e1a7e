//! Acknowledgement links: only the token's hash is kept; a link works while its incident is
//! open.

use muster_core::{IncidentNumber, Severity};
use muster_store::AckLink;

use crate::harness::{at, declare};

backend_tests! {
    async fn ack_links_are_found_by_token_only_and_expire_with_the_incident(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Card data in logs", Severity::Sev1, &["checkout"]).await;
        let link = AckLink {
            incident: inc.id,
            notification: "sev1-tell-legal:event:1:0".into(),
            person: "ken".into(),
            open: true,
        };
        let token = store.create_ack_link(&link, at(60)).await.unwrap();
        assert_eq!(token.len(), 64);
        let other = store.create_ack_link(&link, at(60)).await.unwrap();
        assert_ne!(token, other, "one random token per link");
        assert_eq!(store.ack_link(&token).await.unwrap(), Some(link.clone()));
        assert_eq!(store.ack_link(&"0".repeat(64)).await.unwrap(), None);

        let resolved = muster_core::Change::StatusChanged {
            from: inc.status,
            to: muster_core::Status::Resolved,
        };
        store
            .update(inc.id, "alice", at(120), |_| Ok(vec![resolved.clone()]))
            .await
            .unwrap();
        let expired = store.ack_link(&token).await.unwrap().expect("still there");
        assert!(!expired.open);
        let stranger = AckLink { incident: IncidentNumber(99), ..link };
        assert!(store.create_ack_link(&stranger, at(1)).await.is_err(), "only real incidents");
    }
}
