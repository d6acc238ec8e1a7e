//! `muster report load` against a real `muster serve`: the JSON, the tables, the charts
//! written by `--svg DIR`, and a bad `--since` named in the error.

use crate::cli::{Server, run, stdout};

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn report_load_reads_the_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}/m.db", dir.path().display());
    let out = run(
        &[
            "token",
            "create",
            "--name",
            "alice",
            "--role",
            "responder",
            "--db",
            &db,
        ],
        &[],
    );
    ok(&out);
    let token = stdout(&out)
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_string();
    let server = Server::start(&db);
    let env = [
        ("MUSTER_SERVER", server.url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    let declare = [
        "incident",
        "declare",
        "--title",
        "Checkout failing",
        "--severity",
        "sev1",
        "--service",
        "checkout",
    ];
    ok(&run(&declare, &env));
    ok(&run(&["incident", "ack", "INC-1"], &env));
    ok(&run(&["incident", "resolve", "INC-1"], &env));

    let charts = dir.path().join("charts");
    let charts_arg = charts.display().to_string();
    let out = run(&["report", "load", "--json", "--svg", &charts_arg], &env);
    ok(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(
        (report["real_incidents"].as_u64(), report["drills"].as_u64()),
        (Some(1), Some(0)),
        "{report}"
    );
    let all = &report["response"]["all"];
    assert_eq!(
        (
            all["acknowledged"]["count"].as_u64(),
            all["resolved"]["count"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(report["response"]["by_team"]["payments"]["incidents"], 1);
    let heatmap = std::fs::read_to_string(charts.join("load-heatmap.svg")).expect("heatmap");
    assert_eq!(heatmap.matches("<rect class=\"cell\"").count(), 7 * 24);
    let people = std::fs::read_to_string(charts.join("load-people.svg")).expect("people");
    assert!(people.starts_with("<svg"), "{people}");

    let out = run(&["report", "load"], &env);
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.starts_with("1 real incidents (0 drills left out); as of "),
        "{text}"
    );
    assert!(text.contains("team payments"), "{text}");

    let out = run(&["report", "load", "--since", "yesterday"], &env);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid since `yesterday`") && err.contains("422"),
        "{err}"
    );
}
