//! The validated `staffing` section and its conversion into the core's simulation model
//! (`muster_core::staffing::Model`): schedules, escalation policies and people from the rest of
//! the configuration, zones resolved here (the core reads no time-zone database).

use std::collections::BTreeMap;

use muster_core::staffing as core;
use serde::Serialize;

use muster_core::Severity;

use crate::Duration;

/// A lognormal delay: median and 90th percentile.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Delay {
    pub median: Duration,
    pub p90: Duration,
}

impl Delay {
    pub fn to_core(self) -> core::LogNormal {
        core::LogNormal {
            median: self.median.as_secs() as f64,
            p90: self.p90.as_secs() as f64,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Arrival {
    pub severity: Severity,
    pub per_week: f64,
    /// 168 weights from Monday 00:00 in the section's `time_zone`.
    pub shape: Vec<f64>,
    /// Where incidents land (empty: every service with an escalation policy).
    pub services: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BusyRule {
    /// A busy responder acknowledges once free.
    Wait,
    /// A busy responder acknowledges this much later.
    Extra(Duration),
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PersonStaffing {
    pub awake: Option<Delay>,
    pub commuting: Option<Delay>,
    pub asleep: Option<Delay>,
    pub absence: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StaffingSlo {
    /// An escalation policy or schedule id.
    pub rotation: String,
    pub severity: Severity,
    pub ack_within: Duration,
    pub target: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct FunctionalSlo {
    pub name: String,
    pub alias: Option<String>,
    pub schedule: Option<String>,
    pub severities: Vec<Severity>,
    pub within: Duration,
    pub target: f64,
}

/// The `staffing` section, checked.
#[derive(Clone, Debug, Serialize)]
pub struct Staffing {
    pub time_zone: String,
    pub arrivals: Vec<Arrival>,
    pub hands_on: BTreeMap<Severity, Delay>,
    pub awake: Delay,
    pub commuting: Delay,
    pub asleep: Delay,
    pub absence: f64,
    pub people: BTreeMap<String, PersonStaffing>,
    pub busy: BusyRule,
    pub slos: Vec<StaffingSlo>,
    pub functional: Vec<FunctionalSlo>,
    /// Zones of the sweep's home and second site.
    pub sweep_sites: Vec<String>,
}

/// Hands-on time when the section does not say (median, p90).
pub fn default_hands_on(s: Severity) -> Delay {
    let (m, p) = match s {
        Severity::Sev1 => (120, 360),
        Severity::Sev2 => (60, 180),
        Severity::Sev3 => (30, 120),
        Severity::Sev4 => (15, 60),
    };
    Delay {
        median: Duration::from_mins(m),
        p90: Duration::from_mins(p),
    }
}

/// Named arrival shapes over the 168 hours of a week (Monday 00:00 first).
pub fn named_shape(name: &str) -> Option<Vec<f64>> {
    let business = |h: usize| h / 24 < 5 && (8..18).contains(&(h % 24));
    let f: fn(bool) -> f64 = match name {
        "flat" => |_| 1.0,
        "business_hours" => |b| if b { 3.0 } else { 1.0 },
        "off_hours" => |b| if b { 1.0 } else { 2.0 },
        _ => return None,
    };
    Some((0..168).map(|h| f(business(h))).collect())
}

pub const SHAPES: [&str; 3] = ["flat", "business_hours", "off_hours"];
