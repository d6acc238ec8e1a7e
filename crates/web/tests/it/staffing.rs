//! The staffing page: each SLO rotation's verdict and numbers as the core's simulation gives
//! them for the same seed and runs, the sweep's recommendation, the rotation lint with its
//! locations, the load charts, escaping, and who may run the simulation again.

use std::path::Path;
use std::sync::Arc;

use axum::http::{StatusCode, header};
use jiff::SignedDuration;
use muster_config::Config;
use muster_core::Clock;
use muster_core::staffing::{self, Report, sweep};
use muster_server::api::reports;
use muster_server::scheduler::Scheduler;
use muster_server::staffing::{DEFAULT_MAX_SIZE, DEFAULT_WEEKS, monday_of, slo_rotations};
use muster_server::timers::Timers;
use muster_testkit::copy_dir;

use crate::both;
use crate::support::{Backend, Browser, Web, demo_dir, web_in};

/// As askama escapes text.
fn esc(s: &str) -> String {
    s.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The core's report of the configuration in force, `runs` runs seeded `seed` one after the
/// other (the page spreads them over threads; the report must not differ).
fn expected(web: &Web, runs: u32, seed: u64) -> (Config, Report) {
    let config = web.state.config().config.clone();
    let start = monday_of(web.clock.now()).expect("monday");
    let model = config
        .staffing_model(start, DEFAULT_WEEKS, None)
        .expect("model");
    (config, staffing::simulate(model, runs, seed))
}

/// The sweep's choice for `rotation`, from the core's candidates, one after the other.
fn chosen(config: &Config, web: &Web, rotation: &str, runs: u32, seed: u64) -> String {
    let start = monday_of(web.clock.now()).expect("monday");
    let model = config
        .staffing_model(start, DEFAULT_WEEKS, None)
        .expect("model");
    let spec = config.sweep_spec(&model, rotation).expect("spec");
    let outcomes: Vec<sweep::Outcome> = sweep::candidates(DEFAULT_MAX_SIZE)
        .into_iter()
        .map(|c| {
            let report = staffing::simulate(sweep::model_for(&model, &spec, c), runs, seed);
            sweep::judge(c, &report, rotation)
        })
        .collect();
    sweep::choose(&outcomes)
        .expect("a candidate")
        .0
        .label
        .clone()
}

/// The part of `body` from `start` to the next `end`.
fn part<'a>(body: &'a str, start: &str, end: &str) -> &'a str {
    let at = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {body}"));
    let rest = &body[at..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

async fn run_again(web: &Web, who: &Browser, runs: &str, seed: &str) -> crate::support::Answer {
    web.post(
        "/staffing/run",
        Some(who),
        Some(&who.csrf),
        &[("runs", runs), ("seed", seed)],
    )
    .await
}

/// Every SLO and functional SLO of `report` on the page with its numbers and verdict.
fn shows_report(body: &str, config: &Config, report: &Report) {
    assert!(
        body.contains(&format!(
            "data-runs=\"{}\" data-seed=\"{}\"",
            report.runs, report.seed
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "{:.1} incidents a week",
        report.incidents_per_week.value
    )));
    for s in &report.slos {
        let rotation = part(
            body,
            &format!("data-rotation=\"{}\"", s.rotation),
            "</table>",
        );
        let name = &config.escalation_policies[&s.rotation].name;
        assert!(rotation.contains(&esc(name)), "{rotation}");
        let row = part(
            rotation,
            &format!("data-severity=\"{}\"", s.severity),
            "</tr>",
        );
        for cell in [
            pct(s.attained.value),
            format!("{}–{}", pct(s.attained.lo), pct(s.attained.hi)),
            pct(s.target),
            s.incidents.to_string(),
        ] {
            assert!(row.contains(&format!("<td>{cell}</td>")), "{cell} in {row}");
        }
        assert!(
            row.contains(&format!(">{}</span>", esc(s.verdict()))),
            "{row}"
        );
    }
    for f in &report.functional {
        let row = part(body, &format!("data-functional=\"{}\"", f.name), "</tr>");
        assert!(row.contains(&format!("<td>{}</td>", pct(f.attained.value))));
        assert!(
            row.contains(&format!(">{}</span>", esc(f.verdict()))),
            "{row}"
        );
    }
    for p in &report.people {
        let row = part(body, &format!("data-person=\"{}\"", p.id), "</tr>");
        assert!(
            row.contains(&format!("<td>{}", pct(p.on_call_share))),
            "{row}"
        );
    }
}

both!(
    staffing_page_shows_the_simulations_verdicts_and_who_may_run_it_again,
    |web| async move {
        let responder = web.sign_in(&web.responder).await;
        let viewer = web.sign_in(&web.viewer).await;

        // A viewer first: the CLI's defaults (100 runs, seed 1), computed once and kept.
        let page = web.get("/staffing", Some(&viewer)).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let (config, report) = expected(&web, 100, 1);
        shows_report(&page.body, &config, &report);
        assert!(
            page.body
                .contains("<a href=\"/staffing\" aria-current=\"page\">Staffing</a>")
        );
        assert!(!page.body.contains("action=\"/staffing/run\""), "no form");
        assert!(!page.body.contains("Run again"));

        // A viewer's forged run, and a run without the form token: refused, nothing kept.
        let a = run_again(&web, &viewer, "6", "7").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("this needs responder"), "{}", a.body);
        let a = web
            .post(
                "/staffing/run",
                Some(&responder),
                None,
                &[("runs", "6"), ("seed", "7")],
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("Nothing was changed"), "{}", a.body);
        let page = web.get("/staffing", Some(&viewer)).await;
        assert!(page.body.contains("data-runs=\"100\" data-seed=\"1\""));

        // Bad numbers are named.
        for (runs, seed, field) in [
            ("0", "1", "runs"),
            ("5000", "1", "runs"),
            ("6", "x", "seed"),
        ] {
            let a = run_again(&web, &responder, runs, seed).await;
            assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{runs} {seed}");
            assert!(a.body.contains(&format!("{field}: `")), "{}", a.body);
        }

        // A responder runs it again; everyone then reads that run, sweep included.
        let a = run_again(&web, &responder, "6", "7").await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        assert_eq!(a.location(), "/staffing");
        let page = web.get("/staffing", Some(&responder)).await;
        assert!(page.body.contains("action=\"/staffing/run\""));
        let (config, report) = expected(&web, 6, 7);
        shows_report(&page.body, &config, &report);
        let shown = web.get("/staffing", Some(&viewer)).await;
        shows_report(&shown.body, &config, &report);
        let model = config
            .staffing_model(
                monday_of(web.clock.now()).expect("monday"),
                DEFAULT_WEEKS,
                None,
            )
            .expect("model");
        for rotation in slo_rotations(&model) {
            let section = part(
                &shown.body,
                &format!("data-rotation=\"{rotation}\""),
                "</details>",
            );
            let label = chosen(&config, &web, &rotation, 6, 7);
            assert!(
                section.contains(&format!("{}.</p>", esc(&label))),
                "{label} in {section}"
            );
        }
    }
);

/// Declares a SEV1 and lets its blast-radius deadline pass, which pages `platform-secondary`.
async fn paged_incident(web: &Web) {
    web.declare("Checkout errors", "SEV1").await;
    web.clock.advance(SignedDuration::from_mins(21));
    let scheduler = Scheduler::new(web.store.clone(), web.clock.clone() as Arc<dyn Clock>);
    let fired = scheduler
        .tick(&Timers::new(web.state.clone()))
        .await
        .expect("timers fire");
    assert!(fired >= 1, "the deadline passed");
}

/// The demo with HTML in a person's and an escalation policy's name, and a second single
/// expert (`checkout`: alice alone).
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
        "escalation.yaml",
        "name: Payments escalation",
        "name: \"<script>alert('rotation')</script>\"",
    );
    edit(
        "services.yaml",
        "experts: [alice, grace]",
        "experts: [alice]",
    );
}

async fn lint_load_and_escaping(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config_dir = dir.path().join("config");
    changed_demo(&config_dir);
    let Some(web) = web_in(backend, config_dir.clone()).await else {
        return;
    };
    paged_incident(&web).await;
    let responder = web.sign_in(&web.responder).await;
    let a = run_again(&web, &responder, "4", "3").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let page = web.get("/staffing", Some(&responder)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;

    // Escaped wherever a name is shown.
    assert!(!body.contains("<script>alert"), "raw script in: {body}");
    let rotation = part(body, "data-rotation=\"payments-escalation\"", "</h3>");
    assert!(rotation.contains("&#60;script&#62;alert(&#39;rotation&#39;)"));
    let alice = part(body, "data-person=\"alice\"", "</tr>");
    assert!(
        alice.contains("&#60;script&#62;alert(&#39;alice&#39;)"),
        "{alice}"
    );

    // The lint: every finding of the configuration with its place in the directory.
    let findings = muster_config::lint(&config_dir).expect("lints");
    let lint = part(body, "id=\"lint-h\"", "</section>");
    assert!(findings.iter().any(|d| d.message.contains("`checkout`")));
    for d in &findings {
        let file = d.path.strip_prefix(&config_dir).expect("inside");
        let place = format!("<code>{}:{}:{}</code>", file.display(), d.line, d.col);
        assert!(lint.contains(&place), "{place} in {lint}");
        assert!(lint.contains(&esc(&d.message)), "{} in {lint}", d.message);
    }

    // The load: the report's people, the paged one among them, and the two charts.
    let since = (web.clock.now() - SignedDuration::from_hours(24 * 7 * 13)).to_string();
    let load = reports::load_since(&web.state, Some(&since))
        .await
        .expect("load");
    assert_eq!(load.real_incidents, 1);
    assert!(!load.people.is_empty(), "someone was paged");
    let table = part(body, "<table class=\"load\">", "</table>");
    for p in &load.people {
        let row = part(table, &format!("data-person=\"{}\"", p.person), "</tr>");
        assert!(
            row.contains(&format!("<td>{}</td>", p.interruptions.total)),
            "{row}"
        );
    }
    assert!(body.contains("<img src=\"/staffing/load/heatmap.svg\""));
    assert!(body.contains("<img src=\"/staffing/load/people.svg\""));
    for path in ["/staffing/load/heatmap.svg", "/staffing/load/people.svg"] {
        let svg = web.get(path, Some(&responder)).await;
        assert_eq!(svg.status, StatusCode::OK, "{path}");
        assert_eq!(
            svg.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
            Some(&b"image/svg+xml"[..])
        );
        assert!(svg.body.starts_with("<svg"), "{}", svg.body);
    }
    let people = web.get("/staffing/load/people.svg", Some(&responder)).await;
    for p in &load.people {
        assert!(people.body.contains(&format!(">{}</text>", p.person)));
    }
    // Signed out: the chart is not shown.
    let a = web.get("/staffing/load/people.svg", None).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
}

mod staffing_lint_load_and_escaping {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        lint_load_and_escaping(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        lint_load_and_escaping(Backend::Postgres).await;
    }
}
