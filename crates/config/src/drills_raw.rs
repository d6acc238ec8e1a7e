//! What `drills/*.yaml` (scenarios) and `drills/profiles/*.yaml` (scripted participants)
//! deserialize into, with locations. Checked by `validate/drills.rs`; format in `README.md`.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::raw::S;

/// One scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    pub id: S,
    pub title: S,
    pub briefing: Option<String>,
    /// `HH:MM`, local to `time_zone` (default `00:00`).
    pub starts_at: Option<S>,
    pub time_zone: Option<S>,
    pub length: S,
    pub incident: Opening,
    #[serde(default)]
    pub personas: Vec<Persona>,
    #[serde(default)]
    pub play: Vec<S>,
    /// Default players: role or persona → person id.
    #[serde(default)]
    pub players: BTreeMap<String, S>,
    #[serde(default)]
    pub injects: Vec<Spanned<Inject>>,
    #[serde(default)]
    pub targets: Vec<Spanned<Target>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Opening {
    pub title: S,
    pub severity: S,
    pub service: Option<S>,
    #[serde(default)]
    pub services: Vec<S>,
    #[serde(rename = "type")]
    pub incident_type: Option<S>,
    /// The summary of the alert that opens it (else a person declares it).
    pub alert: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Persona {
    pub id: S,
    pub name: Option<String>,
    pub kind: S,
}

/// Exactly one of the kinds is given.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Inject {
    pub at: S,
    pub unless: Option<Condition>,
    pub alert: Option<Alert>,
    pub alert_resolves: Option<Alert>,
    pub message: Option<Message>,
    pub bring_in: Option<Role>,
    pub recovers: Option<Service>,
    pub unreachable: Option<Role>,
    pub severity: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Condition {
    pub milestone: S,
    pub before: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Alert {
    pub service: S,
    pub summary: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Message {
    pub from: S,
    pub to: S,
    pub text: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Role {
    pub role: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Service {
    pub service: S,
}

/// A milestone or a role, reached or joined `within`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    pub milestone: Option<S>,
    pub role: Option<S>,
    pub within: S,
}

/// One profile file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    pub id: S,
    pub description: Option<String>,
    pub scenario: Option<S>,
    #[serde(default)]
    pub steps: Vec<Spanned<Step>>,
    pub expect: Option<Expect>,
}

/// `by` acts at `at`: exactly one of `do`, `milestone`, `status`, `severity`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Step {
    pub at: S,
    pub by: S,
    #[serde(rename = "do")]
    pub act: Option<S>,
    pub milestone: Option<S>,
    pub status: Option<S>,
    pub severity: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    #[serde(default)]
    pub policies: BTreeMap<String, S>,
    #[serde(default)]
    pub targets: BTreeMap<String, S>,
    pub score: Option<S>,
}
