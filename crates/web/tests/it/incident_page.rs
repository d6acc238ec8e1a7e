//! The incident page: the live clock from the server's clock view, actions through the
//! reactions (a milestone ends its deadline and the timeline says "met"), the timeline in
//! pages, the lists' filters, home, declare.

use axum::http::StatusCode;
use jiff::{SignedDuration, Timestamp};
use muster_core::{Clock, Command};

use crate::both;

/// The `data-due` of the clock entry of `policy`, if the page has one.
fn due_of(html: &str, policy: &str) -> Option<Timestamp> {
    let marker = format!("data-policy=\"{policy}\" data-due=\"");
    let at = html.find(&marker)? + marker.len();
    let end = html[at..].find('"')?;
    html[at..at + end].parse().ok()
}

/// The `<li class="…">` of the clock entry of `policy`.
fn entry_class(html: &str, policy: &str) -> Option<String> {
    let at = html.find(&format!("data-policy=\"{policy}\""))?;
    let start = html[..at].rfind("class=\"")? + "class=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

both!(
    the_clock_shows_deadlines_and_a_milestone_ends_one,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let a = web
            .post(
                "/incidents",
                Some(&browser),
                Some(&browser.csrf),
                &[
                    ("title", "Checkout down"),
                    ("severity", "SEV1"),
                    ("service", "checkout"),
                ],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let path = a.location().to_string();
        assert_eq!(path, "/incidents/INC-1");
        let declared = web.clock.now();
        let page = web.get(&path, Some(&browser)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Checkout down"));
        let due = due_of(&page.body, "blast-radius-20m").expect("the blast-radius deadline");
        assert_eq!(due, declared + SignedDuration::from_mins(20));
        assert!(page.body.contains("due in 20 min"), "{}", page.body);
        assert!(
            page.body.contains("data-warn=\""),
            "its warning time for the script"
        );
        let class = entry_class(&page.body, "blast-radius-20m").unwrap();
        assert!(!class.contains("warning"), "{class}");
        // Five minutes before the deadline the warning is due.
        web.clock.advance(SignedDuration::from_mins(16));
        let page = web.get(&path, Some(&browser)).await;
        let class = entry_class(&page.body, "blast-radius-20m").unwrap();
        assert!(class.contains("warning"), "{class}");
        assert!(page.body.contains("due in 4 min"), "{}", page.body);
        // One click on the milestone's button.
        let a = web
            .post(
                &format!("{path}/milestone"),
                Some(&browser),
                Some(&browser.csrf),
                &[("milestone", "blast_radius_validated")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let page = web.get(&path, Some(&browser)).await;
        assert!(
            due_of(&page.body, "blast-radius-20m").is_none(),
            "left the clock"
        );
        assert!(
            page.body.contains(
                "Deadline blast-radius-20m (blast radius validated) met with 4 min to spare"
            ),
            "{}",
            page.body
        );
        assert!(page.body.contains("Milestone: blast radius validated"));
        // The button is gone with the milestone.
        assert!(!page.body.contains("value=\"blast_radius_validated\""));
    }
);

both!(every_action_goes_through_the_reactions, |web| async move {
    let browser = web.sign_in(&web.responder).await;
    let inc = web.declare("Payments slow", "SEV2").await;
    let base = format!("/incidents/{}", inc.id);
    let post = |path: String, pairs: Vec<(&'static str, &'static str)>| {
        let (web, browser) = (&web, &browser);
        async move {
            let a = web
                .post(&path, Some(browser), Some(&browser.csrf), &pairs)
                .await;
            assert_eq!(a.status, StatusCode::SEE_OTHER, "{path}: {}", a.body);
        }
    };
    post(format!("{base}/acknowledge"), vec![]).await;
    post(
        format!("{base}/role"),
        vec![("role", "incident_commander"), ("person", "alice")],
    )
    .await;
    post(format!("{base}/severity"), vec![("severity", "SEV1")]).await;
    post(format!("{base}/status"), vec![("status", "mitigated")]).await;
    post(
        format!("{base}/status-update"),
        vec![("text", "Rolled back; watching.")],
    )
    .await;
    web.state.store.incident(inc.id).await.unwrap().unwrap();
    muster_server::reactions::apply(
        &web.state,
        "alice",
        inc.id,
        Command::AddTask {
            title: "Check refunds".into(),
            assignee: None,
        },
    )
    .await
    .unwrap();
    post(format!("{base}/tasks/1/done"), vec![]).await;
    let now = web.store.incident(inc.id).await.unwrap().unwrap();
    assert!(now.milestones.iter().any(|m| m.milestone == "acknowledged"));
    assert!(
        now.milestones
            .iter()
            .any(|m| m.milestone == "status_update_posted")
    );
    assert_eq!(now.roles["incident_commander"].person, "alice");
    assert_eq!(now.severity.to_string(), "SEV1");
    assert_eq!(now.status.to_string(), "mitigated");
    assert!(now.tasks[0].done);
    let page = web.get(&base, Some(&browser)).await;
    assert!(
        page.body
            .contains("Note: Status update: Rolled back; watching."),
        "{}",
        page.body
    );
    assert!(page.body.contains("incident commander: alice"));
    // A refusal of the core is a page saying why, and writes nothing.
    let before = web.last_seq(inc.id).await;
    let a = web
        .post(
            &format!("{base}/milestone"),
            Some(&browser),
            Some(&browser.csrf),
            &[("milestone", "no_such")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("unknown milestone `no_such`"), "{}", a.body);
    let a = web
        .post(
            &format!("{base}/severity"),
            Some(&browser),
            Some(&browser.csrf),
            &[("severity", "SEV9")],
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    assert_eq!(web.last_seq(inc.id).await, before);
});

both!(the_timeline_is_paginated_newest_first, |web| async move {
    let browser = web.sign_in(&web.responder).await;
    let inc = web.declare("Noisy", "SEV4").await;
    for n in 0..230 {
        muster_server::reactions::apply(
            &web.state,
            "alice",
            inc.id,
            Command::AddNote {
                text: format!("note number {n}"),
            },
        )
        .await
        .unwrap();
    }
    let last = web.last_seq(inc.id).await;
    let base = format!("/incidents/{}", inc.id);
    let page = web.get(&base, Some(&browser)).await;
    let shown = page.body.matches("<li class=\"event").count();
    assert_eq!(shown, 100);
    assert!(page.body.contains("note number 229"));
    assert!(!page.body.contains("note number 129<"));
    let older = format!("{base}?before={}", last + 1 - 100);
    assert!(
        page.body.contains(&format!("href=\"{older}\"")),
        "{}",
        page.body
    );
    let page = web.get(&older, Some(&browser)).await;
    assert_eq!(page.body.matches("<li class=\"event").count(), 100);
    assert!(page.body.contains("note number 129<"));
    assert!(page.body.contains("Newer events"));
    // The oldest page starts at the declaration.
    let page = web
        .get(&format!("{base}?before={}", last + 1 - 200), Some(&browser))
        .await;
    assert!(page.body.contains("Declared SEV4"), "{}", page.body);
    assert!(!page.body.contains("Older events"));
});

both!(
    the_list_filters_and_home_shows_mine_and_on_call,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let a = web.declare("Checkout down", "SEV1").await;
        let _b = web.declare("Fraud model stale", "SEV3").await;
        muster_server::reactions::apply(
            &web.state,
            "alice",
            a.id,
            Command::Update {
                title: None,
                severity: None,
                status: Some("resolved".parse().unwrap()),
                services: None,
            },
        )
        .await
        .unwrap();
        let list = |q: &'static str| {
            let (web, browser) = (&web, &browser);
            async move { web.get(&format!("/incidents{q}"), Some(browser)).await.body }
        };
        let all = list("").await;
        assert!(all.contains("Checkout down") && all.contains("Fraud model stale"));
        let open = list("?status=open").await;
        assert!(!open.contains("Checkout down") && open.contains("Fraud model stale"));
        let sev1 = list("?severity=SEV1").await;
        assert!(sev1.contains("Checkout down") && !sev1.contains("Fraud model stale"));
        let text = list("?q=FRAUD").await;
        assert!(!text.contains("Checkout down") && text.contains("Fraud model stale"));
        let later = list("?since=2026-03-30").await;
        assert!(later.contains("No incident matches."), "{later}");
        let service = list("?service=checkout").await;
        assert!(service.contains("Fraud model stale"));
        let service = list("?service=postgres").await;
        assert!(service.contains("No incident matches."));
        let bad = list("?severity=SEV9&since=yesterday").await;
        assert!(
            bad.contains("since `yesterday` is not a date like 2026-03-01"),
            "{bad}"
        );

        let home = web.get("/", Some(&browser)).await.body;
        // alice declared the open one: it is hers; the resolved one is on neither list.
        assert!(home.contains("Fraud model stale"));
        assert!(!home.contains("Checkout down"));
        assert!(home.contains("On call now for payments"), "{home}");
        assert!(home.contains("Next hand-offs"));
    }
);

both!(
    times_are_in_the_viewers_zone_with_utc_on_hover,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let inc = web.declare("Checkout down", "SEV2").await;
        let path = format!("/incidents/{}", inc.id);
        // alice's own zone first (Europe/London: GMT at T0, 03:12 UTC on 29 March is BST 04:12).
        let page = web.get(&path, Some(&browser)).await.body;
        assert!(page.contains("2026-03-29 04:12:00 BST"), "{page}");
        assert!(page.contains("title=\"2026-03-29 03:12:00 UTC\""), "{page}");
        let a = web
            .post(
                "/prefs/zone",
                Some(&browser),
                Some(&browser.csrf),
                &[("zone", "Asia/Kolkata"), ("back", &path)],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), path);
        let set = a.set_cookie().unwrap();
        assert!(set.starts_with("muster_zone=Asia%2FKolkata;"), "{set}");
        let with_zone = crate::support::Browser {
            cookie: format!("{}; {}", browser.cookie, set.split(';').next().unwrap()),
            csrf: browser.csrf.clone(),
        };
        let page = web.get(&path, Some(&with_zone)).await.body;
        assert!(page.contains("2026-03-29 08:42:00 IST"), "{page}");
        assert!(page.contains("<option value=\"Asia/Kolkata\" selected>"));
        // An unknown zone is refused, and the cookie is not set.
        let a = web
            .post(
                "/prefs/zone",
                Some(&browser),
                Some(&browser.csrf),
                &[("zone", "Mars/Olympus")],
            )
            .await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            a.body.contains("`Mars/Olympus` is not a time zone"),
            "{}",
            a.body
        );
        assert!(a.set_cookie().is_none());
    }
);

both!(
    the_brief_page_has_the_brief_and_the_drafts,
    |web| async move {
        let browser = web.sign_in(&web.viewer).await;
        let inc = web.declare("Checkout <down>", "SEV1").await;
        let page = web
            .get(&format!("/incidents/{}/brief", inc.id), Some(&browser))
            .await;
        assert_eq!(page.status, StatusCode::OK);
        for heading in [
            "Brief me",
            "Status update draft",
            "Customer update draft",
            "Executive summary",
        ] {
            assert!(
                page.body.contains(&format!(">{heading}</h2>")),
                "{heading}: {}",
                page.body
            );
        }
        assert!(!page.body.contains("Review draft"), "only once resolved");
        assert!(
            page.body.contains("blast radius validated"),
            "the pending deadline: {}",
            page.body
        );
        assert!(!page.body.contains("<down>"));
        muster_server::reactions::apply(
            &web.state,
            "alice",
            inc.id,
            Command::Update {
                title: None,
                severity: None,
                status: Some("resolved".parse().unwrap()),
                services: None,
            },
        )
        .await
        .unwrap();
        let page = web
            .get(&format!("/incidents/{}/brief", inc.id), Some(&browser))
            .await;
        assert!(page.body.contains(">Review draft</h2>"));
    }
);

both!(
    an_incident_of_10000_events_shows_one_page_of_them,
    |web| async move {
        let browser = web.sign_in(&web.viewer).await;
        let inc = web.declare("Long-running", "SEV3").await;
        // Policy records, as a long incident's cadence reminders pile up (notes would also
        // feed the similar-incident index, whose SQLite trigger makes 10,000 slow to write).
        let records: Vec<muster_core::Change> = (0..10_000)
            .map(|n| muster_core::Change::PolicyFired {
                policy: "status-cadence".into(),
                reason: format!("reminder {n}"),
                actions: Vec::new(),
                recipients: Vec::new(),
                late_by_ms: None,
            })
            .collect();
        web.store
            .update(inc.id, "policy:status-cadence", web.clock.now(), |_| {
                Ok(records)
            })
            .await
            .unwrap();
        let last = web.last_seq(inc.id).await;
        assert!(last > 10_000);
        let path = format!("/incidents/{}", inc.id);
        let started = std::time::Instant::now();
        let page = web.get(&path, Some(&browser)).await;
        let took = started.elapsed();
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(page.body.matches("<li class=\"event").count(), 100);
        assert!(page.body.contains("Policy status-cadence: reminder 9999<"));
        assert!(!page.body.contains("Policy status-cadence: reminder 9899<"));
        assert!(page.body.contains(&format!("?before={}\"", last + 1 - 100)));
        // One page is read, not the timeline: far under the request timeout even in a debug build.
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        // The deepest page holds the declaration.
        let first = web.get(&format!("{path}?before=50"), Some(&browser)).await;
        assert!(first.body.contains("Declared SEV3"));
    }
);

both!(
    a_drills_incident_carries_the_exercise_banner,
    |web| async move {
        let browser = web.sign_in(&web.responder).await;
        let drill = muster_server::drills::start(
            &web.state,
            "sev1-3am-blast-radius",
            muster_server::drills::Pace::Stepped,
            &Default::default(),
            "alice",
        )
        .await
        .expect("drill started");
        let page = web
            .get(&format!("/incidents/{}", drill.id), Some(&browser))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(
            page.body.contains("<strong>Exercise.</strong>"),
            "{}",
            page.body
        );
        let real = web.declare("Real one", "SEV2").await;
        let page = web
            .get(&format!("/incidents/{}", real.id), Some(&browser))
            .await;
        assert!(!page.body.contains("<strong>Exercise.</strong>"));
        // The list marks it too.
        let list = web.get("/incidents", Some(&browser)).await;
        assert_eq!(list.body.matches("badge exercise\">exercise<").count(), 1);
    }
);
