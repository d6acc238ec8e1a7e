//! The `staffing` section as the core's simulation model: people, schedules and escalation
//! policies of the configuration resolved into `muster_core::staffing` types (kept apart from
//! the section's types in `staffing.rs`, which the configuration model holds).

use muster_core::staffing::{self as core, history::Fitted};

use crate::model::{Config, Severity, Target};
use crate::staffing::*;

fn tz(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name).map_err(|e| format!("time zone `{name}`: {e}"))
}

impl Config {
    /// The simulation model of this configuration's `staffing` section over `weeks` weeks from
    /// `start`; arrivals and hands-on time from `fitted` history where given.
    pub fn staffing_model(
        &self,
        start: jiff::Timestamp,
        weeks: u32,
        fitted: Option<&Fitted>,
    ) -> Result<core::Model, String> {
        let st = self
            .staffing
            .as_ref()
            .ok_or("the configuration has no staffing section (add staffing.yaml)")?;
        let person_ids: Vec<&String> = self.people.keys().collect();
        let person = |id: &str| person_ids.iter().position(|p| *p == id);
        let schedule_ids: Vec<&String> = self.schedules.keys().collect();
        let schedule = |id: &str| schedule_ids.iter().position(|s| *s == id);
        let policy_ids: Vec<&String> = self.escalation_policies.keys().collect();
        let policy = |id: &str| policy_ids.iter().position(|p| *p == id);
        let mut people = Vec::with_capacity(person_ids.len());
        for p in self.people.values() {
            people.push(self.responder(st, p)?);
        }
        let mut schedules = Vec::new();
        for s in self.schedules.values() {
            schedules.push(
                s.to_core()
                    .map_err(|e| format!("schedule `{}`: {e}", s.id))?,
            );
        }
        let alias_targets = |id: &str| -> Vec<core::Target> {
            let Some(a) = self.aliases.get(id) else {
                return Vec::new();
            };
            let mut out: Vec<core::Target> = a
                .people
                .iter()
                .chain(
                    a.teams
                        .iter()
                        .filter_map(|t| self.teams.get(t))
                        .flat_map(|t| t.members.iter()),
                )
                .filter_map(|p| person(p).map(core::Target::Person))
                .collect();
            out.extend(
                a.schedules
                    .iter()
                    .filter_map(|s| schedule(s).map(core::Target::Schedule)),
            );
            out.dedup();
            out
        };
        let policies: Vec<core::Policy> = self
            .escalation_policies
            .values()
            .map(|p| core::Policy {
                id: p.id.clone(),
                repeat: p.repeat,
                steps: p
                    .steps
                    .iter()
                    .map(|s| core::Step {
                        targets: s
                            .targets
                            .iter()
                            .flat_map(|t| match t {
                                Target::Schedule(id) => schedule(id)
                                    .map(core::Target::Schedule)
                                    .into_iter()
                                    .collect(),
                                Target::Person(id) => {
                                    person(id).map(core::Target::Person).into_iter().collect()
                                }
                                Target::Alias(id) => alias_targets(id),
                                Target::SlackChannel(_) => Vec::new(),
                            })
                            .collect(),
                        delay: s.delay.as_secs() as f64,
                    })
                    .collect(),
            })
            .collect();
        let service_policy = |svc: &str| {
            self.services
                .get(svc)
                .and_then(|s| s.escalation_policy.as_deref())
                .and_then(policy)
        };
        let all_services: Vec<String> = self
            .services
            .values()
            .filter(|s| s.escalation_policy.is_some())
            .map(|s| s.id.clone())
            .collect();
        let land = |services: &[(String, f64)]| -> Vec<(usize, f64)> {
            services
                .iter()
                .filter_map(|(s, w)| service_policy(s).map(|p| (p, *w)))
                .collect()
        };
        let even = |services: &[String]| -> Vec<(String, f64)> {
            let list = if services.is_empty() {
                &all_services
            } else {
                services
            };
            list.iter().map(|s| (s.clone(), 1.0)).collect()
        };
        let streams: Vec<core::Stream> = match fitted {
            Some(f) => f
                .streams
                .iter()
                .map(|s| core::Stream {
                    severity: s.severity,
                    per_week: s.per_week,
                    shape: s.shape.clone(),
                    policies: {
                        let known = land(&s.services);
                        if known.is_empty() {
                            land(&even(&[]))
                        } else {
                            known
                        }
                    },
                })
                .collect(),
            None => st
                .arrivals
                .iter()
                .map(|a| core::Stream {
                    severity: a.severity,
                    per_week: a.per_week,
                    shape: a.shape.clone(),
                    policies: land(&even(&a.services)),
                })
                .collect(),
        };
        let hands_on = Severity::ALL
            .iter()
            .map(|s| {
                let fit = fitted.and_then(|f| f.hands_on.iter().find(|(x, _)| x == s));
                let d = match fit {
                    Some((_, d)) => *d,
                    None => st
                        .hands_on
                        .get(s)
                        .copied()
                        .unwrap_or_else(|| default_hands_on(*s))
                        .to_core(),
                };
                (*s, d)
            })
            .collect();
        let slos = st
            .slos
            .iter()
            .map(|s| core::Slo {
                rotation: s.rotation.clone(),
                policies: self.rotation_policies(&s.rotation, &policy_ids),
                severity: s.severity,
                within: s.ack_within.as_secs() as f64,
                target: s.target,
            })
            .collect();
        let functional = st
            .functional
            .iter()
            .map(|f| core::Functional {
                name: f.name.clone(),
                targets: match (&f.alias, &f.schedule) {
                    (Some(a), _) => alias_targets(a),
                    (None, Some(s)) => schedule(s)
                        .map(core::Target::Schedule)
                        .into_iter()
                        .collect(),
                    (None, None) => Vec::new(),
                },
                severities: f.severities.clone(),
                within: f.within.as_secs() as f64,
                target: f.target,
            })
            .collect();
        Ok(core::Model {
            start,
            weeks,
            shape_zone: tz(&st.time_zone)?,
            people,
            schedules,
            policies,
            streams,
            hands_on: core::HandsOn::LogNormal(hands_on),
            busy: match st.busy {
                BusyRule::Wait => core::Busy::Wait,
                BusyRule::Extra(d) => core::Busy::Extra(d.as_secs() as f64),
            },
            slos,
            functional,
        })
    }

    /// The policies an SLO's rotation covers: the policy itself, or those whose first step
    /// pages the schedule.
    fn rotation_policies(&self, rotation: &str, policy_ids: &[&String]) -> Vec<usize> {
        policy_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| {
                id.as_str() == rotation
                    || self.escalation_policies.get(id.as_str()).is_some_and(|p| {
                        p.steps.first().is_some_and(|s| {
                            s.targets
                                .iter()
                                .any(|t| matches!(t, Target::Schedule(x) if x == rotation))
                        })
                    })
            })
            .map(|(i, _)| i)
            .collect()
    }

    fn responder(
        &self,
        st: &Staffing,
        p: &crate::model::Person,
    ) -> Result<core::Responder, String> {
        let o = st.people.get(&p.id).cloned().unwrap_or_default();
        let first_channel = p
            .notification_rules
            .iter()
            .map(|r| r.after.as_secs())
            .min()
            .unwrap_or(0);
        Ok(core::Responder {
            id: p.id.clone(),
            zone: tz(&p.time_zone)?,
            ack: core::AckDelays {
                awake: o.awake.unwrap_or(st.awake).to_core(),
                commuting: o.commuting.unwrap_or(st.commuting).to_core(),
                asleep: o.asleep.unwrap_or(st.asleep).to_core(),
            },
            first_channel: first_channel as f64,
            absence: o.absence.unwrap_or(st.absence),
        })
    }

    /// What the sweep keeps of SLO rotation `rotation` in `model`: its policy and its sites.
    pub fn sweep_spec(
        &self,
        model: &core::Model,
        rotation: &str,
    ) -> Result<core::sweep::Spec, String> {
        let st = self
            .staffing
            .as_ref()
            .ok_or("the configuration has no staffing section")?;
        let slo = model
            .slos
            .iter()
            .find(|s| s.rotation == rotation)
            .ok_or_else(|| format!("no staffing SLO names rotation `{rotation}`"))?;
        let policy = *slo
            .policies
            .first()
            .ok_or_else(|| format!("rotation `{rotation}` pages through no escalation policy"))?;
        let home_zone = model.policies[policy]
            .steps
            .first()
            .and_then(|s| s.targets.first())
            .and_then(|t| match t {
                core::Target::Schedule(i) => model.schedules[*i].time_zone.iana_name(),
                core::Target::Person(i) => model.people[*i].zone.iana_name(),
            })
            .filter(|z| *z != "Etc/UTC" && *z != "UTC")
            .unwrap_or("Europe/London")
            .to_string();
        let home = st.sweep_sites.first().cloned().unwrap_or(home_zone);
        let away = st
            .sweep_sites
            .get(1)
            .cloned()
            .unwrap_or_else(|| "Australia/Sydney".to_string());
        Ok(core::sweep::Spec {
            policy,
            home: tz(&home)?,
            away: tz(&away)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use muster_core::staffing::Target;

    fn demo() -> crate::Config {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        crate::load(&dir).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn the_demo_staffing_section_becomes_a_model() {
        let c = demo();
        let start = "2026-01-05T00:00:00Z"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        let m = c
            .staffing_model(start, 4, None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.streams.len(), 4);
        // SEV4 lands on three services: web-frontend and cdn (platform), status-page (comms)
        let sev4: Vec<&str> = m.streams[3]
            .policies
            .iter()
            .map(|(p, _)| m.policies[*p].id.as_str())
            .collect();
        assert_eq!(
            sev4,
            [
                "platform-escalation",
                "platform-escalation",
                "comms-escalation"
            ]
        );
        let slo_policies: Vec<&str> = m
            .slos
            .iter()
            .map(|s| m.policies[s.policies[0]].id.as_str())
            .collect();
        assert_eq!(
            slo_policies,
            [
                "payments-escalation",
                "payments-escalation",
                "platform-escalation",
                "platform-escalation"
            ]
        );
        // pr-oncall is the comms rotation's schedule; legal a schedule
        let pr = &m.functional[0];
        let comms = m.schedules.iter().position(|s| s.id == "comms-rotation");
        assert_eq!(
            pr.targets,
            comms.map(Target::Schedule).into_iter().collect::<Vec<_>>()
        );
        // jack sleeps heavily; alice's first channel is immediate
        let jack = m
            .people
            .iter()
            .find(|p| p.id == "jack")
            .unwrap_or_else(|| panic!("jack"));
        assert_eq!(jack.ack.asleep.median, 720.0);
        assert_eq!(jack.absence, 0.02);
        let spec = c
            .sweep_spec(&m, "platform-escalation")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.home.iana_name(), Some("Europe/London"));
        assert_eq!(spec.away.iana_name(), Some("Australia/Sydney"));
    }
}
