//! Page links: only the token's hash is kept; a link answers once, until it expires, while
//! its incident is open; SMS codes are unique among a person's unexpired links.

use muster_core::{IncidentNumber, Severity};
use muster_store::{LinkState, NewAckLink};

use crate::harness::{at, declare};

fn new_link(incident: IncidentNumber, channel: &'static str, code: bool) -> NewAckLink<'static> {
    NewAckLink {
        incident,
        notification: "sev1-tell-legal:event:1:0",
        person: "ken",
        channel,
        kind: "notify",
        expires_at: at(3600),
        code,
    }
}

backend_tests! {
    async fn ack_links_are_found_by_token_only_and_expire_with_the_incident(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Card data in logs", Severity::Sev1, &["checkout"]).await;
        let made = store.create_ack_link(&new_link(inc.id, "email", false), at(60)).await.unwrap();
        assert_eq!(made.token.len(), 64);
        assert_eq!(made.code, None, "codes are for SMS links");
        let other = store.create_ack_link(&new_link(inc.id, "email", false), at(60)).await.unwrap();
        assert_ne!(made.token, other.token, "one random token per link");
        let link = store.ack_link(&made.token).await.unwrap().expect("the link");
        assert_eq!(link.incident, inc.id);
        assert_eq!(link.notification, "sev1-tell-legal:event:1:0");
        assert_eq!((link.person.as_str(), link.channel.as_deref()), ("ken", Some("email")));
        assert_eq!(link.created_at, at(60));
        assert_eq!(link.expires_at, Some(at(3600)));
        assert_ne!(link.id, made.token, "the id is the hash, not the token");
        assert_eq!(link.state(at(61)), LinkState::Usable);
        assert_eq!(link.state(at(3600)), LinkState::Expired);
        assert_eq!(store.ack_link(&"0".repeat(64)).await.unwrap(), None);

        let resolved = muster_core::Change::StatusChanged {
            from: inc.status,
            to: muster_core::Status::Resolved,
        };
        store
            .update(inc.id, "alice", at(120), |_| Ok(vec![resolved.clone()]))
            .await
            .unwrap();
        let closed = store.ack_link(&made.token).await.unwrap().expect("still there");
        assert!(!closed.open);
        assert_eq!(closed.state(at(121)), LinkState::Closed);
        let stranger = new_link(IncidentNumber(99), "email", false);
        let err = store.create_ack_link(&stranger, at(1)).await.unwrap_err();
        assert!(err.to_string().to_lowercase().contains("foreign key"), "only real incidents: {err}");
    }

    async fn a_link_answers_once(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        let made = store.create_ack_link(&new_link(inc.id, "push", false), at(60)).await.unwrap();
        let link = store.ack_link(&made.token).await.unwrap().expect("the link");
        assert!(store.use_ack_link(&link.id, at(90), "acknowledge").await.unwrap());
        assert!(!store.use_ack_link(&link.id, at(91), "escalate").await.unwrap(), "used once");
        let used = store.ack_link(&made.token).await.unwrap().expect("the link");
        assert_eq!(used.used, Some((at(90), "acknowledge".to_string())));
        assert_eq!(used.state(at(92)), LinkState::Used);
        // A use whose answer could not be recorded is given back; another use's is not.
        store.release_ack_link(&link.id, "escalate").await.unwrap();
        assert!(store.ack_link(&made.token).await.unwrap().expect("link").used.is_some());
        store.release_ack_link(&link.id, "acknowledge").await.unwrap();
        assert_eq!(store.ack_link(&made.token).await.unwrap().expect("link").state(at(93)), LinkState::Usable);
    }

    async fn sms_codes_name_a_persons_link(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &["checkout"]).await;
        let mut codes = std::collections::BTreeSet::new();
        for s in 0..30 {
            let made = store.create_ack_link(&new_link(inc.id, "sms", true), at(60 + s)).await.unwrap();
            let code = made.code.expect("an SMS link has a code");
            assert!(code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
            assert!(codes.insert(code.clone()), "codes are unique among unexpired links: {code}");
            let found = store.ack_link_by_code("ken", &code).await.unwrap().expect("by code");
            assert_eq!(found, store.ack_link(&made.token).await.unwrap().expect("by token"));
        }
        store.create_ack_link(&new_link(inc.id, "email", false), at(100)).await.unwrap();
        let latest = store.latest_sms_link("ken", at(120)).await.unwrap().expect("latest");
        assert_eq!(latest.created_at, at(89), "the newest with a code, not the later email");
        assert_eq!(store.latest_sms_link("nobody", at(120)).await.unwrap(), None);
        // An answered link gives way to an open one; a page comes before a notification.
        assert!(store.use_ack_link(&latest.id, at(121), "acknowledge").await.unwrap());
        let open = store.latest_sms_link("ken", at(122)).await.unwrap().expect("latest");
        assert_eq!(open.created_at, at(88), "the newest that can still answer");
        let page = NewAckLink { kind: "page", ..new_link(inc.id, "sms", true) };
        store.create_ack_link(&page, at(30)).await.unwrap();
        let first = store.latest_sms_link("ken", at(123)).await.unwrap().expect("latest");
        assert_eq!((first.kind.as_deref(), first.created_at), (Some("page"), at(30)), "pages first");
        // Once every link has expired, one is still found, to say it has expired.
        let late = store.latest_sms_link("ken", at(4000)).await.unwrap().expect("latest");
        assert_eq!(late.created_at, at(30), "the page");
        let first = codes.iter().next().cloned().unwrap_or_default();
        assert_eq!(store.ack_link_by_code("grace", &first).await.unwrap(), None, "codes are per person");
    }
}
