//! Public incidents and their updates: drafted, approved, published; drafts never reach the
//! page's reads, published updates never change, approvals are audited.

use muster_core::status_page::{ComponentImpact, ComponentStatus, PublicStatus};
use muster_core::{IncidentNumber, Severity};
use muster_store::{NewPublicUpdate, StoreError, UpdateState};

use crate::harness::{at, declare};

fn update(status: PublicStatus, body: &str) -> NewPublicUpdate {
    NewPublicUpdate {
        status,
        body: body.into(),
        components: vec![ComponentImpact {
            component: "payments".into(),
            status: ComponentStatus::MajorOutage,
        }],
    }
}

backend_tests! {
    async fn updates_go_from_draft_to_approved_to_published(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        let missing = store.create_public_incident(IncidentNumber(99), "x", "alice", at(1)).await;
        assert!(matches!(missing, Err(StoreError::NotFound(IncidentNumber(99)))));

        let p = store.create_public_incident(inc.id, "Payments failing", "alice", at(1)).await.unwrap();
        assert_eq!(p.id, "pi-1");
        assert_eq!(p.incident, inc.id);
        let first = store
            .draft_public_update(&p.id, update(PublicStatus::Investigating, "Looking into it"), "bob", at(2))
            .await.unwrap().unwrap();
        assert_eq!((first.id.as_str(), first.state), ("pu-1", UpdateState::Draft));
        assert!(store.draft_public_update("pi-9", update(PublicStatus::Identified, "x"), "bob", at(2))
            .await.unwrap().is_none());

        // A draft is not on the page, and may not be published while approval is required.
        assert!(store.published_incidents(50).await.unwrap().is_empty());
        let refused = store.publish_public_update(&p.id, &first.id, true, "bob", at(3)).await;
        assert!(matches!(refused, Err(StoreError::Domain(muster_core::DomainError::Conflict(_)))), "{refused:?}");

        let approved = store.approve_public_update(&p.id, &first.id, "carol", at(4)).await.unwrap().unwrap();
        assert_eq!(approved.state, UpdateState::Approved);
        assert_eq!(approved.approved_by.as_deref(), Some("carol"));
        assert!(store.approve_public_update(&p.id, &first.id, "carol", at(4)).await.is_err(), "approving twice");
        assert!(store.published_incidents(50).await.unwrap().is_empty(), "approved is not published");

        let published = store.publish_public_update(&p.id, &first.id, true, "bob", at(5)).await.unwrap().unwrap();
        assert_eq!(published.state, UpdateState::Published);
        assert_eq!(published.published_at, Some(at(5)));
        assert!(store.publish_public_update(&p.id, &first.id, true, "bob", at(6)).await.is_err(), "publishing twice");

        // A second draft stays off the page while the first update is on it.
        store.draft_public_update(&p.id, update(PublicStatus::Resolved, "secret draft"), "bob", at(7))
            .await.unwrap().unwrap();
        let page = store.published_incidents(50).await.unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].updates.len(), 1);
        assert_eq!(page[0].updates[0].body, "Looking into it");
        let all = store.public_incident(&p.id).await.unwrap().unwrap();
        assert_eq!(all.updates.len(), 2, "responders see drafts");
        assert_eq!(store.public_incidents(50).await.unwrap().len(), 1);

        // Without required approval a draft may be published directly.
        let direct = store.publish_public_update(&p.id, "pu-2", false, "bob", at(8)).await.unwrap().unwrap();
        assert_eq!(direct.approved_by, None);
        assert_eq!(store.published_incidents(50).await.unwrap()[0].updates.len(), 2);

        let trail = store.audit(Some("public_incident:pi-1"), 10).await.unwrap();
        let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["public_update.published", "public_update.published", "public_update.approved"]);
        assert_eq!(trail[2].actor, "carol");

        // Published updates are frozen by the database itself.
        assert!(db.raw_execute("UPDATE public_updates SET body = 'changed' WHERE id = 'pu-1'").await.is_err());
        assert!(db.raw_execute("DELETE FROM public_updates WHERE id = 'pu-1'").await.is_err());
    }
}
