//! Incident changes as the engine sees them: the one mapping every origin (the server's
//! reactions, headless drills) feeds the engine through.

use std::collections::BTreeMap;

use super::{Audience, Event};
use crate::timeline::Change;

/// The engine event an incident change means, if any.
pub fn event_of(change: &Change, actor: &str) -> Option<Event> {
    Some(match change {
        Change::Declared {
            severity,
            services,
            incident_type,
            ..
        } => Event::Declared {
            severity: *severity,
            services: services.clone(),
            incident_type: incident_type.clone(),
            labels: BTreeMap::new(),
        },
        Change::ResponderJoined { person } => Event::ResponderJoined {
            person: person.clone(),
        },
        Change::ResponderLeft { person } => Event::ResponderLeft {
            person: person.clone(),
        },
        Change::NudgeAcknowledged { key } => Event::NudgeAcknowledged { key: key.clone() },
        Change::NotificationAcknowledged {
            key, by, audience, ..
        } => Event::AudienceAcknowledged {
            key: key.clone(),
            audience: Audience::parse(audience)?,
            by: by.clone(),
        },
        Change::SeverityChanged { to, .. } => Event::SeverityChanged { to: *to },
        Change::StatusChanged { to, .. } | Change::Reopened { to } => {
            Event::StatusChanged { to: *to }
        }
        // The engine reaches `declared` from the Declared event itself; `declare` also
        // writes the milestone, which must not count twice.
        Change::MilestoneReached { milestone } if milestone == "declared" => return None,
        Change::MilestoneReached { milestone } if milestone == "status_update_posted" => {
            Event::StatusUpdatePosted {
                actor: actor.into(),
            }
        }
        Change::MilestoneReached { milestone } => Event::MilestoneReached {
            milestone: milestone.clone(),
            actor: actor.into(),
        },
        Change::RoleAssigned { role, person, .. } => Event::RoleAssigned {
            role: role.clone(),
            person: person.clone(),
        },
        Change::RoleReleased { role, .. } => Event::RoleReleased { role: role.clone() },
        Change::NoteAdded { .. } => Event::MessagePosted {
            person: actor.into(),
        },
        _ => return None,
    })
}
