//! The rotation lint. Each `tests/fixtures/lint/<case>/` is a valid config showing one
//! anti-pattern (named like the lint it trips) next to a near miss that must not warn; its
//! `expected.txt` holds exactly the lines `muster check` prints for it.
//! `UPDATE_SNAPSHOTS=1 cargo test -p muster-config` rewrites them (review the diff!).

use std::fs;
use std::path::{Path, PathBuf};

use muster_config::{Diagnostic, Level, Lint};

/// A fixed "now" for the coverage lints, so the snapshots never depend on the date.
fn now() -> jiff::Timestamp {
    "2026-03-01T00:00:00Z"
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new("tests/fixtures/lint");
    let mut cases: Vec<PathBuf> = fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| root.join(e.file_name()))
                .collect()
        })
        .unwrap_or_default();
    cases.sort();
    cases
}

fn diagnostics(dir: &Path) -> Vec<Diagnostic> {
    let report = muster_config::check_with_env_at(dir, |_| None, now());
    assert!(
        report.config.is_some(),
        "{}: a lint fixture must be a valid config:\n{}",
        dir.display(),
        report
            .diagnostics
            .iter()
            .map(|d| format!("{d}\n"))
            .collect::<String>()
    );
    report.diagnostics
}

#[test]
fn lint_fixtures_match_expected_findings() {
    let cases = cases();
    let names: Vec<String> = cases
        .iter()
        .filter_map(|c| c.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let ids: Vec<String> = Lint::ALL.iter().map(|l| l.id().to_string()).collect();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort();
    assert_eq!(names, sorted_ids, "one fixture per lint, named by its id");
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for dir in cases {
        let diags = diagnostics(&dir);
        let case = dir.file_name().map(|n| n.to_string_lossy().into_owned());
        assert!(
            diags
                .iter()
                .any(|d| d.lint.map(|l| l.id().to_string()) == case),
            "{}: no [{}] finding",
            dir.display(),
            case.unwrap_or_default()
        );
        let actual: String = diags.iter().map(|d| format!("{d}\n")).collect();
        let expected_path = dir.join("expected.txt");
        if update {
            fs::write(&expected_path, &actual).unwrap_or_else(|e| panic!("{e}"));
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            failures.push(format!(
                "--- {}\n--- expected:\n{expected}--- actual:\n{actual}",
                dir.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "snapshot mismatch (UPDATE_SNAPSHOTS=1 to rewrite):\n{}",
        failures.join("\n")
    );
}

#[test]
fn circular_secondaries_are_reported_on_each_side_and_one_way_is_not() {
    let diags = diagnostics(Path::new("tests/fixtures/lint/circular-secondary"));
    let found: Vec<(usize, usize, Option<Lint>)> =
        diags.iter().map(|d| (d.line, d.col, d.lint)).collect();
    assert_eq!(
        found,
        [
            (8, 20, Some(Lint::CircularSecondary)),
            (15, 20, Some(Lint::CircularSecondary))
        ]
    );
    assert_eq!(
        diags[0].message,
        "escalation policy `alpha-escalation` falls back to schedule `beta-primary`, team \
         `beta`'s primary, while `beta-escalation` falls back to `alpha-primary`, team `alpha`'s \
         primary: the secondaries form a circle, so when one outage pages both teams each \
         back-up is the other team's busy primary and neither has a second line"
    );
}

#[test]
fn lint_returns_only_lint_findings_and_errors_of_a_broken_config() {
    let dir = Path::new("tests/fixtures/lint/expert-bottleneck");
    let findings = muster_config::lint(dir).unwrap_or_else(|e| panic!("{e:?}"));
    let lints: Vec<Lint> = findings.iter().filter_map(|d| d.lint).collect();
    assert_eq!(
        lints,
        [
            Lint::ExpertBottleneck,
            Lint::SingleExpert,
            Lint::SingleExpert,
            Lint::SingleExpert,
            Lint::SingleExpert,
            Lint::SingleExpert
        ]
    );
    assert!(findings.iter().all(|d| d.level == Level::Warning));
    let broken = Path::new("tests/fixtures/broken/dangling-refs");
    let errors = muster_config::lint(broken).expect_err("a broken config is not linted");
    assert!(!errors.is_empty());
    assert!(errors.iter().all(|d| d.level == Level::Error));
}

#[test]
fn a_finding_names_its_lint_in_text_and_json() {
    let d = Diagnostic {
        path: PathBuf::from("demo/services.yaml"),
        line: 3,
        col: 15,
        level: Level::Warning,
        message: "service `x` has one expert".into(),
        lint: Some(Lint::SingleExpert),
    };
    assert_eq!(
        d.to_string(),
        "demo/services.yaml:3:15: warning: service `x` has one expert [single-expert]"
    );
    assert_eq!(
        serde_json::to_value(&d).unwrap_or_default(),
        serde_json::json!({"path": "demo/services.yaml", "line": 3, "col": 15,
            "level": "warning", "message": "service `x` has one expert", "lint": "single-expert"})
    );
    let plain = Diagnostic { lint: None, ..d };
    let json = serde_json::to_value(&plain).unwrap_or_default();
    assert_eq!(json.get("lint"), None, "no `lint` key on other diagnostics");
}

#[test]
fn a_stretch_cut_by_the_window_is_reported_as_at_least_that_long() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let yaml = "\
people:
  - { id: solo, name: Solo, time_zone: Europe/London }
schedules:
  - id: forever
    time_zone: Europe/London
    layers:
      - { name: only, members: [solo], shift: 1d, handoff: \"08:00\", start: 2026-01-05 }
escalation_policies:
  - id: ep
    repeat: 1
    steps:
      - targets: [ { schedule: forever } ]
        delay: 10m
";
    fs::write(dir.path().join("c.yaml"), yaml).unwrap_or_else(|e| panic!("{e}"));
    let findings = muster_config::lint(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    // 12 weeks of absolute time: the window ends at 09:00 once London is on summer time
    let messages: Vec<&str> = findings.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "layer `only` of schedule `forever` keeps one person on call for 84 d 0 h or more at a \
          stretch (`solo` from 2026-01-05 08:00 to 2026-03-30 09:00 Europe/London): past 12 hours \
          a responder is paged through their night and answers tired; hand over at least twice a \
          day (follow the sun, or split day and night)"
        ]
    );
}
