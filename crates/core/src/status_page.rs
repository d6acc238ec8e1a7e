//! The public status page's rules, pure: what a public incident's published updates say about
//! each component, the incident's impact and the page's overall indicator (in the words and
//! values of Atlassian Statuspage's public API, which status-page consumers already read).
//!
//! Only published updates count: a draft or an approved-but-unpublished update never changes
//! what the page says.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{DomainError, Status};

/// A public incident's status, as its updates set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
}

impl PublicStatus {
    pub const ALL: [PublicStatus; 4] = [
        PublicStatus::Investigating,
        PublicStatus::Identified,
        PublicStatus::Monitoring,
        PublicStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "investigating",
            PublicStatus::Identified => "identified",
            PublicStatus::Monitoring => "monitoring",
            PublicStatus::Resolved => "resolved",
        }
    }

    /// How the page shows it to people.
    pub fn label(self) -> &'static str {
        match self {
            PublicStatus::Investigating => "Investigating",
            PublicStatus::Identified => "Identified",
            PublicStatus::Monitoring => "Monitoring",
            PublicStatus::Resolved => "Resolved",
        }
    }
}

impl PublicStatus {
    /// Where a public update about an internal incident in `status` starts: the words of the
    /// customer draft for that status (investigating, cause identified, fix applied and
    /// monitoring, resolved).
    pub fn suggested_for(status: Status) -> PublicStatus {
        match status {
            Status::Triage | Status::Investigating => PublicStatus::Investigating,
            Status::Identified => PublicStatus::Identified,
            Status::Mitigated => PublicStatus::Monitoring,
            Status::Resolved => PublicStatus::Resolved,
        }
    }
}

/// A component's status. Declared from least to most severe, so `max` is the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::UnderMaintenance,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::UnderMaintenance => "under_maintenance",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
        }
    }

    /// How the page shows it to people (in text, never in colour alone).
    pub fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::UnderMaintenance => "Under maintenance",
            ComponentStatus::DegradedPerformance => "Degraded performance",
            ComponentStatus::PartialOutage => "Partial outage",
            ComponentStatus::MajorOutage => "Major outage",
        }
    }

    /// The incident impact a component in this state implies.
    pub fn impact(self) -> Impact {
        match self {
            ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Impact::None,
            ComponentStatus::DegradedPerformance => Impact::Minor,
            ComponentStatus::PartialOutage => Impact::Major,
            ComponentStatus::MajorOutage => Impact::Critical,
        }
    }
}

/// An incident's impact, and the page's indicator. Least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Impact {
    None,
    Minor,
    Major,
    Critical,
}

impl Impact {
    pub fn as_str(self) -> &'static str {
        match self {
            Impact::None => "none",
            Impact::Minor => "minor",
            Impact::Major => "major",
            Impact::Critical => "critical",
        }
    }

    /// Statuspage's description of the page indicator.
    pub fn page_description(self) -> &'static str {
        match self {
            Impact::None => "All Systems Operational",
            Impact::Minor => "Minor Service Outage",
            Impact::Major => "Partial System Outage",
            Impact::Critical => "Major Service Outage",
        }
    }
}

macro_rules! from_str_via_all {
    ($ty:ty, $all:expr, $field:literal) => {
        impl FromStr for $ty {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, DomainError> {
                $all.into_iter().find(|x| x.as_str() == s).ok_or_else(|| {
                    let names: Vec<&str> = $all.iter().map(|x| x.as_str()).collect();
                    DomainError::unknown($field, s, &names.join(", "))
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

from_str_via_all!(PublicStatus, PublicStatus::ALL, "status");
from_str_via_all!(ComponentStatus, ComponentStatus::ALL, "component status");

/// One component's status as an update states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentImpact {
    pub component: String,
    pub status: ComponentStatus,
}

/// A published update: what the page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published<'a> {
    pub status: PublicStatus,
    pub components: &'a [ComponentImpact],
    pub at: Timestamp,
}

/// What a public incident's published updates (oldest first) add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentSummary {
    pub status: PublicStatus,
    /// The worst a component was at any point.
    pub impact: Impact,
    /// When it was first published.
    pub started_at: Timestamp,
    pub updated_at: Timestamp,
    /// The first update in `monitoring`, if any.
    pub monitoring_at: Option<Timestamp>,
    /// The last update, when it says `resolved`.
    pub resolved_at: Option<Timestamp>,
}

/// `None` when nothing is published yet (the incident is not on the page).
pub fn summarize(published: &[Published<'_>]) -> Option<IncidentSummary> {
    let first = published.first()?;
    let last = published.last()?;
    let impact = published
        .iter()
        .flat_map(|u| u.components.iter().map(|c| c.status.impact()))
        .max()
        .unwrap_or(Impact::None);
    Some(IncidentSummary {
        status: last.status,
        impact,
        started_at: first.at,
        updated_at: last.at,
        monitoring_at: published
            .iter()
            .find(|u| u.status == PublicStatus::Monitoring)
            .map(|u| u.at),
        resolved_at: (last.status == PublicStatus::Resolved).then_some(last.at),
    })
}

/// The status each of an incident's updates says `component` had just before it (the status
/// the previous update stated, `operational` before the first). Same order as `published`.
pub fn previous_statuses(published: &[Published<'_>], component: &str) -> Vec<ComponentStatus> {
    let mut current = ComponentStatus::Operational;
    published
        .iter()
        .map(|u| {
            let before = current;
            if let Some(c) = u.components.iter().find(|c| c.component == component) {
                current = c.status;
            }
            before
        })
        .collect()
}

/// Each component an incident's published updates (oldest first) name, with the status its
/// latest mention states, in the order they were first named.
pub fn stated_components(published: &[Published<'_>]) -> Vec<ComponentImpact> {
    let mut out: Vec<ComponentImpact> = Vec::new();
    for c in published.iter().flat_map(|u| u.components.iter()) {
        match out.iter_mut().find(|o| o.component == c.component) {
            Some(o) => o.status = c.status,
            None => out.push(c.clone()),
        }
    }
    out
}

/// A component's status now: the worst its unresolved public incidents' latest updates say
/// (an incident's latest update naming it wins over its earlier ones). Each item of
/// `incidents` is one incident's published updates, oldest first.
pub fn component_status<'a>(
    component: &str,
    incidents: impl IntoIterator<Item = &'a [Published<'a>]>,
) -> ComponentStatus {
    incidents
        .into_iter()
        .filter(|updates| {
            updates
                .last()
                .is_some_and(|u| u.status != PublicStatus::Resolved)
        })
        .filter_map(|updates| {
            updates.iter().rev().find_map(|u| {
                u.components
                    .iter()
                    .find(|c| c.component == component)
                    .map(|c| c.status)
            })
        })
        .max()
        .unwrap_or(ComponentStatus::Operational)
}

/// The page's indicator: the worst of its components' statuses and its unresolved incidents'
/// impacts (an incident naming no component still shows as at least minor).
pub fn page_indicator(
    components: impl IntoIterator<Item = ComponentStatus>,
    unresolved: impl IntoIterator<Item = Impact>,
) -> Impact {
    let from_components = components.into_iter().map(ComponentStatus::impact);
    let from_incidents = unresolved.into_iter().map(|i| i.max(Impact::Minor));
    from_components
        .chain(from_incidents)
        .max()
        .unwrap_or(Impact::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(min: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + min * 60).unwrap()
    }

    fn impacts(list: &[(&str, ComponentStatus)]) -> Vec<ComponentImpact> {
        list.iter()
            .map(|(c, s)| ComponentImpact {
                component: c.to_string(),
                status: *s,
            })
            .collect()
    }

    #[test]
    fn summary_follows_the_published_updates() {
        let a = impacts(&[("payments", ComponentStatus::MajorOutage)]);
        let b = impacts(&[("payments", ComponentStatus::DegradedPerformance)]);
        let c = impacts(&[("payments", ComponentStatus::Operational)]);
        let updates = [
            Published {
                status: PublicStatus::Investigating,
                components: &a,
                at: at(0),
            },
            Published {
                status: PublicStatus::Monitoring,
                components: &b,
                at: at(10),
            },
            Published {
                status: PublicStatus::Resolved,
                components: &c,
                at: at(30),
            },
        ];
        let s = summarize(&updates).unwrap();
        assert_eq!(s.status, PublicStatus::Resolved);
        assert_eq!(s.impact, Impact::Critical);
        assert_eq!(s.started_at, at(0));
        assert_eq!(s.monitoring_at, Some(at(10)));
        assert_eq!(s.resolved_at, Some(at(30)));
        assert_eq!(
            previous_statuses(&updates, "payments"),
            vec![
                ComponentStatus::Operational,
                ComponentStatus::MajorOutage,
                ComponentStatus::DegradedPerformance
            ]
        );
        assert!(summarize(&[]).is_none());
        // Resolved: the component is operational again.
        assert_eq!(
            component_status("payments", [&updates[..]]),
            ComponentStatus::Operational
        );
        // Still monitoring: the latest update naming it wins.
        assert_eq!(
            component_status("payments", [&updates[..2]]),
            ComponentStatus::DegradedPerformance
        );
    }

    #[test]
    fn indicator_is_the_worst_of_components_and_open_incidents() {
        assert_eq!(
            page_indicator([ComponentStatus::Operational], []),
            Impact::None
        );
        assert_eq!(
            page_indicator([ComponentStatus::PartialOutage], [Impact::Minor]),
            Impact::Major
        );
        assert_eq!(page_indicator([], [Impact::None]), Impact::Minor);
        assert_eq!(
            "degraded_performance".parse::<ComponentStatus>().unwrap(),
            ComponentStatus::DegradedPerformance
        );
        assert!("broken".parse::<PublicStatus>().is_err());
    }

    #[test]
    fn stated_components_keep_each_latest_mention() {
        let a = impacts(&[
            ("payments", ComponentStatus::MajorOutage),
            ("website", ComponentStatus::DegradedPerformance),
        ]);
        let b = impacts(&[("payments", ComponentStatus::Operational)]);
        let updates = [
            Published {
                status: PublicStatus::Investigating,
                components: &a,
                at: at(0),
            },
            Published {
                status: PublicStatus::Monitoring,
                components: &b,
                at: at(10),
            },
        ];
        assert_eq!(
            stated_components(&updates),
            impacts(&[
                ("payments", ComponentStatus::Operational),
                ("website", ComponentStatus::DegradedPerformance),
            ])
        );
        assert!(stated_components(&[]).is_empty());
    }

    #[test]
    fn a_draft_starts_from_the_internal_status() {
        assert_eq!(
            PublicStatus::suggested_for(Status::Triage),
            PublicStatus::Investigating
        );
        assert_eq!(
            PublicStatus::suggested_for(Status::Identified),
            PublicStatus::Identified
        );
        assert_eq!(
            PublicStatus::suggested_for(Status::Mitigated),
            PublicStatus::Monitoring
        );
        assert_eq!(
            PublicStatus::suggested_for(Status::Resolved),
            PublicStatus::Resolved
        );
    }
}
