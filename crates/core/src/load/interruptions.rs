//! Who was interrupted, when, and how: a timeline read into pages and nudges per person, and
//! the bucket of the day each falls in, in the person's own time zone.

use std::collections::BTreeMap;

use jiff::Timestamp;
use jiff::civil::{DateTime, Weekday};
use serde::Serialize;

use crate::engine::Action;
use crate::timeline::{Change, TimelineEvent};

/// PagerDuty's buckets of a person's day, in their own zone: business 08–18 on weekdays,
/// sleep 22–08 every day, off-hours the rest (weekday evenings 18–22, weekends 08–22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Business,
    OffHours,
    Sleep,
}

/// The bucket of a local wall-clock time.
pub fn bucket(local: DateTime) -> Bucket {
    let hour = local.hour();
    if !(8..22).contains(&hour) {
        return Bucket::Sleep;
    }
    let weekend = matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday);
    if weekend || hour >= 18 {
        Bucket::OffHours
    } else {
        Bucket::Business
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A page: an escalation step, or a policy's `page` action.
    Page,
    /// A nudge to the holder of a role.
    Nudge,
}

/// One person interrupted once by one incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interruption {
    pub person: String,
    pub at: Timestamp,
    pub kind: Kind,
}

/// The interruptions of one timeline, for the people `is_person` knows (aliases, channels
/// and drill stand-ins are not people). A person reached twice at one instant by the same
/// incident is interrupted once — a policy paging an escalation policy records both the
/// firing and the escalation's first step — and a page then outranks a nudge.
pub fn interruptions(
    timeline: &[TimelineEvent],
    is_person: impl Fn(&str) -> bool,
) -> Vec<Interruption> {
    let mut holders: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: BTreeMap<(String, Timestamp), Kind> = BTreeMap::new();
    for (i, e) in timeline.iter().enumerate() {
        match &e.change {
            Change::RoleAssigned { role, person, .. } => {
                holders.insert(role, person);
            }
            Change::RoleReleased { role, person }
                if holders.get(role.as_str()) == Some(&person.as_str()) =>
            {
                holders.remove(role.as_str());
            }
            Change::EscalationStep { paged, .. } => {
                for p in paged.iter().filter(|p| is_person(p)) {
                    note(&mut seen, p, e.at, Kind::Page);
                }
            }
            Change::PolicyFired {
                actions,
                recipients,
                ..
            } => {
                let assigned = assigned_by(&timeline[..i], e);
                for p in recipients.iter().filter(|p| is_person(p)) {
                    if let Some(kind) = reached_as(actions, &holders, &assigned, p) {
                        note(&mut seen, p, e.at, kind);
                    }
                }
            }
            _ => {}
        }
    }
    seen.into_iter()
        .map(|((person, at), kind)| Interruption { person, at, kind })
        .collect()
}

fn note(seen: &mut BTreeMap<(String, Timestamp), Kind>, person: &str, at: Timestamp, kind: Kind) {
    let slot = seen.entry((person.to_string(), at)).or_insert(kind);
    *slot = (*slot).min(kind);
}

/// How a firing's recipient was reached. Its recipients are one flat list for all its
/// actions, so: the holder of a nudged role was nudged; someone the firing gave a role was
/// assigned, not interrupted; anyone else was paged if the firing pages at all.
fn reached_as(
    actions: &[Action],
    holders: &BTreeMap<&str, &str>,
    assigned: &[&str],
    person: &str,
) -> Option<Kind> {
    let nudged = actions.iter().any(|a| match a {
        Action::Nudge { role, .. } => holders.get(role.as_str()) == Some(&person),
        _ => false,
    });
    if nudged {
        return Some(Kind::Nudge);
    }
    if assigned.contains(&person) {
        return None;
    }
    actions
        .iter()
        .any(|a| matches!(a, Action::Page { .. }))
        .then_some(Kind::Page)
}

/// People a firing assigned roles to: the `role_assigned` records by the same actor at the
/// same instant, written just before the firing's own record.
fn assigned_by<'a>(before: &'a [TimelineEvent], fired: &TimelineEvent) -> Vec<&'a str> {
    before
        .iter()
        .rev()
        .take_while(|e| e.at == fired.at)
        .filter(|e| e.actor == fired.actor)
        .filter_map(|e| match &e.change {
            Change::RoleAssigned { person, .. } => Some(person.as_str()),
            _ => None,
        })
        .collect()
}
