//! Data-driven snapshot tests: each `tests/fixtures/broken/<case>/` is a small broken config
//! directory, and its `expected.txt` holds exactly the lines `muster check` prints for it.
//! `UPDATE_SNAPSHOTS=1 cargo test -p muster-config` rewrites the files (review the diff!).

use std::fs;
use std::path::{Path, PathBuf};

/// The environment the fixtures see: `MUSTER_TEST_KEY` is set, nothing else is.
fn fixture_env(name: &str) -> Option<String> {
    (name == "MUSTER_TEST_KEY").then(|| "from-the-environment".to_string())
}

/// Paths as `muster check tests/fixtures/broken/<case>` prints them when run from the crate dir
/// (which is where `cargo test` runs).
fn cases() -> Vec<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(
        std::env::current_dir().ok().as_deref(),
        Some(manifest),
        "tests must run from the crate directory"
    );
    let root = Path::new("tests/fixtures/broken");
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

fn render(dir: &Path) -> String {
    let report = muster_config::check_with_env(dir, fixture_env);
    assert!(
        report.config.is_none(),
        "{}: a broken fixture produced a config",
        dir.display()
    );
    report
        .diagnostics
        .iter()
        .map(|d| format!("{d}\n"))
        .collect()
}

#[test]
fn broken_fixtures_match_expected_diagnostics() {
    let cases = cases();
    assert!(
        cases.len() >= 10,
        "expected at least 10 cases, found {}",
        cases.len()
    );
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for dir in cases {
        let actual = render(&dir);
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
