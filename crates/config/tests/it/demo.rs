use std::collections::BTreeSet;
use std::path::PathBuf;

use muster_config::{Action, IntegrationType, PageTarget, Severity, Trigger};

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

#[test]
fn demo_checks_clean() {
    let report = muster_config::check(&demo_dir());
    let lines: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
    assert!(lines.is_empty(), "diagnostics:\n{}", lines.join("\n"));
    let Some(config) = report.config else {
        panic!("no config despite no diagnostics");
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    );
}
