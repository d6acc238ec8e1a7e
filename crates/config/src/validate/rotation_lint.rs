//! The rotation lint: warnings about how on-call is staffed, not about the files. Each finding
//! names its [`Lint`] and points at the value to change. Semantics (what a rotation, a site and
//! 24/7 are) are in the config README's "Rotation lint" part; the time-based checks are in
//! `rotation_lint/resolved.rs`.
//!
//! A rotation is an escalation policy's first two steps: the schedules of step 1 are its
//! primary, those of step 2 its secondary. Only schedule, person and expert data are read, so a
//! finding never depends on the wall clock.

use std::collections::{BTreeMap, BTreeSet};

use super::{Kind, V};
use crate::diagnostic::{Lint, Loc};
use crate::model::{Config, Target};

mod resolved;

/// A person who is the only expert of this many services is a bottleneck.
const BOTTLENECK_SERVICES: usize = 3;

/// Where the values the lint points at are written, recorded while validating.
#[derive(Default)]
pub(super) struct Spans {
    /// Per escalation policy, per step: each target and where it is written.
    steps: BTreeMap<String, Vec<Vec<(Target, Loc)>>>,
    /// Per schedule, per layer: where its `shift` and each member are written.
    layers: BTreeMap<String, Vec<LayerSpans>>,
    /// Per service: where each expert is written.
    experts: BTreeMap<String, Vec<Loc>>,
}

#[derive(Clone)]
pub(super) struct LayerSpans {
    pub shift: Loc,
    pub members: Vec<Loc>,
}

impl Spans {
    /// Records an escalation policy's steps (the first definition of an id wins, as in `Config`).
    pub fn policy(&mut self, id: &str, steps: Vec<Vec<(Target, Loc)>>) {
        self.steps.entry(id.to_string()).or_insert(steps);
    }

    pub fn schedule(&mut self, id: &str, layers: Vec<LayerSpans>) {
        self.layers.entry(id.to_string()).or_insert(layers);
    }

    pub fn service(&mut self, id: &str, experts: Vec<Loc>) {
        self.experts.entry(id.to_string()).or_insert(experts);
    }
}

/// One escalation policy's first two steps, as schedules and where they are targeted.
struct Rotation<'a> {
    policy: &'a str,
    primary: Vec<(&'a str, Loc)>,
    secondary: Vec<(&'a Target, Loc)>,
}

impl<'a> Rotation<'a> {
    fn secondary_schedules(&self) -> impl Iterator<Item = (&'a str, Loc)> + '_ {
        self.secondary.iter().filter_map(|(t, l)| match t {
            Target::Schedule(s) => Some((s.as_str(), *l)),
            _ => None,
        })
    }
}

fn step_schedules(step: Option<&Vec<(Target, Loc)>>) -> Vec<(&str, Loc)> {
    step.into_iter()
        .flatten()
        .filter_map(|(t, l)| match t {
            Target::Schedule(s) => Some((s.as_str(), *l)),
            _ => None,
        })
        .collect()
}

fn rotations(spans: &Spans) -> Vec<Rotation<'_>> {
    spans
        .steps
        .iter()
        .map(|(policy, steps)| Rotation {
            policy,
            primary: step_schedules(steps.first()),
            secondary: steps
                .get(1)
                .into_iter()
                .flatten()
                .map(|(t, l)| (t, *l))
                .collect(),
        })
        .collect()
}

impl V<'_> {
    /// Every rotation lint. Skipped while the configuration has errors (its values may be
    /// placeholders), like the coverage lints.
    pub(super) fn rotation_lints(&mut self, config: &Config) {
        if self.d.has_errors() {
            return;
        }
        let spans = std::mem::take(&mut self.rotation_spans);
        let rotations = rotations(&spans);
        self.circular_secondaries(config, &rotations);
        self.outsider_secondaries(config, &rotations);
        for f in resolved::findings(config, &spans, &rotations) {
            self.d.lint(f.at, f.lint, f.message);
        }
        self.single_experts(config, &spans);
        self.expert_bottlenecks(config);
        self.rotation_spans = spans;
    }

    /// Policy P falls back to team B's primary while B's policy falls back to P's primary.
    fn circular_secondaries(&mut self, config: &Config, rotations: &[Rotation<'_>]) {
        let team = |s: &str| config.schedules.get(s).and_then(|s| s.team.as_deref());
        for (i, p) in rotations.iter().enumerate() {
            for q in &rotations[i + 1..] {
                let Some((s, s_at, t, t_at)) = circle(p, q) else {
                    continue;
                };
                let (Some(s_team), Some(t_team)) = (team(s), team(t)) else {
                    continue;
                };
                if s_team == t_team {
                    continue; // one team's primary and secondary backing each other
                }
                for (at, policy, back, back_team, other, own, own_team) in [
                    (s_at, p.policy, s, s_team, q.policy, t, t_team),
                    (t_at, q.policy, t, t_team, p.policy, s, s_team),
                ] {
                    self.d.lint(
                        at,
                        Lint::CircularSecondary,
                        format!(
                            "escalation policy `{policy}` falls back to schedule `{back}`, team \
                             `{back_team}`'s primary, while `{other}` falls back to `{own}`, team \
                             `{own_team}`'s primary: the secondaries form a circle, so when one \
                             outage pages both teams each back-up is the other team's busy primary \
                             and neither has a second line"
                        ),
                    );
                }
            }
        }
    }

    /// The step after the primary pages nobody from the owning team or the service's experts.
    fn outsider_secondaries(&mut self, config: &Config, rotations: &[Rotation<'_>]) {
        for r in rotations {
            for (target, at) in &r.secondary {
                let paged = people_paged(config, target);
                if paged.is_empty() {
                    continue; // an alias or a Slack channel: deliberately broad
                }
                let outsider_for: Vec<(&str, &str)> = config
                    .services
                    .values()
                    .filter(|svc| svc.escalation_policy.as_deref() == Some(r.policy))
                    .filter_map(|svc| {
                        let owner = svc.owner_team.as_deref()?;
                        let insiders: BTreeSet<&str> = config
                            .teams
                            .get(owner)
                            .into_iter()
                            .flat_map(|t| t.members.iter().map(String::as_str))
                            .chain(svc.experts.iter().map(String::as_str))
                            .collect();
                        paged
                            .is_disjoint(&insiders)
                            .then_some((svc.id.as_str(), owner))
                    })
                    .collect();
                if outsider_for.is_empty() {
                    continue;
                }
                let services = outsider_for
                    .iter()
                    .map(|(s, owner)| format!("`{s}` (team `{owner}`)"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.d.lint(
                    *at,
                    Lint::OutsiderSecondary,
                    format!(
                        "escalation policy `{}` pages {} as the secondary of {services}, but \
                         nobody it pages is on the owning team or among the experts: whoever \
                         answers when the primary does not cannot fix the service, only relay",
                        r.policy,
                        describe(target)
                    ),
                );
            }
        }
    }

    fn single_experts(&mut self, config: &Config, spans: &Spans) {
        for svc in config.services.values() {
            let [expert] = svc.experts.as_slice() else {
                continue;
            };
            let Some(at) = spans.experts.get(&svc.id).and_then(|l| l.first()) else {
                continue;
            };
            self.d.lint(
                *at,
                Lint::SingleExpert,
                format!(
                    "service `{}` has one expert, `{expert}`: when they are asleep, on leave or \
                     gone nobody who knows it can be called in (a bus factor of one); name a \
                     second expert and let them shadow its incidents",
                    svc.id
                ),
            );
        }
    }

    fn expert_bottlenecks(&mut self, config: &Config) {
        let mut sole: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for svc in config.services.values() {
            if let [expert] = svc.experts.as_slice() {
                sole.entry(expert).or_default().push(&svc.id);
            }
        }
        for (person, services) in sole {
            if services.len() < BOTTLENECK_SERVICES {
                continue;
            }
            let Some(at) = self.ids.get(&Kind::Person).and_then(|m| m.get(person)) else {
                continue;
            };
            let at = *at;
            let list = services
                .iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.d.lint(
                at,
                Lint::ExpertBottleneck,
                format!(
                    "`{person}` is the only expert of {} services ({list}): an outage across \
                     them needs this one person everywhere at once, and every one of them waits \
                     while they sleep; spread the knowledge before they burn out or leave",
                    services.len()
                ),
            );
        }
    }
}

/// `(s, where p targets s, t, where q targets t)` when p's secondary `s` is q's primary and q's
/// secondary `t` is p's primary (`s != t`).
fn circle<'a>(p: &Rotation<'a>, q: &Rotation<'a>) -> Option<(&'a str, Loc, &'a str, Loc)> {
    let primary = |r: &Rotation<'a>, s: &str| r.primary.iter().any(|(x, _)| *x == s);
    p.secondary_schedules()
        .filter(|(s, _)| primary(q, s))
        .find_map(|(s, s_at)| {
            q.secondary_schedules()
                .find(|(t, _)| *t != s && primary(p, t))
                .map(|(t, t_at)| (s, s_at, t, t_at))
        })
}

/// Who a target can page directly: a person, or every member of a schedule's layers. Aliases
/// and Slack channels give nobody (they are broad on purpose).
fn people_paged<'a>(config: &'a Config, target: &'a Target) -> BTreeSet<&'a str> {
    match target {
        Target::Person(p) => BTreeSet::from([p.as_str()]),
        Target::Schedule(s) => schedule_people(config, s),
        Target::Alias(_) | Target::SlackChannel(_) => BTreeSet::new(),
    }
}

fn schedule_people<'a>(config: &'a Config, schedule: &str) -> BTreeSet<&'a str> {
    config
        .schedules
        .get(schedule)
        .into_iter()
        .flat_map(|s| &s.layers)
        .flat_map(|l| l.members.iter().map(String::as_str))
        .collect()
}

fn describe(target: &Target) -> String {
    match target {
        Target::Schedule(s) => format!("schedule `{s}`"),
        Target::Person(p) => format!("`{p}`"),
        Target::Alias(a) => format!("alias `{a}`"),
        Target::SlackChannel(c) => format!("`{c}`"),
    }
}
