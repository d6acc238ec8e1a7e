//! Reactions run in the store's transactions: each decides under the incident's lock, and the
//! change, what follows it and the policy state commit together or not at all.
//!
//! - [`declare`] and [`apply`]: a person's declaration or command (API, CLI, Slack).
//! - [`AlertReactions`]: the store's [`AlertReactor`] for every alert source, batch intake
//!   included: the incidents alerts open, acknowledge and resolve.
//! - [`fire_timer`]: a policy, escalation or Slack header timer coming due.
//! - [`reloaded`]: a new configuration, and the open incidents' timers re-planned under it.

use std::sync::{Arc, OnceLock};

use jiff::Timestamp;
use muster_core::alert::{self, AlertSignal};
use muster_core::{
    Change, Command, DomainError, Incident, IncidentNumber, Severity, Status, decide, declare_typed,
};
use muster_store::{
    AlertReactor, ClaimedTimer, Effects, FireOutcome, IncidentAction, IncidentFilter,
    ScheduleOverride, StoreError,
};
use serde_json::Value;

use super::policy::timer_actor;
use super::{Opener, Reactions, drill};
use crate::oncall::{self, RuntimeOverrides};
use crate::{AppState, LoadedConfig};

/// What reactions decide with: the configuration in force (read once, so a reload during the
/// transaction cannot mix two), the live run-time overrides, and the instant.
pub(super) struct Inputs {
    cfg: Arc<LoadedConfig>,
    overrides: RuntimeOverrides,
    pub(super) now: Timestamp,
}

impl Inputs {
    pub(super) async fn read(state: &AppState, now: Timestamp) -> Result<Inputs, StoreError> {
        Ok(Inputs {
            cfg: state.config(),
            overrides: oncall::runtime_overrides(&state.store).await?,
            now,
        })
    }

    pub(super) fn reactions(&self) -> Reactions<'_> {
        Reactions {
            cfg: &self.cfg,
            overrides: &self.overrides,
            now: self.now,
        }
    }
}

/// A person's declaration, as the API, the CLI and Slack take it.
#[derive(Debug, Clone)]
pub struct Declaration<'a> {
    pub title: &'a str,
    pub severity: Severity,
    pub services: &'a [String],
    pub incident_type: Option<&'a str>,
}

/// Declares an incident as `actor`, with everything that follows a declaration.
pub async fn declare(
    state: &AppState,
    actor: &str,
    d: Declaration<'_>,
) -> Result<Incident, StoreError> {
    let inputs = Inputs::read(state, state.clock.now()).await?;
    let (ctx, now) = (inputs.reactions(), inputs.now);
    let vocab = &ctx.cfg.vocab;
    let changes = declare_typed(d.title, d.severity, d.services, d.incident_type, vocab)
        .map_err(StoreError::Domain)?;
    let declared = changes.clone();
    let (incident, _) = state
        .store
        .declare_with_policy(actor, now, changes, |inc, policy_state| {
            ctx.declared(inc, policy_state, &declared, actor, Opener::Person)
                .into_parts()
        })
        .await?;
    tracing::info!(incident = %incident.id, severity = %incident.severity, %actor, "incident declared");
    state.changes.publish(Some(incident.id));
    Ok(incident)
}

/// Runs `command` on incident `id` as `actor`, with everything that follows the change.
pub async fn apply(
    state: &AppState,
    actor: &str,
    id: IncidentNumber,
    command: Command,
) -> Result<Incident, StoreError> {
    apply_guarded(state, actor, id, command, |_| Ok(())).await
}

/// [`apply`], refused with `guard`'s error unless the incident, read under its lock, lets
/// the actor give the command (e.g. `core::incident::check_assigner`).
pub async fn apply_guarded(
    state: &AppState,
    actor: &str,
    id: IncidentNumber,
    command: Command,
    guard: impl Fn(&Incident) -> Result<(), DomainError> + Send + Sync,
) -> Result<Incident, StoreError> {
    let inputs = Inputs::read(state, state.clock.now()).await?;
    let (ctx, now) = (inputs.reactions(), inputs.now);
    let (incident, _events) = state
        .store
        .update_with_policy(id, actor, now, |inc, policy_state| {
            guard(inc)?;
            // A drill's incident reacts, and is written, in the drill's time.
            let drill_now = drill::drill_now(policy_state, now);
            let ctx = ctx.at(drill_now.unwrap_or(now));
            let changes = decide(inc, &command, &ctx.cfg.vocab)?;
            let (changes, mut effects) = ctx
                .changed(inc, policy_state, &changes, actor)
                .after(changes);
            effects.at = drill_now;
            Ok((changes, effects))
        })
        .await?;
    state.changes.publish(Some(incident.id));
    Ok(incident)
}

/// Fires an incident's timer (policy, escalation or Slack header) with the configuration in
/// force at firing time, so a reload applies to timers already armed.
pub async fn fire_timer(
    state: &AppState,
    timer: &ClaimedTimer,
    now: Timestamp,
) -> Result<FireOutcome, StoreError> {
    let inputs = Inputs::read(state, now).await?;
    let ctx = inputs.reactions();
    let actor = timer_actor(timer);
    let outcome = state
        .store
        .fire_timer_with_policy(
            timer,
            now,
            |incident, policy_state| -> Result<_, DomainError> {
                let drill_now = incident
                    .filter(|i| i.exercise)
                    .map(|_| drill::fired_at(timer, policy_state, now));
                let ctx = ctx.at(drill_now.unwrap_or(now));
                let (changes, mut effects) =
                    ctx.timer_fired(incident, policy_state, timer).into_parts();
                effects.at = drill_now;
                Ok((changes, effects))
            },
            &actor,
        )
        .await?;
    if timer.incident.is_some() {
        state.changes.publish(timer.incident);
    }
    Ok(outcome)
}

/// Swaps in the configuration reloaded from disk (the old one stays on any error), then
/// re-plans the armed timers of every open incident under it, each in its own transaction.
pub async fn reloaded(state: &AppState) -> Result<Arc<LoadedConfig>, Vec<String>> {
    let reloading = state.clone();
    let loaded = tokio::task::spawn_blocking(move || reloading.reload())
        .await
        .map_err(|e| vec![format!("reload task failed: {e}")])??;
    if let Err(e) = replan_open_incidents(state).await {
        tracing::error!(error = %e, "re-planning timers after the reload failed");
    }
    Ok(loaded)
}

async fn replan_open_incidents(state: &AppState) -> Result<(), StoreError> {
    let filter = IncidentFilter {
        open_only: true,
        limit: Some(500),
        ..IncidentFilter::default()
    };
    // One configuration, one set of overrides and one instant for the whole re-plan.
    let inputs = Inputs::read(state, state.clock.now()).await?;
    let (ctx, now) = (inputs.reactions(), inputs.now);
    let mut before = None;
    loop {
        let page = state
            .store
            .list_incidents(&IncidentFilter {
                before,
                ..filter.clone()
            })
            .await?;
        for incident in &page {
            state
                .store
                .update_with_policy(incident.id, "config-reload", now, |inc, policy_state| {
                    let drill_now = drill::drill_now(policy_state, now);
                    let ctx = ctx.at(drill_now.unwrap_or(now));
                    let (changes, mut effects) = ctx.reloaded(inc, policy_state).into_parts();
                    effects.at = drill_now;
                    Ok((changes, effects))
                })
                .await?;
            state.changes.publish(Some(incident.id));
        }
        match page.last() {
            Some(last) if page.len() >= 500 => before = Some(last.id),
            _ => return Ok(()),
        }
    }
}

/// The incident side of alert intake: declarations, acknowledgements and resolutions decided
/// by the core, with everything that follows them, inside the store's transaction. The
/// run-time overrides are read in that transaction, and only when a reaction needs them
/// (most group commits only store alerts).
pub struct AlertReactions<'a> {
    pub cfg: &'a LoadedConfig,
    overrides: OnceLock<RuntimeOverrides>,
    pub actor: String,
    pub now: Timestamp,
}

impl<'a> AlertReactions<'a> {
    pub fn new(cfg: &'a LoadedConfig, actor: String, now: Timestamp) -> Self {
        AlertReactions {
            cfg,
            overrides: OnceLock::new(),
            actor,
            now,
        }
    }

    /// The reactions with the overrides the store handed over. The store prepares the
    /// reactor before every reaction; should that ever be missed, no override is better than
    /// no reaction.
    fn reactions(&self) -> Reactions<'_> {
        static NONE: RuntimeOverrides = RuntimeOverrides::new();
        let overrides = self.overrides.get().unwrap_or_else(|| {
            tracing::error!("alert reaction without the run-time overrides loaded");
            &NONE
        });
        Reactions {
            cfg: self.cfg,
            overrides,
            now: self.now,
        }
    }
}

impl AlertReactor for AlertReactions<'_> {
    fn needs_overrides(&self) -> bool {
        self.overrides.get().is_none()
    }

    fn prepare(&self, overrides: Vec<ScheduleOverride>) {
        let _ = self.overrides.set(oncall::overrides_by_schedule(overrides));
    }

    fn declare(&self, signal: &AlertSignal) -> Result<Vec<Change>, StoreError> {
        let title = alert::incident_title(&signal.summary);
        declare_typed(
            &title,
            signal.severity,
            std::slice::from_ref(&signal.service),
            None,
            &self.cfg.vocab,
        )
        .map_err(StoreError::Domain)
    }

    fn declared(
        &self,
        incident: &Incident,
        state: &mut Value,
        declared: &[Change],
    ) -> (Vec<Change>, Effects) {
        self.reactions()
            .declared(incident, state, declared, &self.actor, Opener::Alert)
            .into_parts()
    }

    fn update(
        &self,
        incident: &Incident,
        state: &mut Value,
        action: IncidentAction,
    ) -> (Vec<Change>, Effects) {
        let command = match action {
            IncidentAction::Acknowledge => Command::Acknowledge,
            IncidentAction::Resolve => Command::Update {
                title: None,
                severity: None,
                status: Some(Status::Resolved),
                services: None,
            },
        };
        // A refusal (already acknowledged or resolved) means there is nothing left to do.
        let Ok(changes) = decide(incident, &command, &self.cfg.vocab) else {
            return (Vec::new(), Effects::default());
        };
        self.reactions()
            .changed(incident, state, &changes, &self.actor)
            .after(changes)
    }
}
