//! `muster oncall` / `muster schedule shifts` on the demo configuration, pinned on both sides of
//! the 2026 Europe/London DST changes (issue 4 acceptance).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn demo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

fn muster(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("muster: {e}"))
}

fn oncall(schedule: &str, at: &str) -> (bool, String) {
    let dir = demo();
    let out = muster(&[
        "oncall",
        &dir.to_string_lossy(),
        "--schedule",
        schedule,
        "--at",
        at,
    ]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// payments-primary: weekly, Monday 09:00 Europe/London, [alice, bob, grace, heidi, priya, jack]
/// from 2026-01-05. 09:00 local is 09:00Z in winter and 08:00Z in summer: a tool that adds
/// 168-hour weeks in UTC hands off an hour late after 2026-03-29 and an hour early after
/// 2026-10-25.
#[test]
fn payments_primary_hands_off_at_nine_london_time_on_both_sides_of_dst() {
    let cases = [
        // winter, before the spring change: 09:00 GMT = 09:00Z
        ("2026-03-23T08:59:59Z", "priya"),
        ("2026-03-23T09:00:00Z", "jack"),
        // summer, right after 2026-03-29: 09:00 BST = 08:00Z
        ("2026-03-30T07:59:59Z", "jack"),
        ("2026-03-30T08:00:00Z", "alice"),
        ("2026-03-30T08:30:00Z", "alice"),
        // summer, before the autumn change
        ("2026-10-19T07:59:59Z", "priya"),
        ("2026-10-19T08:00:00Z", "jack"),
        // winter again, after 2026-10-25
        ("2026-10-26T08:30:00Z", "jack"),
        ("2026-10-26T09:00:00Z", "alice"),
        // local times in the schedule's zone are accepted too
        ("2026-03-30T09:00", "alice"),
        ("2026-03-30T08:59", "jack"),
    ];
    for (at, who) in cases {
        assert_eq!(
            oncall("payments-primary", at),
            (true, who.to_string()),
            "at {at}"
        );
    }
}

#[test]
fn the_demo_override_replaces_the_person_on_call() {
    // grace's week (2026-12-21..28), bob covers 24-26 December (UTC)
    assert_eq!(
        oncall("payments-primary", "2026-12-23T12:00:00Z").1,
        "grace"
    );
    assert_eq!(oncall("payments-primary", "2026-12-25T12:00:00Z").1, "bob");
    assert_eq!(
        oncall("payments-primary", "2026-12-26T00:00:00Z").1,
        "grace"
    );
}

#[test]
fn nobody_on_call_exits_1_and_unknown_schedules_are_errors() {
    // before the rotation starts
    let (ok, out) = oncall("comms-rotation", "2025-12-01T00:00:00Z");
    assert!(!ok);
    assert_eq!(out, "");
    let dir = demo();
    let out = muster(&[
        "oncall",
        &dir.to_string_lossy(),
        "--schedule",
        "nope",
        "--at",
        "2026-01-10T00:00:00Z",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown schedule `nope`"));
}

#[test]
fn schedule_shifts_prints_a_table_and_json() {
    let dir = demo();
    let dir = dir.to_string_lossy();
    let args = [
        "schedule",
        "shifts",
        &dir,
        "--schedule",
        "payments-primary",
        "--from",
        "2026-03-23T00:00:00Z",
        "--to",
        "2026-04-06T00:00:00Z",
    ];
    let out = muster(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("START (Europe/London)"), "{table}");
    assert!(
        table.contains("2026-03-23 09:00 GMT   2026-03-30 09:00 BST  167:00  jack"),
        "{table}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let out = muster(&json_args);
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("json: {e}"));
    let people: Vec<&str> = v["shifts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["person"].as_str())
        .collect();
    assert_eq!(people, vec!["priya", "jack", "alice"]);
    assert_eq!(v["shifts"][1]["start"], "2026-03-23T09:00:00Z");
    assert_eq!(v["shifts"][1]["end"], "2026-03-30T08:00:00Z");
    assert_eq!(v["shifts"][1]["source"]["kind"], "layer");
    assert_eq!(v["gaps"], serde_json::json!([]));
}
