//! Playbooks at declaration: every playbook whose `match` accepts the new incident adds its
//! checklist tasks to the incident and queues its aliases' notifications, in the declaration's
//! transaction, for incidents declared through the API and opened by alerts alike.

use muster_config::Config;
use muster_core::{Change, Incident};
use muster_store::Effects;

/// Appends the matching playbooks' tasks to `changes` (after any task a policy already
/// added; a title already on the checklist is not added twice) and their notifications to
/// `effects`.
pub fn on_declared(
    config: &Config,
    incident: &Incident,
    changes: &mut Vec<Change>,
    effects: &mut Effects,
) {
    let mut last = incident.tasks.iter().map(|t| t.id).max().unwrap_or(0);
    let mut titles: Vec<String> = incident.tasks.iter().map(|t| t.title.clone()).collect();
    for change in changes.iter() {
        if let Change::TaskAdded { task_id, title, .. } = change {
            last = last.max(*task_id);
            titles.push(title.clone());
        }
    }
    let playbooks = config.playbooks_for(
        incident.severity,
        incident.incident_type.as_deref(),
        &incident.services,
    );
    for pb in playbooks {
        for title in &pb.tasks {
            if titles.contains(title) {
                continue;
            }
            last += 1;
            titles.push(title.clone());
            changes.push(Change::TaskAdded {
                task_id: last,
                title: title.clone(),
                assignee: None,
            });
        }
    }
    effects
        .outbox
        .extend(crate::deliver::playbook_items(config, incident));
}
