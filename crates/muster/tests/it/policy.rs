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

use muster_testkit::copy_dir;

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
    assert!(text.contains("why: 20 min since declared at 03:12 UTC; blast radius not validated"));
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

/// Builds a real database in which the demo policies fired: a SEV1 declared at T0, left alone
/// until T0+25m (nudge at 15m, page and notify at 20m), then resolved.
async fn database_with_history(db: &str) {
    use std::sync::Arc;

    use muster_core::{Access, Clock, SimulatedClock};
    use muster_server::AppState;
    use muster_server::scheduler::Scheduler;
    use muster_server::timers::Timers;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let t0: jiff::Timestamp = "2026-03-29T03:12:00Z".parse().unwrap();
    let clock = Arc::new(SimulatedClock::new(t0));
    let store = muster_store::Store::connect(db).await.unwrap();
    let config = muster_config::load(&repo().join("examples/demo")).unwrap();
    let token = store
        .create_token("alice", Access::Responder, t0)
        .await
        .unwrap();
    let state = AppState::new(store.clone(), clock.clone() as Arc<dyn Clock>, config, None);
    let scheduler = Scheduler::new(store.clone(), clock.clone()).with_owner("history");
    let handler = Timers::new(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(muster_server::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/v1/incidents"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"title": "Checkout down", "severity": "SEV1", "services": ["checkout"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    for minute in [15, 20, 25] {
        clock.set(t0 + jiff::SignedDuration::from_mins(minute));
        scheduler.tick(&handler).await.unwrap();
    }
    let r = http
        .patch(format!("{base}/api/v1/incidents/INC-1"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"status": "resolved"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    store.close().await;
}

fn replay_db(config: &Path, db: &str) -> Vec<serde_json::Value> {
    let out = muster(&[
        "replay",
        &config.to_string_lossy(),
        "--from-db",
        db,
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// `--from-db` replays the stored incidents: with the policies that fired, nothing differs;
/// with a changed policy, the differences are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_the_database_compares_with_what_fired() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/history.db", dir.path().display());
    database_with_history(&db).await;

    let lines = replay_db(&repo().join("examples/demo"), &db);
    let inc = &lines[0];
    assert_eq!(inc["incident"], "INC-1");
    let fired: Vec<&str> = inc["would_fire"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["policy"] == "blast-radius-20m")
        .map(|a| {
            a["action"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .as_str()
        })
        .collect();
    assert_eq!(fired, ["nudge", "page", "notify"]);
    assert_eq!(inc["only_simulated"], serde_json::json!([]), "{inc}");
    assert_eq!(inc["only_recorded"], serde_json::json!([]), "{inc}");
    assert_eq!(lines.last().unwrap()["summary"]["incidents"], 1);

    // What if the deadline had been 30 minutes? Then the 20-minute page would not have fired.
    let changed = dir.path().join("config");
    copy_dir(&repo().join("examples/demo"), &changed);
    let file = changed.join("policies/blast-radius.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("within: 20m", "within: 30m", 1)).unwrap();
    let lines = replay_db(&changed, &db);
    let only_recorded: Vec<&str> = lines[0]["only_recorded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a["action"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .as_str()
        })
        .collect();
    assert!(only_recorded.contains(&"page"), "{}", lines[0]);
}
