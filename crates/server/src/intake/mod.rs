//! Alert intake: the sources' payloads turned into [`AlertSignal`]s (one parser per source,
//! pure and fuzzable), the integration looked up by its key in constant time, and the
//! [`Reactor`] through which the store opens, acknowledges and resolves incidents under the
//! configuration and policies in force.

pub mod alertmanager;
pub mod batch;
pub mod generic;
pub mod heartbeat;
pub mod pagerduty;

use jiff::Timestamp;
use muster_config::{Integration, IntegrationType};
use muster_core::alert::{self, AlertAction, AlertSignal, Labels, Route};
use muster_core::{Change, Command, Incident, Status, decide, declare_typed};
use std::sync::OnceLock;

use muster_store::{AlertReactor, Effects, IncidentAction, ScheduleOverride, StoreError};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::LoadedConfig;
use crate::policy::{self, RuntimeOverrides};

/// Limits on one alert, so a runaway label set cannot fill the database.
pub const MAX_LABELS: usize = 128;
pub const MAX_LABEL_BYTES: usize = 4096;
/// The most alerts one request may carry.
pub const MAX_ALERTS_PER_REQUEST: usize = 1000;

/// The integration whose key is `key`. Every configured key is compared (as SHA-256 digests,
/// in constant time), so neither timing nor length tells an attacker how close a guess was.
pub fn integration_by_key<'a>(cfg: &'a LoadedConfig, key: &str) -> Option<&'a Integration> {
    let wanted = Sha256::digest(key.as_bytes());
    let mut found = None;
    for integration in cfg.config.integrations.values() {
        let have = Sha256::digest(integration.key.expose().as_bytes());
        if bool::from(have.ct_eq(&wanted)) {
            found = Some(integration);
        }
    }
    found
}

/// An alert as a parser sees it, before routing.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAlert {
    pub action: AlertAction,
    /// `None`: derived from the labels.
    pub dedup_key: Option<String>,
    pub summary: String,
    pub severity: Option<String>,
    pub labels: Labels,
    pub annotations: Labels,
    pub payload: Value,
}

/// Checks the size limits; the message names what is too big.
pub fn check_limits(raw: &RawAlert) -> Result<(), String> {
    for (what, map) in [("labels", &raw.labels), ("annotations", &raw.annotations)] {
        if map.len() > MAX_LABELS {
            return Err(format!("too many {what} (at most {MAX_LABELS})"));
        }
        if let Some((k, _)) = map
            .iter()
            .find(|(k, v)| k.len() > MAX_LABEL_BYTES || v.len() > MAX_LABEL_BYTES)
        {
            let k: String = k.chars().take(64).collect();
            return Err(format!(
                "{what} `{k}` too long (at most {MAX_LABEL_BYTES} bytes)"
            ));
        }
    }
    if raw.summary.len() > MAX_LABEL_BYTES {
        return Err(format!(
            "summary too long (at most {MAX_LABEL_BYTES} bytes)"
        ));
    }
    Ok(())
}

/// Routes and maps a parsed alert with its integration's rules.
pub fn signal(integration: &Integration, raw: RawAlert) -> Result<AlertSignal, String> {
    check_limits(&raw)?;
    let routes: Vec<Route<'_>> = integration
        .routes
        .iter()
        .map(|r| Route {
            matches: &r.matches,
            service: &r.service,
        })
        .collect();
    let service = alert::route(&raw.labels, &routes, integration.service.as_deref())
        .ok_or("no route matches the alert's labels and the integration has no service")?
        .to_string();
    let dedup_key = raw
        .dedup_key
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| alert::labels_key(&raw.labels));
    let group_key = alert::group_key(&integration.group_by, &raw.labels, &dedup_key);
    Ok(AlertSignal {
        integration: integration.id.clone(),
        action: raw.action,
        severity: alert::severity(raw.severity.as_deref(), &integration.severity_map),
        dedup_key,
        group_key,
        service,
        summary: raw.summary,
        labels: raw.labels,
        annotations: raw.annotations,
        payload: raw.payload,
        group_window: integration.group_window.map(|d| d.to_signed()),
        auto_resolve: integration.auto_resolve,
    })
}

/// Whether an integration of type `kind` may receive on an endpoint of type `endpoint`.
pub fn accepts(integration: &Integration, endpoint: IntegrationType) -> bool {
    integration.kind == endpoint
}

/// The incident side of intake: declarations, acknowledgements and resolutions decided by
/// the core and reacted to by the policies, inside the store's transaction. The run-time
/// overrides the policies page by are read in that transaction, and only when a reaction
/// needs them (most group commits only store alerts).
pub struct Reactor<'a> {
    pub cfg: &'a LoadedConfig,
    overrides: OnceLock<RuntimeOverrides>,
    pub actor: String,
    pub now: Timestamp,
}

impl<'a> Reactor<'a> {
    pub fn new(cfg: &'a LoadedConfig, actor: String, now: Timestamp) -> Self {
        Reactor {
            cfg,
            overrides: OnceLock::new(),
            actor,
            now,
        }
    }

    /// The overrides the store handed over. The store prepares the reactor before every
    /// reaction; should that ever be missed, no override is better than no reaction.
    fn overrides(&self) -> &RuntimeOverrides {
        static NONE: RuntimeOverrides = RuntimeOverrides::new();
        self.overrides.get().unwrap_or_else(|| {
            tracing::error!("alert reaction without the run-time overrides loaded");
            &NONE
        })
    }
}

impl AlertReactor for Reactor<'_> {
    fn needs_overrides(&self) -> bool {
        self.overrides.get().is_none()
    }

    fn prepare(&self, overrides: Vec<ScheduleOverride>) {
        let _ = self.overrides.set(policy::overrides_by_schedule(overrides));
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
        let (mut changes, mut effects) = policy::react_alert_declared(
            self.cfg,
            self.overrides(),
            incident,
            state,
            declared,
            &self.actor,
            self.now,
        );
        crate::playbook::on_declared(&self.cfg.config, incident, &mut changes, &mut effects);
        (changes, effects)
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
        let Ok(mut changes) = decide(incident, &command, &self.cfg.vocab) else {
            return (Vec::new(), Effects::default());
        };
        let (more, effects) = policy::react(
            self.cfg,
            self.overrides(),
            incident,
            state,
            &changes,
            &self.actor,
            self.now,
        );
        changes.extend(more);
        (changes, effects)
    }
}
