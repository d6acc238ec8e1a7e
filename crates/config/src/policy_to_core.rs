//! The checked config policies as the engine's plain policies (`muster_core::engine`).

use muster_core::engine;

use crate::model::{Conditions, Config, Event, Policy, Trigger};

impl Config {
    /// Every policy in id order, as the engine runs them.
    pub fn engine_policies(&self) -> Vec<engine::Policy> {
        self.policies.values().map(to_core).collect()
    }

    /// The names commands are checked against: roles, milestones, services, people.
    pub fn vocabulary(&self) -> muster_core::Vocabulary {
        muster_core::Vocabulary {
            roles: self.roles.clone(),
            milestones: self.milestones.clone(),
            services: self.services.keys().cloned().collect(),
            people: self.people.keys().cloned().collect(),
        }
    }
}

/// One config policy as an engine policy.
pub fn to_core(p: &Policy) -> engine::Policy {
    engine::Policy {
        id: p.id.clone(),
        when: conditions(&p.when),
        trigger: trigger(&p.trigger),
        on_warn: p.on_warn.clone(),
        on_missed: p.on_missed.clone(),
        actions: p.actions.clone(),
    }
}

fn conditions(c: &Conditions) -> engine::Conditions {
    engine::Conditions {
        severity: c.severity.clone(),
        services: c.services.clone(),
        status: c.status.clone(),
        incident_type: c.incident_type.clone(),
        labels: c.labels.clone(),
    }
}

fn trigger(t: &Trigger) -> engine::Trigger {
    match t {
        Trigger::Deadline {
            within,
            of,
            expect,
            warn_before,
        } => engine::Trigger::Deadline {
            within: within.to_signed(),
            of: of.clone(),
            expect: expect.clone(),
            warn_before: warn_before.map(|d| d.to_signed()),
        },
        Trigger::OnEvent(e) => engine::Trigger::OnEvent(match e {
            Event::Milestone(m) => engine::EventTrigger::Milestone(m.clone()),
            Event::Status(s) => engine::EventTrigger::Status(*s),
            Event::SeverityChanged => engine::EventTrigger::SeverityChanged,
        }),
        Trigger::Cadence {
            every,
            reset_on,
            while_,
            escalate_after,
            escalate_to,
        } => engine::Trigger::Cadence {
            every: every.to_signed(),
            reset_on: reset_on.clone(),
            while_: conditions(while_),
            escalate_after: escalate_after.map(|d| d.to_signed()),
            escalate_to: escalate_to.clone(),
        },
        Trigger::SoloResponder { for_ } => engine::Trigger::SoloResponder {
            for_: for_.to_signed(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn demo_policies_convert() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        let config = crate::load(&dir).expect("demo config loads");
        let policies = config.engine_policies();
        assert_eq!(policies.len(), config.policies.len());
        let br = policies
            .iter()
            .find(|p| p.id == "blast-radius-20m")
            .expect("seed policy");
        assert_eq!(
            br.trigger,
            engine::Trigger::Deadline {
                within: jiff::SignedDuration::from_mins(20),
                of: "declared".into(),
                expect: "blast_radius_validated".into(),
                warn_before: Some(jiff::SignedDuration::from_mins(5)),
            }
        );
        assert_eq!(br.on_missed.len(), 2);
        let cadence = policies
            .iter()
            .find(|p| p.id == "sev1-status-updates")
            .expect("cadence policy");
        assert!(matches!(
            &cadence.trigger,
            engine::Trigger::Cadence { escalate_to: Some(engine::Recipient::Role(r)), .. }
                if r == "incident_commander"
        ));
    }
}
