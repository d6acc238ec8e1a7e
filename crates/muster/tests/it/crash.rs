//! Crash test: a policy timer armed by a running `muster serve` survives `kill -9`; after a
//! restart past its due time it fires exactly once, marked late, and its action is queued once.
//!
//! Real time, kept short: a copy of the demo config with a 4-second deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use muster_core::{Change, IncidentNumber};
use muster_store::Store;

use crate::procs::{Server, bin};

const POLICY: &str = "crash-drill-4s";
const WITHIN_SECS: u64 = 4;

fn config(dir: &Path) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
    muster_testkit::copy_dir(&demo, dir);
    let policy = format!(
        "policies:\n  - id: {POLICY}\n    description: crash test - a very short deadline\n    \
         when: {{ severity: [SEV1] }}\n    \
         deadline: {{ within: {WITHIN_SECS}s, of: declared, expect: mitigated }}\n    \
         on_missed:\n      - page: {{ schedule: platform-secondary }}\n"
    );
    std::fs::write(dir.join("policies/crash-drill.yaml"), policy).expect("write policy");
}

fn muster(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("MUSTER_DB");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run muster");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The policy's firings on the timeline: (late_by_ms, reason).
async fn firings(store: &Store) -> Vec<(Option<i64>, String)> {
    let events = store
        .timeline(IncidentNumber(1), 0, 1000)
        .await
        .expect("timeline");
    events
        .into_iter()
        .filter_map(|e| match e.change {
            Change::PolicyFired {
                policy,
                late_by_ms,
                reason,
                ..
            } if policy == POLICY => Some((late_by_ms, reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overdue_timer_fires_once_after_kill_9_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config");
    config(&cfg);
    let db = format!("sqlite://{}", dir.path().join("muster.db").display());
    let token = muster(
        &[
            "token",
            "create",
            "--name",
            "ops",
            "--role",
            "responder",
            "--db",
            &db,
        ],
        &[],
    );
    let token = token.lines().last().expect("token").trim().to_string();

    let first = Server::start(&cfg, &db, &[]);
    let url = first.url.clone();
    let declared_at = Instant::now();
    let env = [
        ("MUSTER_SERVER", url.as_str()),
        ("MUSTER_TOKEN", token.as_str()),
    ];
    muster(
        &[
            "incident",
            "declare",
            "--title",
            "Crash drill",
            "--severity",
            "SEV1",
            "--service",
            "checkout",
            "--json",
        ],
        &env,
    );
    first.kill_9();
    let store = Store::connect(&db).await.expect("open db");
    assert!(
        declared_at.elapsed() < Duration::from_secs(WITHIN_SECS),
        "the first server lived past the deadline; the test proves nothing"
    );
    assert!(firings(&store).await.is_empty(), "fired before the crash");

    // Down past the deadline, so the timer is overdue when the server comes back.
    let overdue_at = Duration::from_secs(WITHIN_SECS + 2);
    std::thread::sleep(overdue_at.saturating_sub(declared_at.elapsed()));
    let second = Server::start(&cfg, &db, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while firings(&store).await.is_empty() {
        assert!(Instant::now() < deadline, "the overdue timer never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Crash again right after, and come back: nothing fires a second time.
    second.kill_9();
    let third = Server::start(&cfg, &db, &[]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    third.kill_9();

    let fired = firings(&store).await;
    assert_eq!(fired.len(), 1, "{fired:?}");
    let (late_by_ms, reason) = &fired[0];
    let late = late_by_ms.expect("marked late");
    assert!(late >= 1500, "late by {late} ms");
    assert!(reason.contains("late"), "{reason}");

    let key = format!("INC-1/{POLICY}:deadline:1:missed:0");
    let items: Vec<_> = store
        .outbox_for_incident(IncidentNumber(1))
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.idempotency_key == key)
        .collect();
    assert_eq!(items.len(), 1, "the page is queued exactly once");
    assert_eq!(items[0].effect, "page");
    let armings = store
        .timers_by_key(&format!("INC-1/deadline:{POLICY}:1:due"))
        .await
        .expect("timers");
    let fired_rows = armings.iter().filter(|t| t.fired_at.is_some()).count();
    assert_eq!((armings.len(), fired_rows), (1, 1), "{armings:?}");
    store.close().await;
}
