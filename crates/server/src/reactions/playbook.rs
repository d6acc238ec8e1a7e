//! Playbooks at declaration: every playbook whose `match` accepts the new incident adds its
//! checklist tasks to the incident and queues its aliases' notifications, in the declaration's
//! transaction, for every way an incident is opened.

use muster_config::Config;
use muster_core::engine::{Action, Audience};
use muster_core::{Change, Incident};

use super::Followup;
use crate::effect::{Effect, Message, Origin};

/// The audiences the matching playbooks notify, each with its notification's idempotency key
/// (a deadline expecting their acknowledgement counts from then).
pub fn audiences(config: &Config, incident: &Incident) -> Vec<(String, Audience)> {
    config
        .playbooks_for(
            incident.severity,
            incident.incident_type.as_deref(),
            &incident.services,
        )
        .flat_map(|pb| {
            pb.notify.iter().map(|n| {
                let key = notify_key(&pb.id, &n.alias);
                (key, Audience::Alias(n.alias.clone()))
            })
        })
        .collect()
}

/// A playbook notification's idempotency key (the outbox's, without the incident's prefix).
fn notify_key(playbook: &str, alias: &str) -> String {
    format!("playbook:{playbook}:{alias}")
}

/// The matching playbooks' tasks (after any task `so_far` already added; a title already on
/// the checklist is not added twice) and their notifications, one `notify` per alias, keyed
/// so a repeat never queues twice.
pub fn on_declared(config: &Config, incident: &Incident, so_far: &Followup) -> Followup {
    let mut out = Followup::default();
    let mut last = incident.tasks.iter().map(|t| t.id).max().unwrap_or(0);
    let mut titles: Vec<&str> = incident.tasks.iter().map(|t| t.title.as_str()).collect();
    for change in so_far.changes() {
        if let Change::TaskAdded { task_id, title, .. } = change {
            last = last.max(*task_id);
            titles.push(title);
        }
    }
    let playbooks = config.playbooks_for(
        incident.severity,
        incident.incident_type.as_deref(),
        &incident.services,
    );
    let mut added = Vec::new();
    for pb in playbooks {
        for title in &pb.tasks {
            if titles.contains(&title.as_str()) || added.contains(&title) {
                continue;
            }
            last += 1;
            added.push(title);
            let task = Change::TaskAdded {
                task_id: last,
                title: title.clone(),
                assignee: None,
            };
            out.push(Some(format!("playbook:{}", pb.id)), task);
        }
        for n in &pb.notify {
            let notify = Effect::Notify(Message {
                incident: Some(incident.id.to_string()),
                to: vec![format!("alias:{}", n.alias)],
                exercise: incident.exercise,
                origin: Origin::Policy {
                    policy: format!("playbook:{}", pb.id),
                    reason: format!("playbook {} on declaration", pb.id),
                    action: Some(Action::Notify {
                        alias: n.alias.clone(),
                        template: n.template.clone(),
                    }),
                    depth: 0,
                    playbook: Some(pb.id.clone()),
                },
            });
            let key = format!("{}/{}", incident.id, notify_key(&pb.id, &n.alias));
            out.outbox(notify.item(key, Some(incident.id)));
        }
    }
    out
}
