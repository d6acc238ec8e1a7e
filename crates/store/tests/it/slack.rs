//! Incidents' Slack channels and the requests from Slack already seen.

use std::time::Duration;

use muster_core::{IncidentNumber, Severity};

use crate::harness::{at, declare, t0};

const WINDOW: Duration = Duration::from_secs(600);

backend_tests! {
    async fn a_channel_is_recorded_once_and_found_both_ways(db) {
        let store = &db.store;
        let (inc, _) = declare(store, "Checkout down", Severity::Sev1, &[]).await;
        assert!(store.slack_channel(inc.id).await.unwrap().is_none());
        store.set_slack_channel(inc.id, "C1", "inc-1-checkout-down", t0()).await.unwrap();
        // A retried creation keeps the first channel.
        store.set_slack_channel(inc.id, "C2", "inc-1-other", at(5)).await.unwrap();
        let c = store.slack_channel(inc.id).await.unwrap().expect("channel");
        assert_eq!((c.channel_id.as_str(), c.name.as_str()), ("C1", "inc-1-checkout-down"));
        assert_eq!(c.header_ts, None);
        assert_eq!(c.created_at, t0());
        assert!(store.set_slack_header(inc.id, "1774753920.000100").await.unwrap());
        assert!(!store.set_slack_header(inc.id, "1774753999.000100").await.unwrap());
        let found = store.slack_channel_by_id("C1").await.unwrap().expect("by id");
        assert_eq!(found.incident, inc.id);
        assert_eq!(found.header_ts.as_deref(), Some("1774753920.000100"));
        assert!(store.slack_channel_by_id("C2").await.unwrap().is_none());
        assert!(store.slack_channel(IncidentNumber(99)).await.unwrap().is_none());
    }

    async fn a_request_is_seen_once_within_the_window(db) {
        let store = &db.store;
        assert!(store.first_slack_request("sig:v0=ab", t0(), WINDOW).await.unwrap());
        assert!(!store.first_slack_request("sig:v0=ab", at(60), WINDOW).await.unwrap());
        assert!(store.first_slack_request("sig:v0=cd", at(60), WINDOW).await.unwrap());
        // Long after, the record is forgotten (its timestamp is stale by then anyway).
        assert!(store.first_slack_request("sig:v0=ab", at(601), WINDOW).await.unwrap());
    }
}
