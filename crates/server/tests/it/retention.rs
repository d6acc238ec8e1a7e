//! Bounded growth: with 20 heartbeat pings a minute and an open Slack incident (header
//! refreshes, its policies' timers and messages), retention keeps the outbox and timer tables
//! under a bound computed from the rate and the retention, and no other table grows once the
//! run is past its retention, on the simulated clock. The suite runs four hours with a
//! one-hour retention; `scripts/soak.sh` runs the same test for 30 days
//! (`MUSTER_SOAK_MINUTES`, `MUSTER_SOAK_RETENTION_MINUTES`) and prints its counts.

use jiff::{SignedDuration, Timestamp};
use muster_core::Clock;
use muster_server::retention::{PRUNE_EVERY, Pruner};
use muster_store::RetainedRows;

use crate::slack::{SLACK_YAML, rig_in};
use crate::support::{Backend, copy_dir, demo_dir};

/// Heartbeat pings a minute (each moves the heartbeat's timer: one cancelled row).
const PINGS_PER_MINUTE: i64 = 20;
/// The run's length and `limits.retention`, in minutes: four hours and one hour unless the
/// environment asks for a longer soak.
fn shape() -> (i64, i64) {
    let var = |k: &str, default: i64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let retention = var("MUSTER_SOAK_RETENTION_MINUTES", 60);
    (
        var("MUSTER_SOAK_MINUTES", 4 * 60).max(3 * retention),
        retention,
    )
}

/// Tables that hold the incident's record and are never pruned: once the run is past its
/// retention, heartbeats and a long open incident must not make them grow.
fn steady(table: &str) -> bool {
    !matches!(table, "outbox" | "timers" | "slack_seen" | "web_sessions")
}
/// Rows an incident makes whatever the run's length (its policies' deadlines, nudges, pages,
/// the channel, invitations): a generous constant, far below what the heartbeats make.
const PER_INCIDENT: u64 = 150;

async fn heartbeats_and_a_slack_incident_stay_bounded(backend: Backend) {
    let (run_minutes, retention_minutes) = shape();
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&demo_dir(), dir.path());
    std::fs::write(dir.path().join("slack.yaml"), SLACK_YAML).expect("slack.yaml");
    std::fs::write(
        dir.path().join("limits.yaml"),
        format!("limits:\n  retention: {retention_minutes}m\n"),
    )
    .expect("limits.yaml");
    let Some(rig) = rig_in(backend, dir).await else {
        return;
    };
    let (s, v) = rig
        .command("U0ALICE", "C0GENERAL", "declare sev1 checkout errors")
        .await;
    assert_eq!(s, 200, "{v}");
    rig.deliver().await;
    let pruner = Pruner::new(rig.state.clone());
    let store = &rig.state.store;
    let start: Timestamp = rig.app.clock.now();

    // What may be kept: everything settled within the retention, plus what settled during
    // the last prune interval and minute, plus the live rows and the incident's own.
    let window = retention_minutes + PRUNE_EVERY.as_mins() + 1;
    let timers_bound = (PINGS_PER_MINUTE as u64 + 1) * window as u64 + PER_INCIDENT;
    let outbox_bound = window as u64 + PER_INCIDENT;
    let mut most = RetainedRows::default();
    let mut pruned_timers = 0;
    let hb = format!("{}/api/v1/heartbeats/demo-ledger-heartbeat", rig.app.base);
    let mut middle = Vec::new();
    for minute in 0..run_minutes {
        if minute == run_minutes / 2 {
            middle = store.table_rows().await.expect("tables");
        }
        let at = start + SignedDuration::from_mins(minute);
        for i in 0..PINGS_PER_MINUTE {
            rig.app
                .clock
                .set(at + SignedDuration::from_secs(i * 60 / PINGS_PER_MINUTE));
            let resp = rig.app.http.post(&hb).send().await.expect("ping");
            assert_eq!(resp.status().as_u16(), 200);
        }
        rig.at(at + SignedDuration::from_secs(59)).await;
        if let Some(p) = pruner.tick().await.expect("prune") {
            pruned_timers += p.timers;
        }
        let rows = store.retained_rows().await.expect("rows");
        assert!(
            rows.timers <= timers_bound,
            "minute {minute}: {rows:?} > {timers_bound}"
        );
        assert!(
            rows.outbox <= outbox_bound,
            "minute {minute}: {rows:?} > {outbox_bound}"
        );
        most.timers = most.timers.max(rows.timers);
        most.outbox = most.outbox.max(rows.outbox);
        most.slack_seen = most.slack_seen.max(rows.slack_seen);
    }
    let end = store.table_rows().await.expect("tables");
    let grown: Vec<String> = middle
        .iter()
        .zip(&end)
        .filter(|((table, half), (_, last))| steady(table) && last > half)
        .map(|((table, half), (_, last))| format!("{table}: {half} → {last}"))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "backend": format!("{backend:?}"),
            "minutes": run_minutes,
            "retention_minutes": retention_minutes,
            "pings": PINGS_PER_MINUTE * run_minutes,
            "pruned_timers": pruned_timers,
            "most": {"timers": most.timers, "outbox": most.outbox, "slack_seen": most.slack_seen},
            "bounds": {"timers": timers_bound, "outbox": outbox_bound},
            "rows_at_end": end.iter().map(|(t, n)| (t.to_string(), *n)).collect::<std::collections::BTreeMap<_, _>>(),
        })
    );
    assert!(
        grown.is_empty(),
        "tables grew in the second half: {grown:?}"
    );
    // Without retention the heartbeats alone would have left one row per ping.
    let unpruned = (PINGS_PER_MINUTE * run_minutes) as u64;
    assert!(unpruned > 2 * timers_bound, "the run outgrows the bound");
    assert!(
        pruned_timers > unpruned / 2,
        "pruned {pruned_timers} of {unpruned}"
    );
    assert!(
        most.timers > (PINGS_PER_MINUTE * retention_minutes) as u64,
        "{most:?}"
    );
    // The incident itself is whole: its timeline was never pruned.
    let timeline = rig.timeline("INC-1").await;
    assert_eq!(timeline[0]["seq"], 1, "{:?}", timeline.first());
    assert_eq!(timeline[0]["kind"], "declared", "{:?}", timeline.first());
}

mod heartbeats_and_a_slack_incident_stay_bounded {
    use super::*;
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::heartbeats_and_a_slack_incident_stay_bounded(Backend::Sqlite).await
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::heartbeats_and_a_slack_incident_stay_bounded(Backend::Postgres).await
    }
}
