//! The scheduler's handler: a timer coming due is an origin of change like a request. A
//! heartbeat deadline opens its missed alert through alert intake; every other timer belongs
//! to an incident and goes through the reactions.

use jiff::Timestamp;
use muster_store::{ClaimedTimer, FireOutcome, Store, StoreError};
use serde_json::Value;

use crate::AppState;
use crate::scheduler::{BoxFuture, TimerHandler};

pub struct Timers {
    state: AppState,
}

impl Timers {
    pub fn new(state: AppState) -> Self {
        Timers { state }
    }
}

impl TimerHandler for Timers {
    fn fire<'a>(
        &'a self,
        store: &'a Store,
        timer: &'a ClaimedTimer,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<FireOutcome, StoreError>> {
        Box::pin(async move {
            if let Some(integration) = crate::intake::heartbeat::watched(&timer.payload) {
                return fire_heartbeat(&self.state, store, timer, integration, now).await;
            }
            crate::reactions::fire_timer(&self.state, timer, now).await
        })
    }
}

/// A heartbeat deadline passed without a ping: the missed alert opens (dedup makes a retry
/// after a crash between the two transactions harmless), then the timer is marked fired.
async fn fire_heartbeat(
    state: &AppState,
    store: &Store,
    timer: &ClaimedTimer,
    integration: &str,
    now: Timestamp,
) -> Result<FireOutcome, StoreError> {
    let cfg = state.config();
    let found = cfg.config.integrations.get(integration).cloned();
    if let Some(found) = found {
        let last = timer.payload.get("last_ping").and_then(Value::as_str);
        match crate::intake::heartbeat::missed(&found, last, now) {
            Ok(signal) => {
                let extra = muster_store::Effects::default();
                crate::intake::ingest(state, integration, vec![signal], extra).await?;
            }
            Err(message) => tracing::warn!(%integration, %message, "heartbeat alert not opened"),
        }
    }
    let actor = format!("heartbeat:{integration}");
    store
        .fire_timer(
            timer,
            now,
            |_| Ok((Vec::new(), muster_store::Effects::default())),
            &actor,
        )
        .await
}
