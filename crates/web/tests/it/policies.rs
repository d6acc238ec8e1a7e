//! The policy pages: source, tests' results (a failing test shown as failed), adherence from
//! the API's policies report, hardest first; the catalog pages (services, people, escalation
//! policies); config text with HTML in it escaped.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use jiff::SignedDuration;
use muster_core::{Clock, Command};
use muster_server::api::reports;
use muster_server::reactions;
use muster_server::scheduler::Scheduler;
use muster_server::timers::Timers;

use crate::support::{Backend, Web, demo_dir, web_in};

/// A copy of the demo with HTML in a person's and an escalation policy's name and in a
/// service's and a policy's description, and one policy test that now fails (the page is
/// expected at 21m, it comes at 20m).
fn changed_demo(into: &Path) {
    copy_dir(&demo_dir(), into);
    let edit = |file: &str, from: &str, to: &str| {
        let path = into.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} has {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    };
    edit(
        "people.yaml",
        "name: Alice Adams",
        "name: \"<script>alert('alice')</script>\"",
    );
    edit(
        "services.yaml",
        "description: The checkout flow customers pay through.",
        "description: \"<script>alert('service')</script>\"",
    );
    edit(
        "policies/blast-radius.yaml",
        "description: SEV1/2 - validate the blast radius within 20 minutes, or get more hands.",
        "description: \"<script>alert('policy')</script>\"",
    );
    edit(
        "escalation.yaml",
        "name: Platform escalation",
        "name: \"<script>alert('escalation')</script>\"",
    );
    edit(
        "policies/tests/blast-radius.test.yaml",
        "- { at: 20m, page: { schedule: platform-secondary } }",
        "- { at: 21m, page: { schedule: platform-secondary } }",
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn escaped(body: &str, what: &str) {
    assert!(!body.contains("<script>alert"), "raw script in: {body}");
    assert!(
        body.contains(&format!("&#60;script&#62;alert(&#39;{what}&#39;)"))
            || body.contains(&format!("&lt;script&gt;alert(&#39;{what}&#39;)")),
        "{what} shown escaped: {body}"
    );
}

/// Two SEV1s and a SEV2: blast radius validated after 10 minutes on one (met), after 25 on
/// the second (late: the deadline fired at 20), never on the SEV2 (missed).
async fn history(web: &Web) {
    let a = web.declare("Checkout errors", "SEV1").await;
    let b = web.declare("Checkout slow", "SEV1").await;
    web.declare("Payments flaky", "SEV2").await;
    let validate = |id| async move {
        reactions::apply(
            &web.state,
            "alice",
            id,
            Command::ReachMilestone {
                milestone: "blast_radius_validated".into(),
            },
        )
        .await
        .expect("validated");
    };
    web.clock.advance(SignedDuration::from_mins(10));
    validate(a.id).await;
    web.clock.advance(SignedDuration::from_mins(11));
    let scheduler = Scheduler::new(web.store.clone(), web.clock.clone() as Arc<dyn Clock>);
    let fired = scheduler
        .tick(&Timers::new(web.state.clone()))
        .await
        .expect("timers fire");
    assert!(fired >= 2, "the two deadlines passed: {fired}");
    web.clock.advance(SignedDuration::from_mins(4));
    validate(b.id).await;
}

async fn policies_show_source_tests_and_adherence(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = dir.path().join("config");
    changed_demo(&config_dir);
    let Some(web) = web_in(backend, config_dir).await else {
        return;
    };
    history(&web).await;
    let report = reports::policies_since(&web.state, None)
        .await
        .expect("report");
    let br = report
        .policies
        .iter()
        .find(|p| p.policy == "blast-radius-20m")
        .expect("blast-radius-20m applied");
    assert_eq!((br.counts.all.applied, br.counts.all.met), (3, 1), "{br:?}");

    let viewer = web.sign_in(&web.viewer).await;
    let page = web.get("/policies", Some(&viewer)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    // The hardest first, in the report's order, with its counts.
    let hard = &page.body[page.body.find("id=\"hard-h\"").expect("hard section")
        ..page.body.find("id=\"all-h\"").expect("all section")];
    let mut at = 0;
    for p in &report.policies {
        let found = hard[at..]
            .find(&format!("data-policy=\"{}\"", p.policy))
            .unwrap_or_else(|| panic!("{} after the one before: {hard}", p.policy));
        at += found + 1;
    }
    let row_at = hard.find("data-policy=\"blast-radius-20m\"").expect("row");
    let row = &hard[row_at..row_at + hard[row_at..].find("</tr>").expect("row end")];
    let late = br.counts.all.late;
    let missed = br.counts.all.missed;
    assert!(
        row.contains(&format!(
            "<td>3</td><td>1</td><td>{late}</td><td>{missed}</td><td>{}%</td>",
            (late + missed) * 100 / 3
        )),
        "{row}"
    );
    let margin = br.counts.all.median_margin_s.expect("a median margin");
    let words = muster_core::words::duration_secs(margin.abs());
    assert!(
        row.contains(&format!(
            "{words} {}",
            if margin < 0 { "late" } else { "to spare" }
        )),
        "{row}"
    );
    // Every configured policy, with its tests and where it is defined.
    let cfg = web.state.config();
    for id in cfg.config.policies.keys() {
        assert!(
            page.body.contains(&format!("href=\"/policies/{id}\"")),
            "{id}"
        );
    }
    assert!(
        page.body.contains("policies/blast-radius.yaml:"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("failed</strong>"),
        "the broken test counted as failed"
    );
    escaped(&page.body, "policy");
    assert!(!page.body.contains("method=\"post\" action=\"/policies"));

    let one = web.get("/policies/blast-radius-20m", Some(&viewer)).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.body);
    escaped(&one.body, "policy");
    assert!(
        one.body
            .contains("<pre class=\"md\"><code>  - id: blast-radius-20m"),
        "{}",
        one.body
    );
    assert!(
        one.body
            .contains("expect blast_radius_validated within 20m of declared"),
        "{}",
        one.body
    );
    assert!(
        one.body
            .contains("<strong>ok</strong> validated in time, nothing fires")
    );
    assert!(
        one.body
            .contains("<strong>FAILED</strong> missed deadline pages the secondary rotation"),
        "{}",
        one.body
    );
    assert!(one.body.contains("fired, not expected:"), "{}", one.body);
    assert!(
        one.body
            .contains("<code>policies/tests/blast-radius.test.yaml:2</code>"),
        "the test's place in the config directory: {}",
        one.body
    );
    assert!(
        one.body
            .contains("<th scope=\"row\">SEV2</th><td>1</td><td>0</td><td>0</td><td>1</td><td>100%</td><td>–</td>"),
        "{}",
        one.body
    );
    // A window that leaves out every incident: nothing applied.
    let later = web.get("/policies?since=2999-01-01", Some(&viewer)).await;
    assert_eq!(later.status, StatusCode::OK);
    assert!(later.body.contains("No deadline has applied yet."));
    let bad = web.get("/policies?since=yesterday", Some(&viewer)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        bad.body.contains("invalid since `yesterday`"),
        "{}",
        bad.body
    );
    let missing = web.get("/policies/no-such-policy", Some(&viewer)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("There is no policy no-such-policy."));
    // Signed out: to the sign-in page, then back.
    let out = web.get("/policies/blast-radius-20m", None).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), "/login?next=%2Fpolicies%2Fblast-radius-20m");

    // The catalog pages.
    let services = web.get("/services", Some(&viewer)).await;
    assert_eq!(services.status, StatusCode::OK);
    escaped(&services.body, "service");
    let postgres = row_of(&services.body, "data-service=\"postgres\"");
    for d in ["payments-api", "checkout"] {
        assert!(
            postgres.contains(&format!("href=\"#service-{d}\"")),
            "{d} depends on postgres: {postgres}"
        );
    }
    let web_frontend = row_of(&services.body, "data-service=\"web-frontend\"");
    assert!(web_frontend.contains("<td>platform</td>"), "{web_frontend}");
    assert!(web_frontend.contains("href=\"/escalation#esc-platform-escalation\""));
    assert!(web_frontend.contains("olivia, quinn"), "{web_frontend}");

    let people = web.get("/people", Some(&viewer)).await;
    assert_eq!(people.status, StatusCode::OK);
    escaped(&people.body, "alice");
    let now = web.clock.now();
    let overrides = muster_server::oncall::runtime_overrides(&web.store)
        .await
        .expect("overrides");
    let on_call = muster_server::oncall::on_call(&cfg.config, &overrides, "payments-primary", now);
    let who = on_call.first().expect("someone on call for payments");
    let row = row_of(&people.body, &format!("data-person=\"{who}\""));
    let name = &cfg.config.schedules["payments-primary"].name;
    assert!(
        row.contains(name.as_str()),
        "{who} on call for {name}: {row}"
    );
    let zone = &cfg.config.people[who.as_str()].time_zone;
    assert!(row.contains(&format!("<td>{zone}</td>")), "{row}");

    let esc = web.get("/escalation", Some(&viewer)).await;
    assert_eq!(esc.status, StatusCode::OK);
    escaped(&esc.body, "escalation");
    assert!(
        esc.body
            .contains("<p>The steps are repeated 2 times after the first pass."),
        "{}",
        esc.body
    );
    for e in cfg.config.escalation_policies.values() {
        assert!(
            esc.body.contains(&format!("data-escalation=\"{}\"", e.id)),
            "{}",
            e.id
        );
    }
    assert!(
        esc.body
            .contains("<strong>at once</strong>: whoever is on call for schedule"),
        "{}",
        esc.body
    );
}

fn row_of<'a>(body: &'a str, marker: &str) -> &'a str {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"));
    &body[at..at + body[at..].find("</tr>").expect("row end")]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_catalog_sqlite() {
    policies_show_source_tests_and_adherence(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_catalog_postgres() {
    policies_show_source_tests_and_adherence(Backend::Postgres).await;
}
