//! The drill pages: starting a drill from the form, the facilitator's view (clock, injects,
//! buttons, live score, the report once ended), what a participant receives, and the
//! refusals (viewer, form token, unknown drill). Drill time runs on the simulated clock.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use jiff::SignedDuration;
use muster_core::{Clock, IncidentNumber};
use muster_server::deliver::{Channels, Deliverer};
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;
use muster_testkit::copy_dir;

use crate::both;
use crate::support::{Backend, Browser, Web, demo_dir, web_in};

const SCENARIO: &str = "sev1-3am-blast-radius";
const DRILL: IncidentNumber = IncidentNumber(1);

/// Starts the demo's 3 a.m. scenario from its form at `speed`, dave, erin and carol playing.
async fn start(web: &Web, b: &Browser, speed: &str) -> String {
    let a = web
        .post(
            "/drills",
            Some(b),
            Some(&b.csrf),
            &[
                ("scenario", SCENARIO),
                ("pace", "speed"),
                ("speed", speed),
                ("player:incident_commander", "dave"),
                ("player:ops_lead", "erin"),
                ("player:comms_lead", "carol"),
            ],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/drills/INC-1");
    a.location().to_string()
}

/// Fires what is due and delivers what is queued (to the inbox: no provider is configured).
async fn settle(web: &Web) {
    let scheduler = Scheduler::new(web.store.clone(), web.clock.clone() as Arc<dyn Clock>);
    let timers = Timers::new(web.state.clone());
    while scheduler.tick(&timers).await.expect("tick") > 0 {}
    let deliverer = Deliverer::new(web.state.clone(), Channels::default());
    while deliverer.tick().await.expect("deliver") > 0 {}
}

/// Fires and delivers what is due, then once more a second later (a delivery queued in one
/// tick is sent in a later one).
async fn settle_and_deliver(web: &Web) {
    settle(web).await;
    web.clock.advance(SignedDuration::from_secs(1));
    settle(web).await;
}

/// `secs` real seconds, a second at a time, firing what comes due.
async fn run_for(web: &Web, secs: i64) {
    for _ in 0..secs {
        web.clock.advance(SignedDuration::from_secs(1));
        settle(web).await;
    }
}

/// The text of the element whose opening tag carries `marker`, up to its row's end.
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {html}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

fn drill_time(html: &str) -> &str {
    let at =
        html.find("id=\"drill-elapsed\">").expect("drill time") + "id=\"drill-elapsed\">".len();
    let rest = &html[at..];
    rest[..rest.find(" <span").expect("its end")].trim()
}

both!(a_drill_started_from_the_form_is_listed, |web| async move {
    let b = web.sign_in(&web.responder).await;
    let page = web.get("/drills", Some(&b)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("aria-current=\"page\">Drills</a>"));
    for id in [
        "sev1-3am-blast-radius",
        "exec-vip-call",
        "pr-four-hours-late",
    ] {
        assert!(page.body.contains(&format!("Start {id}</button>")), "{id}");
    }
    // One select per part the scenario plays, each labelled; personas by their name.
    assert!(page.body.contains(
        "<label for=\"pl-exec-vip-call-executive\">The VP of engineering (executive)</label>"
    ));

    // A person who does not exist: the API's 422, and no drill.
    let refused = web
        .post(
            "/drills",
            Some(&b),
            Some(&b.csrf),
            &[
                ("scenario", SCENARIO),
                ("pace", "speed"),
                ("speed", "60"),
                ("player:comms_lead", "nobody"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("no person `nobody` (for comms_lead)"),
        "{}",
        refused.body
    );
    assert!(web.store.exercises(10).await.expect("drills").is_empty());

    start(&web, &b, "60").await;
    let incident = web
        .store
        .incident(DRILL)
        .await
        .expect("read")
        .expect("declared");
    assert!(incident.exercise);
    assert_eq!(incident.declared_by, "alice");
    let list = web.get("/drills", Some(&b)).await;
    let listed = row(&list.body, "data-drill=\"INC-1\"");
    assert!(
        listed.contains("[drill] Checkout error rate above 30 %"),
        "{listed}"
    );
    assert!(listed.contains(">running</span>"), "{listed}");
    assert!(listed.contains(SCENARIO), "{listed}");

    let view = web.get("/drills/INC-1", Some(&b)).await;
    assert_eq!(view.status, StatusCode::OK, "{}", view.body);
    assert!(
        view.body.contains("<dd id=\"drill-speed\">×60</dd>"),
        "{}",
        view.body
    );
    assert!(
        view.body
            .contains("<li><a href=\"/drills/INC-1/as/comms_lead\">comms lead</a>: carol</li>")
    );
    assert!(view.body.contains("href=\"/incidents/INC-1\""));
    // The live score: the armed deadline and the open targets are pending, not missed.
    let armed = row(&view.body, "data-policy=\"blast-radius-20m\"");
    assert!(armed.contains(">pending</span>"), "{armed}");
    assert!(armed.contains("T+20 min"), "{armed}");
    assert!(row(&view.body, "data-target=\"mitigated\"").contains(">pending</span>"));
    assert!(!view.body.contains(">missed</span>"), "{}", view.body);
});

both!(
    inject_now_changes_the_view_and_the_timeline,
    |web| async move {
        let b = web.sign_in(&web.responder).await;
        start(&web, &b, "60").await;
        let before = web.get("/drills/INC-1", Some(&b)).await;
        let third = row(&before.body, "data-inject=\"2\"");
        assert!(third.contains(">pending</td>"), "{third}");
        assert!(third.contains("Inject now"), "{third}");

        let a = web
            .post(
                "/drills/INC-1/inject",
                Some(&b),
                Some(&b.csrf),
                &[("index", "2")],
            )
            .await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), "/drills/INC-1");
        settle(&web).await;

        let after = web.get("/drills/INC-1", Some(&b)).await;
        let third = row(&after.body, "data-inject=\"2\"");
        assert!(third.contains(">played</td>"), "{third}");
        assert!(!third.contains("Inject now"), "{third}");
        assert!(row(&after.body, "data-inject=\"0\"").contains(">pending</td>"));
        let incident = web.get("/incidents/INC-1", Some(&b)).await;
        // Deadlines in drill time do not tick against the browser's real clock.
        assert!(
            incident.body.contains("class=\"clock-entry"),
            "{}",
            incident.body
        );
        assert!(incident.body.contains("id=\"drill-time\""));
        assert!(!incident.body.contains("data-due="), "{}", incident.body);
        assert!(
            incident.body.contains("Drill: inject 2 played now"),
            "{}",
            incident.body
        );
        assert!(
            incident
                .body
                .contains("Drill: inject 2 played: merchant to comms_lead"),
            "{}",
            incident.body
        );

        // Skipping leaves an inject out; a second skip is the API's 409.
        let skip = web
            .post(
                "/drills/INC-1/skip",
                Some(&b),
                Some(&b.csrf),
                &[("index", "3")],
            )
            .await;
        assert_eq!(skip.status, StatusCode::SEE_OTHER, "{}", skip.body);
        let page = web.get("/drills/INC-1", Some(&b)).await;
        assert!(row(&page.body, "data-inject=\"3\"").contains(">skipped by the facilitator</td>"));
        let again = web
            .post(
                "/drills/INC-1/skip",
                Some(&b),
                Some(&b.csrf),
                &[("index", "3")],
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert!(
            again.body.contains("inject 3 is not pending"),
            "{}",
            again.body
        );
    }
);

both!(pause_and_resume_hold_the_drill_clock, |web| async move {
    let b = web.sign_in(&web.responder).await;
    start(&web, &b, "60").await;
    web.clock.advance(SignedDuration::from_secs(10));
    let page = web.get("/drills/INC-1", Some(&b)).await;
    assert_eq!(drill_time(&page.body), "T+10 min");

    let a = web
        .post("/drills/INC-1/pause", Some(&b), Some(&b.csrf), &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    web.clock.advance(SignedDuration::from_secs(120));
    let paused = web.get("/drills/INC-1", Some(&b)).await;
    assert_eq!(
        drill_time(&paused.body),
        "T+10 min",
        "paused, the drill's time stands"
    );
    assert!(paused.body.contains(">paused</span>"));
    assert!(paused.body.contains("action=\"/drills/INC-1/resume\""));
    assert!(!paused.body.contains("action=\"/drills/INC-1/pause\""));

    let a = web
        .post("/drills/INC-1/resume", Some(&b), Some(&b.csrf), &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    web.clock.advance(SignedDuration::from_secs(5));
    let resumed = web.get("/drills/INC-1", Some(&b)).await;
    assert_eq!(
        drill_time(&resumed.body),
        "T+15 min",
        "resumed at its own speed"
    );
    assert!(resumed.body.contains(">running</span>"));
});

both!(ending_shows_the_score_and_the_report, |web| async move {
    let b = web.sign_in(&web.responder).await;
    start(&web, &b, "60").await;
    // 25 drill minutes: the 20-minute blast-radius deadline passes unmet.
    run_for(&web, 25).await;
    let live = web.get("/drills/INC-1", Some(&b)).await;
    assert!(live.body.contains("Live score"));
    let policy = row(&live.body, "data-policy=\"blast-radius-20m\"");
    assert!(policy.contains(">missed</span>"), "{policy}");
    assert!(policy.contains("T+20 min"), "{policy}");
    let target = row(&live.body, "data-target=\"mitigated\"");
    assert!(
        target.contains(">pending</span>"),
        "not missed while its hour runs: {target}"
    );
    assert!(!live.body.contains("After-action report"));

    let a = web
        .post("/drills/INC-1/end", Some(&b), Some(&b.csrf), &[])
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let ended = web.get("/drills/INC-1", Some(&b)).await;
    assert!(ended.body.contains(">ended</span>"));
    let target = row(&ended.body, "data-target=\"mitigated\"");
    assert!(target.contains(">missed</span>"), "{target}");
    assert!(
        ended
            .body
            .contains("<h2 id=\"report-h\">After-action report</h2>")
    );
    assert!(ended.body.contains("<img src=\"/drills/INC-1/chart.svg\""));
    assert!(
        ended
            .body
            .contains("| blast-radius-20m | deadline | ❌ missed | T+20 min |"),
        "{}",
        ended.body
    );
    assert!(
        !ended.body.contains("action=\"/drills/INC-1/"),
        "no button once ended"
    );
    let chart = web.get("/drills/INC-1/chart.svg", Some(&b)).await;
    assert_eq!(chart.status, StatusCode::OK);
    assert_eq!(
        chart
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/svg+xml")
    );
    assert!(chart.body.starts_with("<svg"), "{}", chart.body);
    // Ended: a command is the API's 409, and says so.
    let late = web
        .post("/drills/INC-1/pause", Some(&b), Some(&b.csrf), &[])
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT);
    assert!(late.body.contains("has ended"), "{}", late.body);
});

both!(a_participant_sees_what_reaches_them, |web| async move {
    let b = web.sign_in(&web.responder).await;
    start(&web, &b, "60").await;
    // The support desk's message to the incident commander, played now and delivered.
    let a = web
        .post(
            "/drills/INC-1/inject",
            Some(&b),
            Some(&b.csrf),
            &[("index", "1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    settle_and_deliver(&web).await;

    let ic = web
        .get("/drills/INC-1/as/incident_commander", Some(&b))
        .await;
    assert_eq!(ic.status, StatusCode::OK, "{}", ic.body);
    assert!(ic.body.contains("<dd id=\"part-person\">dave</dd>"));
    assert!(
        ic.body.contains(
            "<span class=\"at\">T+12 min</span> <span class=\"text\">Sam, customer support lead: 40 tickets in ten minutes"
        ),
        "{}",
        ic.body
    );
    assert!(ic.body.contains("Delivered to dave in this drill"));
    assert!(
        ic.body
            .contains("Why: Sam, customer support lead: 40 tickets in ten minutes"),
        "the delivered message in dave's inbox: {}",
        ic.body
    );
    // The comms lead was told nothing: no message, nothing delivered.
    let comms = web.get("/drills/INC-1/as/comms_lead", Some(&b)).await;
    assert!(!comms.body.contains("40 tickets"), "{}", comms.body);
    assert!(comms.body.contains("Nothing delivered yet."));
});

both!(a_viewer_sees_no_buttons_and_cannot_post, |web| async move {
    let r = web.sign_in(&web.responder).await;
    start(&web, &r, "60").await;
    let v = web.sign_in(&web.viewer).await;
    let list = web.get("/drills", Some(&v)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("action=\"/drills\""), "no start form");
    let page = web.get("/drills/INC-1", Some(&v)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        !page.body.contains("action=\"/drills/INC-1/"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Live score"));

    let seq = web.last_seq(DRILL).await;
    let forged = web
        .post("/drills/INC-1/pause", Some(&v), Some(&v.csrf), &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        forged
            .body
            .contains("with the viewer role; this needs responder"),
        "{}",
        forged.body
    );
    let started = web
        .post(
            "/drills",
            Some(&v),
            Some(&v.csrf),
            &[("scenario", SCENARIO)],
        )
        .await;
    assert_eq!(started.status, StatusCode::FORBIDDEN);
    assert_eq!(web.last_seq(DRILL).await, seq, "nothing written");
    let (_, d) = muster_server::drills::load(&web.state, DRILL)
        .await
        .expect("drill");
    assert!(!d.clock.paused);
    assert_eq!(web.store.exercises(10).await.expect("drills").len(), 1);
});

both!(a_wrong_form_token_is_refused, |web| async move {
    let b = web.sign_in(&web.responder).await;
    start(&web, &b, "60").await;
    let seq = web.last_seq(DRILL).await;
    for csrf in [Some("forged"), None] {
        let a = web.post("/drills/INC-1/end", Some(&b), csrf, &[]).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(
            a.body.contains("form token is missing or wrong"),
            "{}",
            a.body
        );
    }
    let a = web
        .post(
            "/drills",
            Some(&b),
            Some("forged"),
            &[("scenario", SCENARIO)],
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert_eq!(web.last_seq(DRILL).await, seq, "nothing written");
    assert_eq!(web.store.exercises(10).await.expect("drills").len(), 1);
});

both!(an_unknown_drill_is_not_found, |web| async move {
    let b = web.sign_in(&web.responder).await;
    web.declare("A real incident", "SEV2").await;
    for path in [
        "/drills/INC-1",
        "/drills/INC-99",
        "/drills/nonsense",
        "/drills/INC-1/chart.svg",
    ] {
        let a = web.get(path, Some(&b)).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
        assert!(a.body.contains("There is no drill"), "{path}: {}", a.body);
    }
    let a = web
        .post("/drills/INC-1/pause", Some(&b), Some(&b.csrf), &[])
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.body.contains("There is no drill INC-1."), "{}", a.body);

    start_second(&web, &b).await;
    let a = web.get("/drills/INC-2/as/journalist", Some(&b)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(
        a.body.contains("Nobody plays journalist in drill INC-2."),
        "{}",
        a.body
    );
});

async fn start_second(web: &Web, b: &Browser) {
    let a = web
        .post(
            "/drills",
            Some(b),
            Some(&b.csrf),
            &[("scenario", SCENARIO), ("pace", "step")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/drills/INC-2");
}

/// The demo with script in the 3 a.m. scenario's title and a persona's message.
fn scripted_demo(into: &Path) {
    copy_dir(&demo_dir(), into);
    let path = into.join("drills/sev1-3am-blast-radius.yaml");
    let text = std::fs::read_to_string(&path).expect("read");
    let text = text
        .replacen(
            "title: SEV1 at 3 a.m. - checkout is failing",
            "title: \"<script>alert('title')</script>\"",
            1,
        )
        .replacen(
            "text: \"40 tickets in ten minutes",
            "text: \"<script>alert('persona')</script> 40 tickets in ten minutes",
            1,
        );
    std::fs::write(&path, text).expect("write");
}

async fn scenario_text_is_escaped(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    scripted_demo(dir.path());
    let Some(web) = web_in(backend, dir.path().to_path_buf()).await else {
        return;
    };
    let b = web.sign_in(&web.responder).await;
    let list = web.get("/drills", Some(&b)).await;
    assert!(!list.body.contains("<script>alert"), "{}", list.body);
    assert!(
        list.body
            .contains("&#60;script&#62;alert(&#39;title&#39;)&#60;/script&#62;")
    );
    start(&web, &b, "60").await;
    let a = web
        .post(
            "/drills/INC-1/inject",
            Some(&b),
            Some(&b.csrf),
            &[("index", "1")],
        )
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    settle(&web).await;
    for path in ["/drills/INC-1", "/drills/INC-1/as/incident_commander"] {
        let page = web.get(path, Some(&b)).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            !page.body.contains("<script>alert"),
            "{path}: {}",
            page.body
        );
        assert!(
            page.body
                .contains("&#60;script&#62;alert(&#39;persona&#39;)&#60;/script&#62; 40 tickets"),
            "{path}: {}",
            page.body
        );
    }
}

mod scenario_text_is_escaped {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        scenario_text_is_escaped(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        scenario_text_is_escaped(Backend::Postgres).await;
    }
}
