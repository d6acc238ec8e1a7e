//! `muster staffing lint DIR [--json] [--deny]`: the rotation lint's findings only, exit 0 unless
//! `--deny` (or the config has errors).

use std::path::{Path, PathBuf};

use crate::cli::{run, stdout};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/tests/fixtures/lint")
        .join(case)
}

const SINGLE_EXPERT: &str = "service `billing` has one expert, `ann`: when they are asleep, on \
    leave or gone nobody who knows it can be called in (a bus factor of one); name a second \
    expert and let them shadow its incidents";

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn staffing_lint_prints_each_finding_with_its_location_and_lint() {
    let dir = fixture("single-expert");
    let d = dir.to_str().unwrap_or_default();
    let out = run(&["staffing", "lint", d], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let line = format!("{d}/services.yaml:3:86: warning: {SINGLE_EXPERT} [single-expert]\n");
    assert_eq!(stdout(&out), line);
    assert_eq!(stderr(&out), format!("{d}: 1 rotation finding\n"));
    // `muster check` prints the same line among its warnings and still passes
    let out = run(&["check", d], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), line);
}

#[test]
fn staffing_lint_json_is_a_list_of_findings() {
    let dir = fixture("single-expert");
    let d = dir.to_str().unwrap_or_default();
    let out = run(&["staffing", "lint", d, "--json"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&out)));
    assert_eq!(
        json,
        serde_json::json!([{
            "path": format!("{d}/services.yaml"),
            "line": 3,
            "col": 86,
            "lint": "single-expert",
            "message": SINGLE_EXPERT,
        }])
    );
}

#[test]
fn staffing_lint_deny_fails_on_findings_only_and_errors_always_fail() {
    let dir = fixture("single-expert");
    let out = run(
        &[
            "staffing",
            "lint",
            dir.to_str().unwrap_or_default(),
            "--deny",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));

    let clean = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let c = clean.path().to_str().unwrap_or_default();
    std::fs::write(
        clean.path().join("people.yaml"),
        "people:\n  - { id: ann, name: Ann, time_zone: Europe/London }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&["staffing", "lint", c, "--deny"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
    assert_eq!(stderr(&out), format!("{c}: no rotation findings\n"));

    std::fs::write(
        clean.path().join("services.yaml"),
        "services:\n  - { id: x, experts: [nobody] }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = run(&["staffing", "lint", c], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "");
    assert_eq!(
        stderr(&out),
        format!(
            "{c}/services.yaml:2:24: error: unknown person `nobody` (not defined in any people \
             section)\n{c}: 1 error\n"
        )
    );
}

/// Output cut short by its reader (`… | head -1`) ends the command quietly, not with a panic
/// on the closed pipe.
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let dir = fixture("single-expert");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["staffing", "lint"])
        .arg(&dir)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("muster runs");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        out.status.signal(),
        Some(13),
        "ended by SIGPIPE: {:?}",
        out.status
    );
}
