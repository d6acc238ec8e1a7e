//! `muster incident ack-notification`: a recipient acknowledges a notification from the CLI.

use crate::cli::{Server, run, stdout};

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn legal_acknowledges_its_notification_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/muster.db", dir.path().display());
    let out = run(
        &[
            "token",
            "create",
            "--name",
            "ken",
            "--role",
            "responder",
            "--db",
            &db,
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
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
        "Card data in logs",
        "--severity",
        "SEV1",
        "--service",
        "checkout",
    ];
    let out = run(&declare, &env);
    assert!(out.status.success(), "{}", stderr(&out));

    let key = "sev1-tell-legal:event:1:0";
    let out = run(&["incident", "ack-notification", "INC-1", key], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let first = stdout(&out);
    assert!(
        first.starts_with("ken acknowledged sev1-tell-legal:event:1:0 (alias:legal) after "),
        "{first}"
    );
    let out = run(&["incident", "ack-notification", "INC-1", key], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("already acknowledged: {first}"));

    let out = run(
        &["incident", "ack-notification", "INC-1", "nope:event:1:0"],
        &env,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no notification `nope:event:1:0` in this incident"),
        "{}",
        stderr(&out)
    );

    let out = run(&["incident", "show", "INC-1"], &env);
    let shown = stdout(&out);
    assert!(
        shown.contains("ken acknowledged notification sev1-tell-legal:event:1:0 to alias:legal"),
        "{shown}"
    );
    assert!(shown.contains("legal-ack-1h"), "{shown}");
}
