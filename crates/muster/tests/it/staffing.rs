//! `muster staffing simulate|erlang` on the demo configuration (issue 18 acceptance): the same
//! seed gives byte-identical JSON, Erlang C's textbook vector, and history files' errors at
//! `FILE:LINE`.

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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn the_same_seed_gives_byte_identical_json_and_threads_change_nothing() {
    let dir = demo();
    let dir = dir.to_string_lossy();
    let args = [
        "staffing",
        "simulate",
        &dir,
        "--json",
        "--runs",
        "20",
        "--weeks",
        "4",
        "--seed",
        "7",
        "--start",
        "2026-01-05",
    ];
    let a = muster(&args);
    assert!(a.status.success(), "{}", stderr(&a));
    let b = muster(&args);
    assert_eq!(a.stdout, b.stdout, "two runs with seed 7 differ");
    // without --start: this week's Monday, the same for both runs
    let plain = [
        "staffing", "simulate", &dir, "--json", "--runs", "20", "--weeks", "4", "--seed", "7",
    ];
    assert_eq!(muster(&plain).stdout, muster(&plain).stdout);
    let one_thread = muster(&[&args[..], &["--threads", "1"]].concat());
    assert_eq!(
        a.stdout, one_thread.stdout,
        "the thread count changed the report"
    );
    let other = muster(&[
        "staffing",
        "simulate",
        &dir,
        "--json",
        "--runs",
        "20",
        "--weeks",
        "4",
        "--seed",
        "8",
        "--start",
        "2026-01-05",
    ]);
    assert_ne!(a.stdout, other.stdout, "seed 8 gave seed 7's report");
    let report: serde_json::Value =
        serde_json::from_slice(&a.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report["runs"], 20);
    assert_eq!(report["weeks"], 4);
    assert_eq!(report["start"], "2026-01-05T00:00:00Z");
    let rotations: Vec<&str> = report["slos"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["rotation"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        rotations,
        [
            "payments-escalation",
            "payments-escalation",
            "platform-escalation",
            "platform-escalation"
        ]
    );
    let functional: Vec<&str> = report["functional"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(functional, ["pr", "legal", "executive"]);
    // the legal rotation is two people weekly: each on call half the time
    let ken = report["people"]
        .as_array()
        .and_then(|a| a.iter().find(|p| p["id"] == "ken"))
        .map(|p| p["on_call_share"].clone());
    assert_eq!(ken, Some(serde_json::json!(0.5)));
}

#[test]
fn the_human_report_answers_per_rotation_and_per_person() {
    let dir = demo();
    let out = muster(&[
        "staffing",
        "simulate",
        &dir.to_string_lossy(),
        "--runs",
        "4",
        "--weeks",
        "2",
        "--start",
        "2026-01-05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for needle in [
        "Response-time SLOs: P(acknowledged within), 95% confidence interval",
        "ROTATION",
        "payments-escalation",
        "pr (functional)",
        "What it costs people",
        "on-call share: at most",
        "(cap 25.0%)",
        "(ceiling 2)",
        "pairwise balance",
        "PERSON",
    ] {
        assert!(text.contains(needle), "no `{needle}` in:\n{text}");
    }
}

#[test]
fn erlang_c_on_the_textbook_vector() {
    let out = muster(&[
        "staffing",
        "erlang",
        "--arrivals-per-hour",
        "200",
        "--handle-time",
        "180",
        "--servers",
        "14",
        "--target",
        "20",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["p_wait"], 0.1741);
    assert_eq!(v["service_level"], 0.8884);
    assert_eq!(v["asa_seconds"], 7.84);
    let human = muster(&[
        "staffing",
        "erlang",
        "--arrivals-per-hour",
        "200",
        "--handle-time",
        "3m",
        "--servers",
        "14",
        "--target",
        "20s",
    ]);
    let text = stdout(&human);
    assert!(text.contains("P(wait)        0.1741"), "{text}");
    assert!(
        text.contains("service level  0.888 answered within 20 s"),
        "{text}"
    );
    assert!(text.contains("ASA            7.84 s"), "{text}");
    let bad = muster(&[
        "staffing",
        "erlang",
        "--arrivals-per-hour",
        "0",
        "--handle-time",
        "3m",
        "--servers",
        "14",
        "--target",
        "20s",
    ]);
    assert!(!bad.status.success());
    assert_eq!(
        stderr(&bad).trim(),
        "error: --arrivals-per-hour must be greater than 0"
    );
}

#[test]
fn a_history_file_fits_arrivals_and_a_malformed_line_names_file_and_line() {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let good = tmp.path().join("history.jsonl");
    let mut lines = String::from("# past incidents\n");
    for week in 0..4 {
        lines.push_str(&format!(
            "{{\"declared_at\":\"2026-01-{:02}T10:00:00Z\",\"severity\":\"SEV2\",\"service\":\"checkout\",\"resolved_at\":\"2026-01-{:02}T11:00:00Z\"}}\n",
            5 + week * 7,
            5 + week * 7
        ));
    }
    std::fs::write(&good, &lines).unwrap_or_else(|e| panic!("{e}"));
    let dir = demo();
    let dir = dir.to_string_lossy();
    let out = muster(&[
        "staffing",
        "simulate",
        &dir,
        "--history",
        &good.to_string_lossy(),
        "--runs",
        "2",
        "--weeks",
        "2",
        "--start",
        "2026-01-05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("arrivals and hands-on time fitted from 4 past incidents over 3 weeks"),
        "{}",
        stdout(&out)
    );
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        format!("{lines}{{\"declared_at\":\"yesterday\",\"severity\":\"SEV2\"}}\n"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = muster(&[
        "staffing",
        "simulate",
        &dir,
        "--history",
        &bad.to_string_lossy(),
    ]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: {}:6: declared_at `yesterday` is not an RFC 3339 instant such as 2026-01-05T10:00:00Z",
            bad.display()
        )
    );
    let csv = tmp.path().join("history.csv");
    std::fs::write(
        &csv,
        "declared_at,severity,service\n2026-01-05T10:00:00Z,SEV2,checkout\n2026-01-06T10:00:00Z,SEV7,checkout\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = muster(&[
        "staffing",
        "simulate",
        &dir,
        "--history",
        &csv.to_string_lossy(),
    ]);
    assert_eq!(
        stderr(&out).trim(),
        format!(
            "error: {}:3: unknown severity `SEV7` (expected SEV1, SEV2, SEV3 or SEV4)",
            csv.display()
        )
    );
}

#[test]
fn a_sweep_where_no_candidate_passes_says_so_and_shows_the_best() {
    let dir = demo();
    let out = muster(&[
        "staffing",
        "simulate",
        &dir.to_string_lossy(),
        "--sweep",
        "--rotation",
        "payments-escalation",
        "--max-size",
        "2",
        "--runs",
        "2",
        "--weeks",
        "2",
        "--start",
        "2026-01-05",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Sweep of payments-escalation: candidates smallest first"),
        "{text}"
    );
    assert!(text.contains("2 × follow the sun + secondary"), "{text}");
    // two people are on call half the time at best: over the 25% cap
    assert!(
        text.contains(
            "no candidate meets every SLO and limit; the best found: 2 × follow the sun\n"
        ),
        "{text}"
    );
    let unknown = muster(&[
        "staffing",
        "simulate",
        &dir.to_string_lossy(),
        "--sweep",
        "--rotation",
        "nightly",
    ]);
    assert_eq!(
        stderr(&unknown).trim(),
        "error: no staffing SLO names rotation `nightly` (SLO rotations: payments-escalation, platform-escalation)"
    );
}

/// `--from-db` fits from the real incidents of a Muster database and leaves drills out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_db_fits_real_incidents_and_leaves_drills_out() {
    use muster_core::{Change, Severity, Status};

    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db = format!("sqlite://{}/history.db", tmp.path().display());
    let store = muster_store::Store::connect(&db)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    for (day, exercise) in [(5, false), (12, false), (13, true), (19, false)] {
        let at: jiff::Timestamp = format!("2026-01-{day:02}T10:00:00Z")
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let declared = Change::Declared {
            title: "Checkout errors".into(),
            severity: Severity::Sev2,
            status: Status::Triage,
            services: vec!["checkout".into()],
            incident_type: None,
            exercise,
        };
        store
            .declare("alice", at, vec![declared])
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    store.close().await;
    let dir = demo();
    let out = tokio::task::spawn_blocking(move || {
        muster(&[
            "staffing",
            "simulate",
            &dir.to_string_lossy(),
            "--from-db",
            &db,
            "--runs",
            "2",
            "--weeks",
            "1",
            "--start",
            "2026-01-05",
        ])
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .contains("arrivals and hands-on time fitted from 3 past incidents over 2 weeks"),
        "{}",
        stdout(&out)
    );
}
