//! The retention task: every [`PRUNE_EVERY`] of the injected clock, what settled longer than
//! `limits.retention` ago (30 days by default) is pruned through [`Store::prune`] — delivered
//! outbox items, fired and cancelled timers, resolved alerts' payloads, Slack's seen requests
//! and events — in batches of [`PRUNE_BATCH`] rows, each its own short transaction. The
//! timeline and the audit log are never pruned. Every node may run it: a batch deletes only
//! what is still there, so two nodes pruning at once only share the work.
//!
//! [`Store::prune`]: muster_store::Store::prune

use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use muster_store::{PRUNE_BATCH, Pruned, StoreError};

use crate::AppState;

/// How often (on the injected clock) the task prunes.
pub const PRUNE_EVERY: SignedDuration = SignedDuration::from_mins(10);
/// How often (real time) the task looks at the clock.
const LOOK_EVERY: Duration = Duration::from_secs(30);

pub struct Pruner {
    state: AppState,
    last: Mutex<Option<Timestamp>>,
}

impl Pruner {
    pub fn new(state: AppState) -> Self {
        Pruner {
            state,
            last: Mutex::new(None),
        }
    }

    /// Prunes when [`PRUNE_EVERY`] has passed on the clock since the last run (or on the
    /// first call); `None` when it was not due.
    pub async fn tick(&self) -> Result<Option<Pruned>, StoreError> {
        let now = self.state.clock.now();
        {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|l| now.duration_since(l) < PRUNE_EVERY) {
                return Ok(None);
            }
        }
        let retention = self.state.config().config.limits.retention.to_signed();
        let pruned = self.state.store.prune(now - retention, PRUNE_BATCH).await?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(now);
        for (table, n) in [
            ("outbox", pruned.outbox),
            ("timers", pruned.timers),
            ("alert_payloads", pruned.alert_payloads),
            ("slack_seen", pruned.slack_seen),
            ("web_sessions", pruned.web_sessions),
        ] {
            metrics::counter!("muster_pruned_rows_total", "table" => table).increment(n);
        }
        if pruned != Pruned::default() {
            tracing::info!(?pruned, "retention: pruned settled bookkeeping");
        }
        Ok(Some(pruned))
    }

    /// Ticks until `stop` completes; a failing run is logged and tried again later.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "retention: pruning failed; trying again later");
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(LOOK_EVERY) => {}
            }
        }
    }
}
