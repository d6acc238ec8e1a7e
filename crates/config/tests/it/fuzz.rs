//! Fuzz targets for what a config directory feeds the loader: YAML of every section, drill
//! scenarios and templates (see `muster_testkit::fuzz`). The loader must answer every input
//! with diagnostics, never a panic; a template must check and render to a text or an error.

use std::collections::BTreeMap;
use std::path::PathBuf;

use muster_config::Template;
use muster_testkit::fuzz;

const DEMO: &[&str] = &[
    include_str!("../../../../examples/demo/people.yaml"),
    include_str!("../../../../examples/demo/schedules.yaml"),
    include_str!("../../../../examples/demo/escalation.yaml"),
    include_str!("../../../../examples/demo/services.yaml"),
    include_str!("../../../../examples/demo/aliases.yaml"),
    include_str!("../../../../examples/demo/integrations.yaml"),
    include_str!("../../../../examples/demo/status-page.yaml"),
    include_str!("../../../../examples/demo/policies/blast-radius.yaml"),
    include_str!("../../../../examples/demo/policies/communication.yaml"),
    include_str!("../../../../examples/demo/drills/sev1-3am-blast-radius.yaml"),
];

const TEMPLATES: &[&str] = &[
    include_str!("../../../../examples/demo/templates/sev-declared.md.j2"),
    include_str!("../../../../examples/demo/templates/status-update.md.j2"),
    include_str!("../../../../examples/demo/templates/legal-briefing.md.j2"),
    include_str!("../../../../examples/demo/templates/blast-radius-reminder.md.j2"),
];

#[test]
fn fuzz_config_loader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yaml");
    let corpus: Vec<&[u8]> = DEMO.iter().map(|s| s.as_bytes()).collect();
    fuzz::run("config-loader", &corpus, |input| {
        std::fs::write(&file, input).expect("write");
        let report = muster_config::check(dir.path());
        // Whatever the input, each diagnostic names the file it came from.
        for d in &report.diagnostics {
            assert!(d.path.starts_with(dir.path()), "{d}");
        }
    });
}

#[test]
fn fuzz_templates() {
    let corpus: Vec<&[u8]> = TEMPLATES.iter().map(|s| s.as_bytes()).collect();
    let context = serde_json::json!({
        "incident": { "id": "INC-1", "title": "Checkout down", "severity": "SEV1",
                      "status": "investigating", "services": ["checkout"], "elapsed": "12 min" },
        "roles": { "incident_commander": "alice" },
        "policy": { "id": "p", "description": "d", "reason": "r", "deadline_in": "5 min" },
        "deadlines": [], "links": [], "now": "2026-12-03T10:00:00Z",
    });
    fuzz::run("templates", &corpus, |input| {
        let template = Template {
            name: "t".into(),
            path: PathBuf::from("templates/t.md.j2"),
            text: String::from_utf8_lossy(input).into_owned(),
        };
        for problem in muster_config::templates::check(&template) {
            assert!(!problem.message.is_empty());
        }
        let all = BTreeMap::from([("t".to_string(), template)]);
        if let Err(e) = muster_config::templates::render(&all, "t", &context) {
            assert!(!e.is_empty());
        }
    });
}
