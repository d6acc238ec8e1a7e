//! The public API around the snapshots: load vs check, warnings, env, templates, file layout.

use std::fs;
use std::path::{Path, PathBuf};

use muster_config::{Diagnostic, Level, check, check_with_env, load};
use proptest::prelude::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("{e}"));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("{e}"));
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

const MINIMAL: &str = "\
people:
  - { id: alice, name: Alice, time_zone: Europe/London }
escalation_policies:
  - { id: ep, repeat: 1, steps: [ { targets: [ { person: alice } ], delay: 5m } ] }
services:
  - { id: checkout, escalation_policy: ep }
";

#[test]
fn diagnostic_display_is_compiler_style() {
    let d = Diagnostic {
        path: PathBuf::from("examples/demo/services.yaml"),
        line: 12,
        col: 7,
        level: Level::Error,
        message: "unknown team `x`".into(),
        lint: None,
    };
    assert_eq!(
        d.to_string(),
        "examples/demo/services.yaml:12:7: error: unknown team `x`"
    );
    let w = Diagnostic {
        line: 0,
        col: 0,
        level: Level::Warning,
        ..d
    };
    assert_eq!(
        w.to_string(),
        "examples/demo/services.yaml: warning: unknown team `x`"
    );
}

#[test]
fn warnings_do_not_stop_loading_and_are_kept() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", MINIMAL);
    write(dir.path(), "b.yaml", "services:\n  - { id: orphan }\n");
    let config = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        config.services.len(),
        2,
        "sections concatenate across files"
    );
    assert_eq!(config.warnings.len(), 1);
    let w = &config.warnings[0];
    assert_eq!(w.level, Level::Warning);
    assert_eq!(w.path, dir.path().join("b.yaml"));
    assert_eq!((w.line, w.col), (2, 11));
    assert!(w.message.contains("no escalation_policy"), "{}", w.message);
}

#[test]
fn load_returns_only_errors_and_check_returns_both_sorted() {
    let dir = tempdir();
    write(
        dir.path(),
        "b.yaml",
        "services:\n  - { id: orphan, owner_team: nope }\n",
    );
    write(
        dir.path(),
        "a.yaml",
        "teams:\n  - { id: t, members: [ghost] }\n",
    );
    let report = check(dir.path());
    assert!(report.config.is_none());
    let levels: Vec<(String, Level)> = report
        .diagnostics
        .iter()
        .map(|d| {
            (
                d.path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                d.level,
            )
        })
        .collect();
    assert_eq!(
        levels,
        vec![
            ("a.yaml".to_string(), Level::Error),
            // sorted by position: the warning points at the id, before `owner_team`
            ("b.yaml".to_string(), Level::Warning),
            ("b.yaml".to_string(), Level::Error),
        ]
    );
    let errors = load(dir.path()).err().unwrap_or_default();
    assert_eq!(errors.len(), 2);
    assert!(errors.iter().all(|d| d.level == Level::Error));
}

#[test]
fn env_references_resolve_from_the_given_environment() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", MINIMAL);
    write(
        dir.path(),
        "integrations.yaml",
        "integrations:\n  - { id: am, type: alertmanager, key: \"${env:AM_KEY}\", service: checkout }\n",
    );
    let report = check_with_env(dir.path(), |name| {
        (name == "AM_KEY").then(|| "s3cret".into())
    });
    let config = report
        .config
        .unwrap_or_else(|| panic!("{:?}", report.diagnostics));
    assert_eq!(
        config.integration_by_key("s3cret").map(|i| i.id.as_str()),
        Some("am")
    );
    assert!(config.integration_by_key("${env:AM_KEY}").is_none());

    let report = check_with_env(dir.path(), |_| None);
    let lines: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lines,
        vec![format!(
            "{}:2:40: error: environment variable `AM_KEY` is not set (needed for this integration key)",
            dir.path().join("integrations.yaml").display()
        )]
    );
}

#[test]
fn templates_tests_and_hidden_files() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", MINIMAL);
    write(
        dir.path(),
        "templates/sev-escalated.md.j2",
        "{{ incident.title }} escalated\n",
    );
    write(dir.path(), "templates/plain.txt", "hello\n");
    // yaml under templates/ is still config
    write(
        dir.path(),
        "templates/more.yaml",
        "teams:\n  - { id: t, members: [alice] }\n",
    );
    // policy tests and hidden directories are not config
    write(
        dir.path(),
        "policies/tests/x.test.yaml",
        "- not: [valid config\n",
    );
    write(dir.path(), ".git/config.yaml", "nonsense: true\n");
    write(dir.path(), "README.md", "# not config\n");
    let config = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        config.templates.keys().collect::<Vec<_>>(),
        vec!["plain", "sev-escalated"]
    );
    let t = &config.templates["sev-escalated"];
    assert_eq!(t.path, PathBuf::from("templates/sev-escalated.md.j2"));
    assert_eq!(t.text, "{{ incident.title }} escalated\n");
    assert!(config.teams.contains_key("t"));
}

#[test]
fn duplicate_template_names_are_errors() {
    let dir = tempdir();
    write(dir.path(), "a.yaml", MINIMAL);
    write(dir.path(), "templates/x.md", "a");
    write(dir.path(), "templates/x.txt", "b");
    let errors = load(dir.path()).err().unwrap_or_default();
    let lines: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        lines,
        vec![format!(
            "{}: error: duplicate template `x` (also defined by templates/x.md)",
            dir.path().join("templates/x.txt").display()
        )]
    );
}

#[test]
fn missing_or_empty_directories() {
    let dir = tempdir();
    let missing = dir.path().join("nope");
    let errors = load(&missing).err().unwrap_or_default();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0]
            .message
            .starts_with("cannot read config directory")
    );

    let report = check(dir.path());
    assert!(
        report.config.is_some(),
        "an empty directory is a valid (empty) config"
    );
    assert_eq!(report.diagnostics.len(), 1);
    assert_eq!(report.diagnostics[0].level, Level::Warning);
}

#[test]
fn builtin_vocabularies_are_extended_not_replaced() {
    let dir = tempdir();
    write(
        dir.path(),
        "v.yaml",
        "roles: [ { id: liaison } ]\nmilestones: [ { id: legal_reviewed }, { id: declared, description: Declared } ]\n\
         severities: [ { id: SEV2, description: Bad } ]\n",
    );
    let c = load(dir.path()).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(c.roles.contains("liaison") && c.roles.contains("incident_commander"));
    assert!(c.milestones.contains("legal_reviewed") && c.milestones.contains("declared"));
    assert_eq!(c.severities[&muster_config::Severity::Sev2], "Bad");
    assert_eq!(c.severities.len(), 4);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Any bytes in a config file give diagnostics, never a panic.
    #[test]
    fn arbitrary_files_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let dir = tempdir();
        fs::write(dir.path().join("x.yaml"), &bytes).unwrap_or_else(|e| panic!("{e}"));
        let _ = check(dir.path());
    }

    /// Truncated or spliced copies of the demo's policies never panic either.
    #[test]
    fn mangled_demo_files_never_panic(cut in 0usize..2000, insert in "[ -~\n]{0,12}") {
        let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        let dir = tempdir();
        for name in ["people.yaml", "schedules.yaml", "policies/blast-radius.yaml", "integrations.yaml"] {
            let text = fs::read_to_string(demo.join(name)).unwrap_or_default();
            let mut cut = cut.min(text.len());
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            write(dir.path(), name, &format!("{}{insert}{}", &text[..cut], &text[cut..]));
        }
        let _ = check(dir.path());
    }
}
