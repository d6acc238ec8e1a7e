//! Who is on call, with the run-time overrides: the one place this rule lives. Policies,
//! escalations, the deliverer, Slack's `/muster oncall|page` and the schedules API all ask
//! here, so a run-time override reaches every page the moment it is stored.

use std::collections::BTreeMap;

use jiff::Timestamp;
use muster_config::Config;
use muster_core::schedule::{self, Override, Schedule};
use muster_store::{NewOverride, ScheduleOverride, Store, StoreError};

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

/// Why a new run-time override is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OverrideRefused {
    /// The schedule is not configured (404).
    UnknownSchedule(String),
    /// A field is wrong (422): the message names it.
    Invalid(String),
}

/// The checks every new run-time override passes (the API's and the web UI's): a configured
/// schedule, known people, an end after the start, a reason for the audit trail.
pub fn check_override(config: &Config, new: &NewOverride) -> Result<(), OverrideRefused> {
    if !config.schedules.contains_key(&new.schedule) {
        return Err(OverrideRefused::UnknownSchedule(format!(
            "schedule `{}` not found",
            new.schedule
        )));
    }
    for (field, person) in [
        ("person", Some(&new.person)),
        ("replaces", new.replaces.as_ref()),
    ] {
        if let Some(p) = person
            && !config.people.contains_key(p)
        {
            return Err(OverrideRefused::Invalid(format!(
                "{field}: unknown person `{p}` (not defined in the configuration)"
            )));
        }
    }
    if new.to <= new.from {
        return Err(OverrideRefused::Invalid(
            "to: the override must end after it starts".into(),
        ));
    }
    if new.reason.trim().is_empty() {
        return Err(OverrideRefused::Invalid(
            "reason: say why (it is kept in the audit trail)".into(),
        ));
    }
    Ok(())
}
