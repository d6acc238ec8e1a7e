//! `muster drill list|run|test` on the demo, as a facilitator runs them: the three demo
//! scenarios' reports are snapshot-tested (`MUSTER_BLESS=1` rewrites them), runs are
//! deterministic, and a changed policy fails the profile's expectations.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use muster_testkit::copy_dir;

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

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compares with the checked-in snapshot (or writes it under `MUSTER_BLESS=1`).
fn snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/drills")
        .join(name);
    if std::env::var_os("MUSTER_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with MUSTER_BLESS=1", path.display()));
    assert_eq!(actual, expected, "snapshot {name} differs");
}

const DEMO_RUNS: [(&str, &str); 3] = [
    ("sev1-3am-blast-radius", "slow-blast-radius"),
    ("pr-four-hours-late", "pr-late"),
    ("exec-vip-call", "exec-off-guard"),
];

#[test]
fn drill_list_shows_the_demo_scenarios_with_their_profiles() {
    let out = muster(&["drill", "list", "examples/demo"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for (scenario, profile) in DEMO_RUNS {
        let line = text
            .lines()
            .find(|l| l.starts_with(scenario))
            .unwrap_or_else(|| panic!("{scenario} missing:\n{text}"));
        assert!(line.contains(profile), "{line}");
    }
}

#[test]
fn drill_test_passes_on_the_demo() {
    let out = muster(&["drill", "test", "examples/demo"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    for (scenario, profile) in DEMO_RUNS {
        assert!(
            text.contains(&format!("ok      {profile} ({scenario})")),
            "{text}"
        );
    }
    assert!(text.contains("3 passed, 0 failed"), "{text}");
}

#[test]
fn each_demo_report_is_deterministic_and_matches_its_snapshot() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (scenario, profile) in DEMO_RUNS {
        let svg = tmp.path().join(format!("{scenario}.svg"));
        let svg_arg = svg.to_str().expect("utf-8");
        let args = [
            "drill",
            "run",
            "examples/demo",
            scenario,
            "--headless",
            "--profile",
            profile,
        ];
        let md = muster(&[&args[..], &["--svg", svg_arg]].concat());
        assert!(md.status.success(), "{}", stderr(&md));
        let again = muster(&args);
        assert_eq!(stdout(&md), stdout(&again), "{scenario}: two runs differ");
        snapshot(&format!("{scenario}.md"), &stdout(&md));
        let json = muster(&[&args[..], &["--json"]].concat());
        assert!(json.status.success(), "{}", stderr(&json));
        snapshot(&format!("{scenario}.json"), &stdout(&json));
        let chart = std::fs::read_to_string(&svg).expect("chart written");
        snapshot(&format!("{scenario}.svg"), &chart);
    }
}

#[test]
fn the_pr_drill_shows_pr_brought_in_four_hours_late() {
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "pr-four-hours-late",
        "--profile",
        "pr-late",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["exercise"], true);
    let target = report["score"]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|t| t["subject"] == "comms_lead")
        .expect("the comms lead target");
    assert_eq!(target["verdict"], "late");
    assert_eq!(target["at_s"], 4 * 3600);
    assert_eq!(target["margin_s"], -(3 * 3600 + 30 * 60));
}

#[test]
fn a_changed_policy_fails_the_profile_expectations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &dir);
    let policy = dir.join("policies/blast-radius.yaml");
    let text = std::fs::read_to_string(&policy).expect("read policy");
    std::fs::write(&policy, text.replace("within: 20m", "within: 30m")).expect("write");
    let dir = dir.to_str().expect("utf-8");
    let out = muster(&[
        "drill",
        "run",
        dir,
        "sev1-3am-blast-radius",
        "--profile",
        "slow-blast-radius",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("expected: policy blast-radius-20m: expected late, got met"),
        "{}",
        stderr(&out)
    );
    let out = muster(&["drill", "test", dir]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("FAILED  slow-blast-radius (sev1-3am-blast-radius)"));
}

#[test]
fn a_profile_file_outside_the_config_is_checked_with_its_location() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("what-if.yaml");
    std::fs::write(
        &file,
        "id: what-if\nsteps:\n  - { at: 3m, by: incident_commander, milestone: fixed_it }\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8");
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "sev1-3am-blast-radius",
        "--profile",
        path,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("what-if.yaml:3:50: error: unknown milestone `fixed_it`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        &file,
        "id: what-if\nsteps:\n  - { at: 3m, by: incident_commander, do: acknowledge }\n  - { at: 19m, by: ops_lead, milestone: blast_radius_validated }\n",
    )
    .expect("write");
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "sev1-3am-blast-radius",
        "--profile",
        path,
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let row = report["score"]["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["policy"] == "blast-radius-20m")
        .expect("row");
    assert_eq!(
        (row["verdict"].as_str(), row["margin_s"].as_i64()),
        (Some("met"), Some(60))
    );
}

#[test]
fn participants_must_play_a_role_of_the_drill_and_exist() {
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "pr-four-hours-late",
        "--participant",
        "comms_lead=nobody",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown person `nobody`"),
        "{}",
        stderr(&out)
    );
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "pr-four-hours-late",
        "--participant",
        "scribe=carol",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("nobody plays `scribe`"),
        "{}",
        stderr(&out)
    );
    let out = muster(&[
        "drill",
        "run",
        "examples/demo",
        "pr-four-hours-late",
        "--participant",
        "comms_lead=carol",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let comms = report["roles"]
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["role"] == "comms_lead")
        .expect("comms lead");
    assert_eq!(comms["player"], "carol");
}

/// `muster drill …` against a running `muster serve`, on the real clock.
fn live(server: &crate::procs::Server, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_muster"))
        .arg("drill")
        .args(args)
        .env("MUSTER_SERVER", &server.url)
        .env("MUSTER_TOKEN", token)
        .current_dir(repo())
        .output()
        .expect("run muster")
}

#[test]
fn an_accelerated_live_drill_runs_its_length_divided_by_its_speed() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/muster.db", tmp.path().display());
    let token = crate::procs::token(&db, "facilitator", "responder");
    let server = crate::procs::Server::start(&repo().join("examples/demo"), &db, &[]);
    // Two hours at ×600: twelve seconds.
    let out = live(
        &server,
        &token,
        &[
            "start",
            "sev1-3am-blast-radius",
            "--speed",
            "600",
            "--participant",
            "incident_commander=dave",
            "--participant",
            "ops_lead=erin",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let started = std::time::Instant::now();
    assert!(
        stdout(&out).contains("INC-1") && stdout(&out).contains("running"),
        "{}",
        stdout(&out)
    );
    let deadline = started + std::time::Duration::from_secs(60);
    let status = loop {
        let out = live(&server, &token, &["status", "INC-1", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        if v["state"] == "ended" {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the drill never ended: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let took = started.elapsed().as_secs_f64();
    assert!(
        (11.0..30.0).contains(&took),
        "two hours at ×600 took {took} s"
    );
    assert_eq!(status["elapsed_s"], 7200, "{status}");
    assert_eq!(status["incident"]["status"], "resolved");

    let report = live(&server, &token, &["report", "INC-1"]);
    assert!(report.status.success(), "{}", stderr(&report));
    let md = stdout(&report);
    assert!(md.starts_with("# Drill report: SEV1 at 3 a.m."), "{md}");
    assert!(
        md.contains("| blast-radius-20m | deadline | ❌ missed | T+20 min |"),
        "{md}"
    );
    let report = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["report", "policies"])
        .env("MUSTER_SERVER", &server.url)
        .env("MUSTER_TOKEN", &token)
        .output()
        .expect("run muster");
    let text = stdout(&report);
    assert!(report.status.success(), "{}", stderr(&report));
    assert!(text.starts_with("0 real incidents, 1 drills"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with("blast-radius-20m"))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..4], ["1/0/0/1", "0/0/0/0", "1/0/0/1"], "{row}");
    let again = live(&server, &token, &["pause", "INC-1"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("has ended (409"),
        "{}",
        stderr(&again)
    );
}
