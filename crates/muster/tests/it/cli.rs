use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use muster_testkit::{Backend, TestDb, copy_dir};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_muster")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo() -> PathBuf {
    repo().join("examples/demo")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub(crate) fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env_remove("MUSTER_TOKEN")
        .env_remove("MUSTER_DB");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("run muster")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) struct Server {
    child: Child,
    pub(crate) url: String,
}

impl Server {
    pub(crate) fn start(db: &str) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = Command::new(bin())
            .args(["serve", "--config"])
            .arg(demo())
            .args(["--db", db, "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve");
        let url = format!("http://{listen}");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(&listen).is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The README's tour: token, declare, list, restart, still there.
/// `incident brief|draft|review|handoff|exec` print Markdown from the server.
fn briefings(env: &[(&str, &str)]) {
    let out = run(&["incident", "brief", "INC-1"], env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let brief = stdout(&out);
    assert!(
        brief.starts_with("**INC-1 · SEV1 · investigating** — Checkout failing"),
        "{brief}"
    );
    assert!(
        brief.contains("incident commander alice") && brief.contains("bob"),
        "{brief}"
    );
    assert!(brief.lines().count() <= 12, "{brief}");
    let out = run(&["incident", "brief", "INC-1"], env);
    assert!(
        stdout(&out).contains("(0 events)"),
        "since the last brief: {}",
        stdout(&out)
    );
    let out = run(
        &[
            "incident",
            "brief",
            "INC-1",
            "--since",
            "2000-01-01T00:00:00Z",
            "--json",
        ],
        env,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["generated_by"], "deterministic");
    assert!(
        v["summary"]["events_since"].as_u64().unwrap_or(0) >= 5,
        "{v}"
    );
    let out = run(&["incident", "brief", "INC-1", "--since", "soon"], env);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("since"));

    let out = run(&["incident", "draft", "INC-1"], env);
    let draft = stdout(&out);
    assert!(
        draft.contains("**Conditions**") && draft.contains("**Needs**"),
        "{draft}"
    );
    let out = run(
        &["incident", "draft", "INC-1", "--audience", "customer"],
        env,
    );
    let draft = stdout(&out);
    assert!(
        draft.contains("Investigating problems with checkout"),
        "{draft}"
    );
    assert!(
        !draft.contains("alice") && !draft.contains("SEV1"),
        "{draft}"
    );
    let out = run(&["incident", "review", "INC-1"], env);
    let review = stdout(&out);
    assert!(
        review.starts_with("# Post-incident review (draft): INC-1 — Checkout failing"),
        "{review}"
    );
    assert!(review.contains("## Policy adherence"), "{review}");
    let out = run(
        &[
            "incident",
            "handoff",
            "INC-1",
            "--role",
            "incident_commander",
        ],
        env,
    );
    assert!(
        stdout(&out).contains("incident commander to alice at"),
        "{}",
        stdout(&out)
    );
    let out = run(&["incident", "exec", "INC-1"], env);
    assert!(
        stdout(&out).contains("**Impact:** A major outage of checkout."),
        "{}",
        stdout(&out)
    );
}

fn tour(db: &str) {
    let out = run(
        &[
            "token",
            "create",
            "--name",
            "alice",
            "--role",
            "responder",
            "--db",
            db,
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = stdout(&out)
        .lines()
        .last()
        .expect("token line")
        .trim()
        .to_string();
    assert!(token.len() >= 32, "{token}");

    let server = Server::start(db);
    let env = [
        ("MUSTER_SERVER", server.url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    let out = run(
        &[
            "incident",
            "declare",
            "--title",
            "Checkout failing",
            "--severity",
            "sev1",
            "--service",
            "checkout",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = stdout(&out);
    assert!(
        shown.contains("INC-1") && shown.contains("SEV1") && shown.contains("declared"),
        "{shown}"
    );

    let out = run(&["incident", "ack", "INC-1"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["incident", "ack", "INC-1"], &env);
    assert!(!out.status.success(), "acknowledging twice fails");
    assert!(String::from_utf8_lossy(&out.stderr).contains("already reached acknowledged"));

    let out = run(&["incident", "list"], &env);
    let table = stdout(&out);
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains("INC-1")
            && table.contains("investigating")
            && table.contains("Checkout failing"),
        "{table}"
    );
    drop(server);

    let server = Server::start(db);
    let env = [
        ("MUSTER_SERVER", server.url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    let out = run(&["incident", "list", "--json"], &env);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list[0]["id"], "INC-1", "still there after a restart");
    assert_eq!(list[0]["declared_by"], "alice");

    let out = run(
        &["incident", "milestone", "INC-1", "blast_radius_validated"],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(
        &["incident", "role", "INC-1", "incident_commander", "alice"],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["incident", "join", "INC-1", "bob"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("bob joined"), "{}", stdout(&out));
    briefings(&env);
    let out = run(&["incident", "resolve", "INC-1"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["incident", "show", "INC-1", "--json"], &env);
    let inc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(inc["status"], "resolved");
    assert_eq!(inc["roles"]["incident_commander"]["person"], "alice");

    let out = run(
        &["incident", "list"],
        &[("MUSTER_SERVER", server.url.as_str())],
    );
    assert!(!out.status.success(), "no token, no access");
}

#[test]
fn tour_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/nested/muster.db", dir.path().display());
    tour(&db);
    assert!(
        dir.path().join("nested/muster.db").exists(),
        "file and folders created"
    );
}

#[test]
fn tour_on_postgres() {
    let Some(db) = TestDb::fresh_blocking(Backend::Postgres) else {
        return;
    };
    tour(&db.url());
}

#[test]
fn check_passes_the_demo_and_fails_broken_configs_with_locations() {
    let out = run(&["check", demo().to_str().unwrap()], &[]);
    assert!(
        out.status.success(),
        "{}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout(&out).contains("error:"));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("services.yaml"),
        "services:\n  - id: checkout\n    name: Checkout\n    owner_team: nobody\n",
    )
    .unwrap();
    let out = run(&["check", dir.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let expected_prefix = format!(
        "{}:4:17: error:",
        dir.path().join("services.yaml").display()
    );
    assert!(
        text.lines().any(|l| l.starts_with(&expected_prefix)),
        "{text}"
    );
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("people.yaml"),
        "people:\n  - id: x\n    nmae: typo\n",
    )
    .unwrap();
    let db = format!("sqlite://{}/m.db", dir.path().display());
    let out = Command::new(bin())
        .args(["serve", "--config"])
        .arg(dir.path())
        .args(["--db", &db, "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("people.yaml:3:5: error:"), "{err}");
    assert!(err.contains("not starting"), "{err}");
}

fn services_count(url: &str, token: &str) -> usize {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let v: serde_json::Value = reqwest::Client::new()
            .get(format!("{url}/api/v1/services"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v.as_array().map_or(0, Vec::len)
    })
}

pub(crate) fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// SIGHUP reloads the configuration atomically: a broken one is refused, a good one applied.
#[test]
fn sighup_reloads_config_and_keeps_the_old_one_when_invalid() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    copy_dir(&demo(), &config);
    let db = format!("sqlite://{}/m.db", dir.path().display());
    let out = run(
        &[
            "token", "create", "--name", "ops", "--role", "viewer", "--db", &db,
        ],
        &[],
    );
    let token = stdout(&out).lines().last().unwrap().trim().to_string();

    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut server = Server {
        child: Command::new(bin())
            .args(["serve", "--config"])
            .arg(&config)
            .args(["--db", &db, "--listen", &listen])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        url: format!("http://{listen}"),
    };
    assert!(wait_for(|| std::net::TcpStream::connect(&listen).is_ok()));
    let before = services_count(&server.url, &token);
    assert!(before > 0);
    let hup = |pid: u32| {
        let ok = Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    };

    std::fs::write(
        config.join("zz-extra.yaml"),
        "services:\n  - id: ghost\n    name: Ghost\n    owner_team: nobody-at-all\n",
    )
    .unwrap();
    hup(server.child.id());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        services_count(&server.url, &token),
        before,
        "invalid config refused"
    );
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "server still running"
    );

    std::fs::write(
        config.join("zz-extra.yaml"),
        "services:\n  - id: ghost\n    name: Ghost\n    owner_team: payments\n",
    )
    .unwrap();
    hup(server.child.id());
    assert!(
        wait_for(|| services_count(&server.url, &token) == before + 1),
        "valid config applied"
    );
    let _ = server.child.kill();
}

fn get_json(url: &str, token: &str) -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Overrides made from the CLI are in force on the server and removable from the CLI.
#[test]
fn overrides_from_the_cli_change_who_is_on_call() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/m.db", dir.path().display());
    let out = run(
        &[
            "token", "create", "--name", "carol", "--role", "admin", "--db", &db,
        ],
        &[],
    );
    let token = stdout(&out).lines().last().unwrap().trim().to_string();
    let server = Server::start(&db);
    let env = [
        ("MUSTER_SERVER", server.url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    let oncall_url = format!(
        "{}/api/v1/schedules/payments-primary/oncall?at=2026-03-30T12:00:00Z",
        server.url
    );
    assert_eq!(
        get_json(&oncall_url, &token)["on_call"],
        serde_json::json!(["alice"])
    );

    let out = run(
        &[
            "override",
            "add",
            "payments-primary",
            "--person",
            "erin",
            "--replaces",
            "alice",
            "--from",
            "2026-03-30T10:00:00Z",
            "--to",
            "2026-03-30T18:00:00Z",
            "--reason",
            "dentist",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout(&out).contains("ovr-1"), "{}", stdout(&out));
    assert_eq!(
        get_json(&oncall_url, &token)["on_call"],
        serde_json::json!(["erin"])
    );

    let out = run(&["override", "list", "payments-primary"], &env);
    let table = stdout(&out);
    assert!(
        table.contains("ovr-1") && table.contains("runtime") && table.contains("carol"),
        "{table}"
    );
    assert!(
        table.contains("config"),
        "configured overrides are listed too: {table}"
    );

    let out = run(
        &[
            "override",
            "add",
            "payments-primary",
            "--person",
            "zed",
            "--from",
            "2026-03-30T10:00:00Z",
            "--to",
            "2026-03-30T18:00:00Z",
            "--reason",
            "x",
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown person `zed`"));

    let out = run(&["override", "remove", "payments-primary", "ovr-1"], &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        get_json(&oncall_url, &token)["on_call"],
        serde_json::json!(["alice"])
    );
}

/// The demo on `muster serve` with no provider configured: a SEV1 on checkout puts its
/// notifications in the inbox, `muster inbox` lists them (a table, or JSON, filtered), and
/// the incident's timeline never says a notification gave up.
#[test]
fn the_demo_without_providers_delivers_to_the_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/m.db", dir.path().display());
    let out = run(
        &[
            "token",
            "create",
            "--name",
            "dana",
            "--role",
            "responder",
            "--db",
            &db,
        ],
        &[],
    );
    let token = stdout(&out).lines().last().unwrap().trim().to_string();
    let server = Server::start(&db);
    let env = [
        ("MUSTER_SERVER", server.url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    let out = run(
        &[
            "incident",
            "declare",
            "--title",
            "Checkout failing",
            "--severity",
            "sev1",
            "--service",
            "checkout",
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The deliverer runs in the server: wait for the playbook's aliases to land.
    let mut list = serde_json::Value::Null;
    let landed = wait_for(|| {
        let out = run(&["inbox", "--json"], &env);
        list = serde_json::from_slice(&out.stdout).unwrap_or_default();
        list.as_array()
            .is_some_and(|l| l.iter().filter(|e| e["incident"] == "INC-1").count() >= 3)
    });
    assert!(landed, "{list}");
    let entries = list.as_array().cloned().unwrap_or_default();
    assert!(
        entries
            .iter()
            .all(|e| e["reason"] == "no configured provider reaches them"),
        "{list}"
    );
    let person = entries
        .iter()
        .find_map(|e| e["person"].as_str())
        .expect("a person was told")
        .to_string();

    let out = run(&["inbox"], &env);
    assert!(out.status.success());
    let table = stdout(&out);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("TIME")
            && lines[0].contains("RECIPIENT")
            && lines[0].contains("REASON"),
        "{table}"
    );
    assert!(
        lines[1..]
            .iter()
            .any(|l| l.contains(&format!("person:{person}")) && l.contains("INC-1")),
        "{table}"
    );

    let out = run(&["inbox", "--person", &person, "--json"], &env);
    assert!(out.status.success());
    let mine: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(
        mine.as_array()
            .is_some_and(|l| !l.is_empty() && l.iter().all(|e| e["person"] == person.as_str())),
        "{mine}"
    );

    let out = run(&["incident", "show", "INC-1"], &env);
    assert!(out.status.success());
    let shown = stdout(&out);
    assert!(
        shown.contains(&format!("sent to person:{person} by inbox")),
        "{shown}"
    );
    assert!(!shown.contains("gave up"), "{shown}");

    let out = run(&["inbox", "--incident", "nope"], &env);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("incident: `nope` is not an incident id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
