//! `muster policy test` and `muster replay`, run as a user would.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn muster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("run muster")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn policy_test_passes_on_the_demo() {
    let out = muster(&["policy", "test", "examples/demo"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(
        "ok      examples/demo/policies/tests/blast-radius.test.yaml:2: missed deadline pages the secondary rotation"
    ));
    assert!(!text.contains("FAILED"), "{text}");
    assert!(text.contains("0 failed"), "{text}");
}

#[test]
fn policy_test_fails_with_a_diff_when_the_policy_changes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &dir);
    let policy = dir.join("policies/blast-radius.yaml");
    let text = std::fs::read_to_string(&policy).expect("read policy");
    assert!(text.contains("within: 20m"));
    std::fs::write(&policy, text.replace("within: 20m", "within: 25m")).expect("write");

    let out = muster(&["policy", "test", dir.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAILED  ")
            && text
                .contains("blast-radius.test.yaml:2: missed deadline pages the secondary rotation"),
        "{text}"
    );
    // the diff names the action on both sides
    assert!(
        text.contains("-    20m  page {schedule: platform-secondary}"),
        "{text}"
    );
    assert!(
        text.contains("+    25m  page {schedule: platform-secondary}  [blast-radius-20m]"),
        "{text}"
    );
    assert!(
        text.contains(
            "outcome: blast-radius-20m: expected met with 1m to spare, got met with 6m to spare"
        ),
        "{text}"
    );
    assert!(text.contains(" passed, 3 failed"), "{text}");
}

#[test]
fn policy_test_reports_bad_test_files_with_locations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &dir);
    std::fs::write(
        dir.join("policies/tests/broken.test.yaml"),
        "- name: typo\n  events:\n    - { at: 0m, declared: { severity: SEV9, service: checkout } }\n    - { at: 5, milestone: blast_radius_validatd }\n  expect:\n    - { at: 1m, page: { rotation: x } }\n",
    )
    .expect("write");
    let out = muster(&["policy", "test", dir.to_str().expect("utf-8 path")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for want in [
        "broken.test.yaml:3:",
        "unknown severity",
        "broken.test.yaml:4:",
        "duration needs a unit",
        "unknown milestone `blast_radius_validatd`",
        "broken.test.yaml:6:",
        "unknown field `rotation` for page",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
}

#[test]
fn replay_prints_what_would_fire_and_the_differences() {
    let out = muster(&[
        "replay",
        "examples/demo",
        "--incidents",
        "crates/muster/tests/fixtures/replay-incidents.jsonl",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    // INC-1: the recorded run paged 20s late (within tolerance) but never notified comms
    assert!(text.contains(
        "+ would fire, did not:     +20m  2026-03-02 03:32:00 UTC  notify {alias: comms-leads, template: sev-escalated}  [blast-radius-20m]"
    ), "{text}");
    assert!(
        text.contains("- fired, would not:        +29m  2026-03-02 03:41:00 UTC  create_task {title: gone}  [old-policy]"),
        "{text}"
    );
    assert!(
        text.contains(
            "why: 20 min since declared at 03:12 UTC; blast radius validated not reached"
        )
    );
    assert!(text.contains("blast-radius-20m missed at 2026-03-02 03:32:00 UTC (never reached)"));
    // INC-3 matches exactly and met its deadline with a minute to spare
    assert!(
        text.contains("blast-radius-20m met at 2026-03-04 08:19:00 UTC with 1m to spare (by bob)")
    );
    assert_eq!(text.matches("differences: none").count(), 2, "{text}");
    assert!(text.contains("per policy, over 3 incidents:"));
    assert!(text.contains("1/1 (50% met)"), "{text}");
}

#[test]
fn replay_json_output() {
    let out = muster(&[
        "replay",
        "examples/demo",
        "--incidents",
        "crates/muster/tests/fixtures/replay-incidents.jsonl",
        "--json",
    ]);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["incident"], "INC-1");
    assert_eq!(
        lines[0]["only_simulated"][0]["action"]["notify"]["alias"],
        "comms-leads"
    );
    assert_eq!(lines[0]["only_recorded"][0]["policy"], "old-policy");
    assert_eq!(lines[2]["outcomes"][0]["margin_secs"], 60);
    let summary = &lines[3]["summary"];
    assert_eq!(summary["incidents"], 3);
    assert_eq!(summary["policies"]["blast-radius-20m"]["deadlines_met"], 1);
    assert_eq!(
        summary["policies"]["blast-radius-20m"]["deadlines_missed"],
        1
    );
}

#[test]
fn replay_rejects_a_bad_line_with_its_number() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"incident\":\"A\",\"events\":[]}\n{\"incident\":\"B\",\"events\":[{\"at\":\"x\"}]}\n",
    )
    .expect("write");
    let out = muster(&[
        "replay",
        "examples/demo",
        "--incidents",
        file.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2:"), "{err}");
}
