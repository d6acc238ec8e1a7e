//! `muster template render` and `muster check` on templates, through the binary.

use std::path::Path;
use std::process::Command;

fn muster(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run muster");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn render_previews_a_demo_template_with_incident_variables() {
    let demo = Path::new("../../examples/demo");
    assert!(demo.is_dir());
    let (code, out, err) = muster(&[
        "template",
        "render",
        "../../examples/demo",
        "sev-declared",
        "--incident",
        "tests/fixtures/incident-inc-7.json",
        "--at",
        "2026-03-29T03:30:00Z",
        "--base-url",
        "https://muster.example.com",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        out,
        ":rotating_light: *SEV1 declared:* Checkout is failing\n\
         Affected services: checkout\n\
         Incident commander: quinn\n\
         Follow along: https://muster.example.com/incidents/INC-7\n"
    );
    let (code, _, err) = muster(&[
        "template",
        "render",
        "../../examples/demo",
        "no-such-template",
        "--incident",
        "tests/fixtures/incident-inc-7.json",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("template `no-such-template` is not configured"),
        "{err}"
    );
}

#[test]
fn check_reports_template_errors_with_their_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), dir.path());
    let t = dir.path().join("templates/sev-declared.md.j2");
    std::fs::write(&t, "{{ incident.title }}\n{{ incident.titel }}\n").expect("write");
    let (code, out, _) = muster(&["check", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("templates/sev-declared.md.j2:2:1: error: unknown variable `incident.titel`"),
        "{out}"
    );
}
