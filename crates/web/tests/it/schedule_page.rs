//! One schedule's page: on call now, layers, overrides and their audit trail, and "take the
//! pager now" — one click that puts the viewer on call, audited, noted on the incident.

use axum::http::StatusCode;
use jiff::SignedDuration;
use muster_core::Clock;
use muster_server::oncall;

use crate::both;
use crate::support::Web;

const SCHEDULE: &str = "payments-primary";

/// Who is on call for the schedule now, run-time overrides included.
async fn on_call_now(web: &Web, schedule: &str) -> Vec<String> {
    let overrides = oncall::runtime_overrides(&web.store).await.expect("read");
    oncall::on_call(
        &web.state.config().config,
        &overrides,
        schedule,
        web.clock.now(),
    )
}

/// Moves the clock on until `person` is not on call for the schedule.
async fn until_off_call(web: &Web, person: &str) {
    for _ in 0..28 {
        if !on_call_now(web, SCHEDULE).await.iter().any(|p| p == person) {
            return;
        }
        web.clock.advance(SignedDuration::from_hours(12));
    }
    panic!("{person} is on call for two weeks");
}

both!(
    the_page_shows_who_is_on_call_its_layers_and_a_404_for_an_unknown_schedule,
    |web| async move {
        let viewer = web.sign_in(&web.viewer).await;
        let page = web
            .get(&format!("/oncall/schedules/{SCHEDULE}"), Some(&viewer))
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let now = on_call_now(&web, SCHEDULE).await;
        assert!(
            page.body.contains(&format!(
                "<p id=\"on-call-now\" class=\"big\">{}</p>",
                now.join(", ")
            )),
            "{}",
            page.body
        );
        let cfg = web.state.config();
        let configured = &cfg.config.schedules[SCHEDULE];
        for layer in &configured.layers {
            assert!(
                page.body
                    .contains(&format!("<td>{}</td>", layer.members.join(", "))),
                "layer {}",
                layer.name
            );
        }
        assert!(page.body.contains(">Final</text>"), "the chart");
        // A viewer: no take-the-pager button, and the reason is said.
        assert!(!page.body.contains("Take the pager now</button>"));
        assert!(page.body.contains("Viewers cannot take the pager."));
        let missing = web
            .get("/oncall/schedules/no-such-schedule", Some(&viewer))
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert!(
            missing
                .body
                .contains("There is no schedule no-such-schedule.")
        );
    }
);

both!(
    a_responder_takes_the_pager_for_an_incident_and_on_call_the_audit_and_the_timeline_change,
    |web| async move {
        until_off_call(&web, "alice").await;
        let before = on_call_now(&web, SCHEDULE).await;
        let incident = web.declare("Card payments failing", "SEV1").await;
        let alice = web.sign_in(&web.responder).await;
        let page = web
            .get(&format!("/oncall/schedules/{SCHEDULE}"), Some(&alice))
            .await;
        assert!(
            page.body.contains("Take the pager now</button>"),
            "{}",
            page.body
        );
        assert!(
            page.body
                .contains(&format!("<option value=\"{}\">", incident.id)),
            "the open incident is offered"
        );
        let taken = web
            .post(
                &format!("/oncall/schedules/{SCHEDULE}/take"),
                Some(&alice),
                Some(&alice.csrf),
                &[("incident", &incident.id.to_string()), ("minutes", "")],
            )
            .await;
        assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
        assert_eq!(on_call_now(&web, SCHEDULE).await, vec!["alice"]);
        let stored = web.store.overrides(SCHEDULE).await.expect("read");
        assert_eq!(stored.len(), 1);
        let o = &stored[0];
        assert_eq!(o.person, "alice");
        assert_eq!(o.replaces.as_deref(), before.first().map(String::as_str));
        assert_eq!(o.created_by, "alice");
        assert_eq!(o.reason, format!("took the pager now for {}", incident.id));
        let page = web
            .get(&format!("/oncall/schedules/{SCHEDULE}"), Some(&alice))
            .await;
        assert!(page.body.contains(&format!("data-override=\"{}\"", o.id)));
        assert!(
            page.body.contains("alice: override.created"),
            "{}",
            page.body
        );
        // Until the hand-off: the override ends where the replaced shift ends, and the
        // rotation goes on as planned from there.
        let planned = |at| {
            oncall::on_call(
                &web.state.config().config,
                &oncall::RuntimeOverrides::new(),
                SCHEDULE,
                at,
            )
        };
        let just_before = o.to - SignedDuration::from_secs(1);
        assert_eq!(planned(just_before), before);
        assert_ne!(planned(o.to), before, "a hand-off at the override's end");
        web.clock.set(o.to);
        assert_eq!(on_call_now(&web, SCHEDULE).await, planned(o.to));
        let audit = web
            .store
            .audit(Some(&format!("schedule:{SCHEDULE}")), 10)
            .await
            .expect("audit");
        assert_eq!(audit.len(), 1);
        assert_eq!(
            (audit[0].actor.as_str(), audit[0].action.as_str()),
            ("alice", "override.created")
        );
        let timeline = web
            .store
            .timeline(incident.id, 0, 500)
            .await
            .expect("timeline");
        assert!(
            timeline.iter().any(
                |e| serde_json::to_string(&e.change)
                    .expect("json")
                    .contains(&format!(
                        "Took the pager of {}",
                        web.state.config().config.schedules[SCHEDULE].name
                    ))
            ),
            "the incident's timeline says who took the pager"
        );
    }
);

both!(
    taking_the_pager_is_refused_with_the_reason_and_writes_nothing,
    |web| async move {
        let alice = web.sign_in(&web.responder).await;
        let viewer = web.sign_in(&web.viewer).await;
        let path = format!("/oncall/schedules/{SCHEDULE}/take");
        // A forged POST from a viewer.
        let forged = web
            .post(
                &path,
                Some(&viewer),
                Some(&viewer.csrf),
                &[("minutes", "60")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(
            forged.body.contains("this needs responder"),
            "{}",
            forged.body
        );
        // No form token.
        let no_csrf = web
            .post(&path, Some(&alice), None, &[("minutes", "60")])
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        // alice does not rotate in the platform schedule.
        let platform = web
            .post(
                "/oncall/schedules/platform-primary/take",
                Some(&alice),
                Some(&alice.csrf),
                &[("minutes", "60")],
            )
            .await;
        assert_eq!(platform.status, StatusCode::FORBIDDEN);
        assert!(
            platform.body.contains("alice does not rotate in"),
            "{}",
            platform.body
        );
        let zero = web
            .post(&path, Some(&alice), Some(&alice.csrf), &[("minutes", "0")])
            .await;
        assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            zero.body.contains("minutes: from 1 to 20160"),
            "{}",
            zero.body
        );
        let unknown = web
            .post(
                &path,
                Some(&alice),
                Some(&alice.csrf),
                &[("incident", "INC-999")],
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(
            unknown.body.contains("incident INC-999 not found"),
            "{}",
            unknown.body
        );
        // On call already: nothing to take.
        let mut on_call = on_call_now(&web, SCHEDULE).await;
        for _ in 0..28 {
            if on_call.iter().any(|p| p == "alice") {
                break;
            }
            web.clock.advance(SignedDuration::from_hours(12));
            on_call = on_call_now(&web, SCHEDULE).await;
        }
        assert_eq!(
            on_call,
            vec!["alice"],
            "alice's turn comes within two weeks"
        );
        // Days passed: a new session.
        let alice = web.sign_in(&web.responder).await;
        let again = web.post(&path, Some(&alice), Some(&alice.csrf), &[]).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(
            again.body.contains("alice is on call for"),
            "{}",
            again.body
        );
        assert!(
            web.store
                .overrides(SCHEDULE)
                .await
                .expect("read")
                .is_empty(),
            "nothing was written"
        );
        assert!(
            web.store
                .overrides("platform-primary")
                .await
                .expect("read")
                .is_empty()
        );
    }
);

both!(
    an_admin_ends_an_override_and_the_audit_keeps_both,
    |web| async move {
        until_off_call(&web, "alice").await;
        let alice = web.sign_in(&web.responder).await;
        let taken = web
            .post(
                &format!("/oncall/schedules/{SCHEDULE}/take"),
                Some(&alice),
                Some(&alice.csrf),
                &[("minutes", "60")],
            )
            .await;
        assert_eq!(taken.status, StatusCode::SEE_OTHER, "{}", taken.body);
        let id = web.store.overrides(SCHEDULE).await.expect("read")[0]
            .id
            .clone();
        let end = format!("/oncall/schedules/{SCHEDULE}/overrides/{id}/end");
        // A responder sees no End button and cannot end it.
        let page = web
            .get(&format!("/oncall/schedules/{SCHEDULE}"), Some(&alice))
            .await;
        assert!(!page.body.contains(&format!("End {id}</button>")));
        let refused = web.post(&end, Some(&alice), Some(&alice.csrf), &[]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(on_call_now(&web, SCHEDULE).await, vec!["alice"]);
        let admin = web.sign_in(&web.admin).await;
        let ended = web.post(&end, Some(&admin), Some(&admin.csrf), &[]).await;
        assert_eq!(ended.status, StatusCode::SEE_OTHER, "{}", ended.body);
        assert_ne!(on_call_now(&web, SCHEDULE).await, vec!["alice"]);
        let actions: Vec<(String, String)> = web
            .store
            .audit(Some(&format!("schedule:{SCHEDULE}")), 10)
            .await
            .expect("audit")
            .into_iter()
            .map(|a| (a.actor, a.action))
            .collect();
        assert!(actions.contains(&("alice".into(), "override.created".into())));
        assert!(
            actions.contains(&("root".into(), "override.deleted".into())),
            "{actions:?}"
        );
        let gone = web.post(&end, Some(&admin), Some(&admin.csrf), &[]).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
    }
);
