//! Who is on call, with the run-time overrides: the one place this rule lives. Policies,
//! escalations, the deliverer, Slack's `/muster oncall|page` and the schedules API all ask
//! here, so a run-time override reaches every page the moment it is stored.

use std::collections::BTreeMap;

use jiff::Timestamp;
use muster_config::Config;
use muster_core::schedule::{self, Override, Schedule};
use muster_store::{ScheduleOverride, Store, StoreError};

/// Run-time schedule overrides by schedule id, as the resolver takes them.
pub type RuntimeOverrides = BTreeMap<String, Vec<Override>>;

/// The live run-time overrides of every schedule.
pub async fn runtime_overrides(store: &Store) -> Result<RuntimeOverrides, StoreError> {
    Ok(overrides_by_schedule(store.all_overrides().await?))
}

/// Stored overrides grouped by schedule.
pub fn overrides_by_schedule(stored: Vec<ScheduleOverride>) -> RuntimeOverrides {
    let mut out = RuntimeOverrides::new();
    for o in stored {
        out.entry(o.schedule.clone())
            .or_default()
            .push(core_override(&o));
    }
    out
}

/// A stored run-time override as the core resolves it.
pub fn core_override(o: &ScheduleOverride) -> Override {
    Override {
        id: Some(o.id.clone()),
        person: o.person.clone(),
        replaces: o.replaces.clone(),
        from: o.from,
        to: o.to,
        reason: Some(o.reason.clone()),
    }
}

/// The configured schedule with the run-time overrides applied after the configured ones
/// (later overrides win where they overlap); `None` when the schedule is not configured.
pub fn effective_schedule(
    config: &Config,
    overrides: &RuntimeOverrides,
    schedule: &str,
) -> Option<Schedule> {
    let mut resolved = config.core_schedule(schedule)?;
    if let Some(extra) = overrides.get(schedule) {
        resolved.overrides.extend(extra.iter().cloned());
    }
    Some(resolved)
}

/// Who is on call for `schedule` at `at`, run-time overrides included (empty in a gap or
/// when the schedule is unknown).
pub fn on_call(
    config: &Config,
    overrides: &RuntimeOverrides,
    schedule: &str,
    at: Timestamp,
) -> Vec<String> {
    effective_schedule(config, overrides, schedule)
        .map(|s| schedule::on_call(&s, at))
        .unwrap_or_default()
}
