//! Conversions from the config model into the pure core's schedule and escalation types.

use muster_core::escalation as core_esc;
use muster_core::schedule as core;

use crate::model::{Config, EscalationPolicy, Schedule, Target};

impl Schedule {
    /// This schedule as the core resolves it. Fails only for an unknown time zone, which
    /// `muster check` already reports, so a loaded [`Config`]'s schedules always convert.
    pub fn to_core(&self) -> Result<core::Schedule, jiff::Error> {
        Ok(core::Schedule {
            id: self.id.clone(),
            time_zone: self.tz()?,
            layers: self
                .layers
                .iter()
                .map(|l| core::Layer {
                    name: l.name.clone(),
                    members: l.members.clone(),
                    shift: l.shift,
                    handoff: l.handoff.to_civil(),
                    start: l.start,
                    restrictions: l
                        .restrictions
                        .iter()
                        .map(|r| core::Restriction {
                            days: r.days.iter().map(|d| d.to_jiff()).collect(),
                            from: r.from.to_civil(),
                            to: r.to.to_civil(),
                        })
                        .collect(),
                })
                .collect(),
            overrides: self
                .overrides
                .iter()
                .map(|o| core::Override {
                    id: None,
                    person: o.person.clone(),
                    replaces: o.replaces.clone(),
                    from: o.from,
                    to: o.to,
                    reason: o.reason.clone(),
                })
                .collect(),
        })
    }
}

impl EscalationPolicy {
    /// This policy as the core plans it.
    pub fn to_core(&self) -> core_esc::EscalationPolicy {
        core_esc::EscalationPolicy {
            id: self.id.clone(),
            repeat: self.repeat,
            steps: self
                .steps
                .iter()
                .map(|s| core_esc::EscalationStep {
                    targets: s.targets.iter().map(Target::to_core).collect(),
                    delay: s.delay.to_signed(),
                })
                .collect(),
        }
    }
}

impl Target {
    pub fn to_core(&self) -> core_esc::EscalationTarget {
        match self {
            Target::Schedule(s) => core_esc::EscalationTarget::Schedule(s.clone()),
            Target::Person(s) => core_esc::EscalationTarget::Person(s.clone()),
            Target::Alias(s) => core_esc::EscalationTarget::Alias(s.clone()),
            Target::SlackChannel(s) => core_esc::EscalationTarget::SlackChannel(s.clone()),
        }
    }
}

impl Config {
    /// Schedule `id` converted for the core (`None`: no such schedule).
    pub fn core_schedule(&self, id: &str) -> Option<core::Schedule> {
        self.schedules.get(id).and_then(|s| s.to_core().ok())
    }

    /// Escalation policy `id` converted for the core.
    pub fn core_escalation_policy(&self, id: &str) -> Option<core_esc::EscalationPolicy> {
        self.escalation_policies
            .get(id)
            .map(EscalationPolicy::to_core)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    fn demo() -> crate::Config {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        crate::load(&dir).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn every_demo_schedule_and_policy_converts() {
        let c = demo();
        for (id, s) in &c.schedules {
            let core = c.core_schedule(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(core.layers.len(), s.layers.len());
            assert_eq!(core.overrides.len(), s.overrides.len());
        }
        for id in c.escalation_policies.keys() {
            let p = c
                .core_escalation_policy(id)
                .unwrap_or_else(|| panic!("{id}"));
            assert!(!p.steps.is_empty());
        }
    }
}
