//! A real Alertmanager (Debian's `prometheus-alertmanager`, installed by `scripts/test.sh`)
//! in front of a real `muster serve`: alerts added with `amtool` reach Muster through a
//! webhook receiver and through a `pagerduty_configs` receiver whose `url` is Muster's
//! `/v2/enqueue`; firing opens an incident with a page queued, resolving auto-resolves it, and
//! an alert sent while Muster is killed (-9) and restarted arrives through Alertmanager's retry.
//!
//! Without the binary the test skips with a message, except under `CI=true` where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use muster_core::IncidentNumber;
use muster_store::Store;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

fn tools() -> Option<(PathBuf, PathBuf)> {
    let am = find(&["alertmanager", "prometheus-alertmanager"]);
    let amtool = find(&["amtool"]);
    match (am, amtool) {
        (Some(a), Some(t)) => Some((a, t)),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("alertmanager/amtool not found and CI=true: scripts/test.sh installs them")
        }
        _ => {
            eprintln!(
                "skipping: alertmanager or amtool not installed (apt-get install prometheus-alertmanager)"
            );
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_listening(addr: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Kills the child when the test ends, however it ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn muster_serve(config: &Path, db: &str) -> (Guard, String) {
    muster_serve_at(config, db, &format!("127.0.0.1:{}", free_port()))
}

fn muster_serve_at(config: &Path, db: &str, listen: &str) -> (Guard, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args(["serve", "--config"])
        .arg(config)
        .args(["--db", db, "--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn muster serve");
    wait_listening(listen, "muster serve");
    (Guard(child), format!("http://{listen}"))
}

fn am_config(muster: &str) -> String {
    format!(
        r#"route:
  receiver: muster-webhook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    - matchers: ['via="pagerduty"']
      receiver: muster-pagerduty
receivers:
  - name: muster-webhook
    webhook_configs:
      - url: {muster}/api/v1/integrations/demo-alertmanager/alertmanager
        send_resolved: true
  - name: muster-pagerduty
    pagerduty_configs:
      - routing_key: demo-events-v2
        url: {muster}/v2/enqueue
        send_resolved: true
"#
    )
}

fn alertmanager(bin: &Path, dir: &Path, muster: &str) -> (Guard, String) {
    let cfg = dir.join("alertmanager.yml");
    std::fs::write(&cfg, am_config(muster)).expect("write alertmanager.yml");
    let listen = format!("127.0.0.1:{}", free_port());
    let child = Command::new(bin)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.path={}", dir.join("am-data").display()))
        .arg(format!("--web.listen-address={listen}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn alertmanager");
    wait_listening(&listen, "alertmanager");
    (Guard(child), format!("http://{listen}"))
}

/// `amtool alert add`; `end` set (now) resolves the alert.
fn amtool_add(amtool: &Path, am: &str, labels: &[&str], end: Option<&str>) {
    let mut cmd = Command::new(amtool);
    cmd.args(["alert", "add", &format!("--alertmanager.url={am}")])
        .args(labels)
        .arg("--annotation=summary=Checkout is down (amtool)");
    if let Some(end) = end {
        cmd.arg(format!("--end={end}"));
    }
    let out = cmd.output().expect("run amtool");
    assert!(
        out.status.success(),
        "amtool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn token(db: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args([
            "token",
            "create",
            "--name",
            "am-test",
            "--role",
            "responder",
            "--db",
            db,
        ])
        .env_remove("MUSTER_DB")
        .output()
        .expect("token create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().last().expect("token").trim().to_string()
}

async fn get(http: &reqwest::Client, url: &str, token: &str) -> Value {
    http.get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

/// Polls until `check` holds on the alerts of `integration`, or fails after [`WAIT`].
async fn wait_alerts(
    http: &reqwest::Client,
    muster: &str,
    token: &str,
    integration: &str,
    what: &str,
    check: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let v = get(
            http,
            &format!("{muster}/api/v1/alerts?integration={integration}"),
            token,
        )
        .await;
        let list = v.as_array().cloned().unwrap_or_default();
        if check(&list) {
            return list;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn incident_status(http: &reqwest::Client, muster: &str, token: &str, id: &str) -> String {
    let v = get(http, &format!("{muster}/api/v1/incidents/{id}"), token).await;
    v["status"].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_alertmanager_webhook_and_pagerduty_receivers() {
    let Some((am_bin, amtool)) = tools() else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config");
    muster_testkit::copy_dir(&muster_testkit::demo_dir(), &config);
    let db = format!("sqlite://{}", dir.path().join("muster.db").display());
    let token = token(&db);
    let (muster_proc, muster) = muster_serve(&config, &db);
    let mut muster_proc = Some(muster_proc);
    let (_am, am) = alertmanager(&am_bin, dir.path(), &muster);
    let http = reqwest::Client::new();

    let hook = [
        "alertname=CheckoutDown",
        "severity=critical",
        "instance=web-1",
    ];
    let pd = [
        "alertname=PaymentsSlow",
        "severity=critical",
        "via=pagerduty",
    ];
    amtool_add(&amtool, &am, &hook, None);
    amtool_add(&amtool, &am, &pd, None);

    let firing = |l: &[Value]| l.iter().any(|a| a["status"] == "firing");
    let webhook_alerts = wait_alerts(
        &http,
        &muster,
        &token,
        "alertmanager",
        "webhook alert",
        firing,
    )
    .await;
    let pd_alerts = wait_alerts(
        &http,
        &muster,
        &token,
        "events-v2",
        "pagerduty alert",
        firing,
    )
    .await;

    let store = Store::connect(&db).await.expect("store");
    let mut incidents = Vec::new();
    for alert in webhook_alerts.iter().chain(&pd_alerts) {
        let id = alert["incident"].as_str().expect("incident").to_string();
        let n = IncidentNumber(id.trim_start_matches("INC-").parse().expect("number"));
        let outbox = store.outbox_for_incident(n).await.expect("outbox");
        assert!(
            outbox.iter().any(|o| o.effect == "page"),
            "{id} has no page: {outbox:?}"
        );
        incidents.push(id);
    }

    // Muster goes away (kill -9) while Alertmanager has a new alert to send; Alertmanager
    // retries, and after the restart on the same address the alert arrives: nothing is lost.
    drop(muster_proc.take());
    let late = [
        "alertname=CheckoutLate",
        "severity=warning",
        "instance=web-2",
    ];
    amtool_add(&amtool, &am, &late, None);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let listen = muster.trim_start_matches("http://").to_string();
    muster_proc = Some(muster_serve_at(&config, &db, &listen).0);
    let arrived = |l: &[Value]| l.iter().any(|a| a["labels"]["alertname"] == "CheckoutLate");
    wait_alerts(
        &http,
        &muster,
        &token,
        "alertmanager",
        "alert sent during the restart",
        arrived,
    )
    .await;

    // Resolve all at the source: Alertmanager sends resolved notifications.
    let now = jiff::Timestamp::now().to_string();
    amtool_add(&amtool, &am, &hook, Some(&now));
    amtool_add(&amtool, &am, &pd, Some(&now));
    amtool_add(&amtool, &am, &late, Some(&now));
    let resolved = |l: &[Value]| !l.is_empty() && l.iter().all(|a| a["status"] == "resolved");
    wait_alerts(
        &http,
        &muster,
        &token,
        "alertmanager",
        "webhook resolve",
        resolved,
    )
    .await;
    wait_alerts(
        &http,
        &muster,
        &token,
        "events-v2",
        "pagerduty resolve",
        resolved,
    )
    .await;
    for id in &incidents {
        assert_eq!(
            incident_status(&http, &muster, &token, id).await,
            "resolved",
            "{id}"
        );
    }
    store.close().await;

    // The CLI sees the same alerts.
    let out = Command::new(env!("CARGO_BIN_EXE_muster"))
        .args([
            "alert", "list", "--status", "resolved", "--json", "--server", &muster,
        ])
        .env("MUSTER_TOKEN", &token)
        .output()
        .expect("muster alert list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(listed.as_array().map(Vec::len), Some(3), "{listed}");
    drop(muster_proc);
}
