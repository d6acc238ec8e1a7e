//! The alerts page (filters, dedup counts, acknowledge and resolve as the API does them),
//! silences (create through the API's checks, end) and the inbox.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::SignedDuration;
use muster_core::Clock;
use muster_core::alert::AlertStatus;
use muster_store::{AlertFilter, NewInboxEntry};

use crate::both;
use crate::support::Web;

/// Sends a PagerDuty Events v2 trigger to the demo's `events-v2` integration.
async fn trigger(web: &Web, dedup: &str, summary: &str) {
    // No `"` or `\\` in the test's values: written as JSON as they are.
    let body = format!(
        r#"{{"routing_key":"demo-events-v2","event_action":"trigger","dedup_key":"{dedup}","payload":{{"summary":"{summary}","source":"db-1","severity":"error"}}}}"#
    );
    let req = Request::post("/v2/enqueue")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("request");
    let a = web.send(req).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.body);
}

async fn alert_id(web: &Web, dedup: &str) -> i64 {
    web.store
        .alerts(&AlertFilter::default())
        .await
        .expect("alerts")
        .into_iter()
        .find(|a| a.dedup_key == dedup)
        .expect("stored")
        .id
}

async fn status_of(web: &Web, id: i64) -> AlertStatus {
    web.store
        .alert(id)
        .await
        .expect("read")
        .expect("exists")
        .status
}

both!(
    alerts_are_listed_with_counts_and_acknowledged_and_resolved,
    |web| async move {
        trigger(
            &web,
            "db-latency",
            "<script>alert('summary')</script> DB latency",
        )
        .await;
        trigger(
            &web,
            "db-latency",
            "<script>alert('summary')</script> DB latency",
        )
        .await;
        trigger(&web, "queue-depth", "Queue depth").await;
        let db = alert_id(&web, "db-latency").await;
        let queue = alert_id(&web, "queue-depth").await;

        let responder = web.sign_in(&web.responder).await;
        let page = web.get("/alerts", Some(&responder)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(
            page.body
                .contains("&#60;script&#62;alert(&#39;summary&#39;)&#60;/script&#62; DB latency"),
            "{}",
            page.body
        );
        let row = &page.body[page
            .body
            .find(&format!("data-alert=\"{db}\""))
            .expect("row")..];
        let row = &row[..row.find("</tr>").expect("row end")];
        assert!(row.contains("<td>2 times</td>"), "dedup count: {row}");
        assert!(row.contains("<td>firing</td>"), "{row}");
        assert!(row.contains(&format!("action=\"/alerts/{db}/acknowledge\"")));

        // Without the form token, or as a viewer: refused, nothing changed.
        let ack = format!("/alerts/{db}/acknowledge");
        let a = web.post(&ack, Some(&responder), None, &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("Nothing was changed"));
        let viewer = web.sign_in(&web.viewer).await;
        let vpage = web.get("/alerts", Some(&viewer)).await;
        assert_eq!(vpage.status, StatusCode::OK);
        assert!(vpage.body.contains(&format!("data-alert=\"{db}\"")));
        assert!(
            !vpage.body.contains("action=\"/alerts/"),
            "no forms for a viewer"
        );
        let a = web.post(&ack, Some(&viewer), Some(&viewer.csrf), &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("this needs responder"), "{}", a.body);
        assert_eq!(status_of(&web, db).await, AlertStatus::Firing);

        // Unknown alerts.
        for path in ["/alerts/999999/acknowledge", "/alerts/abc/resolve"] {
            let a = web
                .post(path, Some(&responder), Some(&responder.csrf), &[])
                .await;
            assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        }

        let a = web
            .post(&ack, Some(&responder), Some(&responder.csrf), &[])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), "/alerts");
        assert_eq!(status_of(&web, db).await, AlertStatus::Acknowledged);
        let a = web
            .post(
                &format!("/alerts/{queue}/resolve"),
                Some(&responder),
                Some(&responder.csrf),
                &[],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(status_of(&web, queue).await, AlertStatus::Resolved);

        // Filters, as the API's.
        let firing = web
            .get("/alerts?status=acknowledged", Some(&responder))
            .await;
        assert!(firing.body.contains(&format!("data-alert=\"{db}\"")));
        assert!(!firing.body.contains(&format!("data-alert=\"{queue}\"")));
        assert!(
            !firing
                .body
                .contains(&format!("action=\"/alerts/{db}/acknowledge\""))
        );
        assert!(
            firing
                .body
                .contains(&format!("action=\"/alerts/{db}/resolve\""))
        );
        let resolved = web.get("/alerts?status=resolved", Some(&responder)).await;
        assert!(resolved.body.contains(&format!("data-alert=\"{queue}\"")));
        assert!(!resolved.body.contains(&format!("data-alert=\"{db}\"")));
        let bad = web.get("/alerts?status=asleep", Some(&responder)).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body
                .contains("status: `asleep` is not one of firing, acknowledged, resolved")
        );
        let none = web
            .get("/alerts?integration=alertmanager", Some(&responder))
            .await;
        assert!(none.body.contains("No alert matches."));
    }
);

both!(
    silences_are_created_through_the_api_checks_and_ended,
    |web| async move {
        let responder = web.sign_in(&web.responder).await;
        let now = web.clock.now();
        let until = (now + SignedDuration::from_hours(2)).to_string();
        let pairs = [
            ("service", "checkout"),
            ("until", until.as_str()),
            ("reason", "<script>alert('reason')</script> deploy"),
        ];
        let a = web.post("/silences", Some(&responder), None, &pairs).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let viewer = web.sign_in(&web.viewer).await;
        let a = web
            .post("/silences", Some(&viewer), Some(&viewer.csrf), &pairs)
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        // The API's checks: known service, a reason, at most limits.max_silence.
        let far = (now + SignedDuration::from_hours(24 * 400)).to_string();
        for (bad, said) in [
            (("service", "nope"), "service: unknown service `nope`"),
            (("reason", "  "), "reason: say why"),
            (("until", far.as_str()), "to: a silence may last at most"),
            (("until", "soon"), "until: `soon` is not a time like"),
        ] {
            let mut p = pairs;
            let i = p.iter().position(|(k, _)| *k == bad.0).expect("field");
            p[i] = bad;
            let a = web
                .post("/silences", Some(&responder), Some(&responder.csrf), &p)
                .await;
            assert_eq!(
                a.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{bad:?}: {}",
                a.body
            );
            assert!(a.body.contains(said), "{said}: {}", a.body);
        }
        assert!(
            web.store.silences(now).await.unwrap().is_empty(),
            "nothing written"
        );

        let a = web
            .post("/silences", Some(&responder), Some(&responder.csrf), &pairs)
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let stored = web.store.silences(now).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].service, "checkout");
        assert_eq!(stored[0].created_by, "alice");
        assert_eq!(stored[0].to.to_string(), until);
        let id = stored[0].id;
        // A wall-clock time in the viewer's zone (alice: Europe/London, GMT until 29 March 01:00
        // UTC, BST after): 2026-03-29T06:00 there is 05:00 UTC.
        let a = web
            .post(
                "/silences",
                Some(&responder),
                Some(&responder.csrf),
                &[
                    ("service", "postgres"),
                    ("until", "2026-03-29T06:00"),
                    ("reason", "failover test"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let pg = web.store.silences(now).await.unwrap();
        let pg = pg
            .iter()
            .find(|s| s.service == "postgres")
            .expect("postgres silence");
        assert_eq!(pg.to.to_string(), "2026-03-29T05:00:00Z");

        let page = web.get("/silences", Some(&responder)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!page.body.contains("<script>alert"), "{}", page.body);
        assert!(
            page.body
                .contains("&#60;script&#62;alert(&#39;reason&#39;)&#60;/script&#62; deploy")
        );
        assert!(
            page.body
                .contains(&format!("action=\"/silences/{id}/end\""))
        );
        assert!(page.body.contains("action=\"/silences\""));
        let vpage = web.get("/silences", Some(&viewer)).await;
        assert!(vpage.body.contains(&format!("data-silence=\"{id}\"")));
        assert!(
            !vpage.body.contains("action=\"/silences"),
            "no forms for a viewer"
        );

        let end = format!("/silences/{id}/end");
        let a = web.post(&end, Some(&responder), None, &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        let a = web.post(&end, Some(&viewer), Some(&viewer.csrf), &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(web.store.silences(now).await.unwrap().len(), 2);
        let a = web
            .post(&end, Some(&responder), Some(&responder.csrf), &[])
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let left = web.store.silences(web.clock.now()).await.unwrap();
        assert!(left.iter().all(|s| s.id != id), "ended");
        let a = web
            .post(&end, Some(&responder), Some(&responder.csrf), &[])
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND);
        assert!(
            a.body
                .contains(&format!("There is no silence {id} in force."))
        );
        let audit = web.store.audit(None, 20).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|e| e.actor == "alice" && e.action.contains("silence")),
            "audited: {audit:?}"
        );
    }
);

both!(the_inbox_shows_mine_or_everyones, |web| async move {
    let inc = web.declare("Checkout errors", "SEV2").await;
    let now = web.clock.now();
    for (key, person, subject) in [
        (
            "k1",
            Some("alice"),
            "<script>alert('subject')</script> paged",
        ),
        ("k2", Some("bob"), "Bob's page"),
        ("k3", None, "Legal briefing"),
    ] {
        let entry = NewInboxEntry {
            key: key.into(),
            incident: Some(inc.id),
            person: person.map(str::to_string),
            recipient: person.map_or("legal@example.com".into(), |p| format!("person:{p}")),
            subject: subject.into(),
            text: "Details".into(),
            reason: "no configured provider reaches them".into(),
        };
        assert!(web.store.inbox_put(&entry, now).await.unwrap());
    }
    let alice = web.sign_in(&web.responder).await;
    let mine = web.get("/inbox", Some(&alice)).await;
    assert_eq!(mine.status, StatusCode::OK, "{}", mine.body);
    assert!(!mine.body.contains("<script>alert"), "{}", mine.body);
    assert!(
        mine.body
            .contains("&#60;script&#62;alert(&#39;subject&#39;)&#60;/script&#62; paged")
    );
    assert!(!mine.body.contains("Bob&#39;s page"));
    assert!(!mine.body.contains("Legal briefing"));
    assert!(
        mine.body
            .contains(&format!("href=\"/incidents/{}\"", inc.id))
    );
    assert!(
        !mine.body.contains("method=\"post\" action=\"/inbox"),
        "read-only"
    );
    let all = web.get("/inbox?who=all", Some(&alice)).await;
    for s in ["Bob&#39;s page", "Legal briefing", "paged"] {
        assert!(all.body.contains(s), "{s}: {}", all.body);
    }
    // The viewer's token is no person's: everyone's by default.
    let viewer = web.sign_in(&web.viewer).await;
    let v = web.get("/inbox", Some(&viewer)).await;
    assert!(v.body.contains("Legal briefing"));
    let other = web
        .get("/inbox?who=all&incident=INC-99999", Some(&viewer))
        .await;
    assert!(other.body.contains("Nothing in the inbox."));
    let bad = web.get("/inbox?who=them", Some(&viewer)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad = web.get("/inbox?incident=x", Some(&viewer)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("incident: `x` is not an incident id"));
});
