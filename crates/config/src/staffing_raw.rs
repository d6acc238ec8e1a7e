//! The `staffing` section as read from YAML, with locations (see `validate/staffing.rs`).

use serde::Deserialize;

use crate::diagnostic::S;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Staffing {
    /// The zone the arrival shapes' hours are read in.
    pub time_zone: Option<S>,
    #[serde(default)]
    pub arrivals: Vec<Arrival>,
    #[serde(default)]
    pub hands_on: Vec<HandsOn>,
    pub ack_delay: Option<AckDelay>,
    pub absence: Option<S>,
    #[serde(default)]
    pub people: Vec<PersonOverride>,
    pub busy: Option<S>,
    #[serde(default)]
    pub slos: Vec<Slo>,
    #[serde(default)]
    pub functional: Vec<Functional>,
    pub sweep: Option<Sweep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Arrival {
    pub severity: S,
    pub per_week: S,
    /// `flat`, `business_hours` or `off_hours`.
    pub shape: Option<S>,
    /// 24 (hour of day) or 168 (hour of week) weights instead of a named shape.
    #[serde(default)]
    pub weights: Vec<S>,
    #[serde(default)]
    pub services: Vec<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Delay {
    pub median: S,
    pub p90: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandsOn {
    pub severity: S,
    pub median: S,
    pub p90: S,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckDelay {
    pub awake: Option<Delay>,
    pub commuting: Option<Delay>,
    pub asleep: Option<Delay>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PersonOverride {
    pub person: S,
    pub awake: Option<Delay>,
    pub commuting: Option<Delay>,
    pub asleep: Option<Delay>,
    pub absence: Option<S>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Slo {
    pub rotation: S,
    pub severity: S,
    pub ack_within: S,
    pub target: S,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Functional {
    pub name: S,
    pub alias: Option<S>,
    pub schedule: Option<S>,
    #[serde(default)]
    pub severities: Vec<S>,
    pub within: S,
    pub target: S,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Sweep {
    #[serde(default)]
    pub sites: Vec<S>,
}
