//! Drill scenarios (`drills/*.yaml`) and profiles (`drills/profiles/*.yaml`), checked against
//! the rest of the configuration: every persona, role, milestone, person, service and policy
//! they name must exist, offsets are never negative and conditions only look at the past.

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use muster_core::drill::{
    Act, Condition, Expected, Inject, InjectKind, Opening, Persona, PersonaKind, Profile, Scenario,
    Step, Target, Verdict,
};

use super::{Kind, V, is_valid_id, loc};
use crate::drills_raw as raw;
use crate::model::Config;
use crate::raw::S;

impl V<'_> {
    /// Every scenario and profile into `config.drills` / `config.drill_profiles`.
    pub(super) fn drills(
        &mut self,
        scenarios: Vec<(usize, raw::Scenario)>,
        profiles: Vec<(usize, raw::Profile)>,
        config: &mut Config,
    ) {
        for (f, x) in scenarios {
            let l = loc(f, &x.id);
            let s = self.scenario(f, x);
            if config.drills.contains_key(&s.id) {
                self.d
                    .error(l, format!("duplicate drill scenario `{}`", s.id));
            } else {
                config.drills.insert(s.id.clone(), s);
            }
        }
        for (f, x) in profiles {
            let l = loc(f, &x.id);
            let p = self.profile(f, x, config);
            if config.drill_profiles.contains_key(&p.id) {
                self.d
                    .error(l, format!("duplicate drill profile `{}`", p.id));
            } else {
                config.drill_profiles.insert(p.id.clone(), p);
            }
        }
    }

    fn drill_id(&mut self, f: usize, s: &S, what: &str) {
        if !is_valid_id(&s.value) {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid {what} id `{}` (lowercase letters, digits, `-` and `_`)",
                    s.value
                ),
            );
        }
    }

    fn scenario(&mut self, f: usize, x: raw::Scenario) -> Scenario {
        self.drill_id(f, &x.id, "drill scenario");
        if x.title.value.trim().is_empty() {
            self.d
                .error(loc(f, &x.title), "a drill's title must not be empty");
        }
        let length = self.positive_duration(f, &x.length, "length").to_signed();
        let starts_at = x
            .starts_at
            .as_ref()
            .and_then(|s| match s.value.parse::<jiff::civil::Time>() {
                Ok(t) => Some(t),
                Err(_) => {
                    self.d.error(
                        loc(f, s),
                        format!("expected a time of day as HH:MM (found `{}`)", s.value),
                    );
                    None
                }
            })
            .unwrap_or(jiff::civil::Time::midnight());
        let time_zone = match &x.time_zone {
            Some(tz) => self.time_zone(f, tz),
            None => "UTC".to_string(),
        };
        // Checked just above: an unknown name is already an error, so UTC never stands in.
        let zone = jiff::tz::TimeZone::get(&time_zone).unwrap_or(jiff::tz::TimeZone::UTC);
        let incident = self.opening(f, x.incident);
        let mut personas = Vec::new();
        let mut persona_ids = BTreeSet::new();
        for p in x.personas {
            self.drill_id(f, &p.id, "persona");
            if !persona_ids.insert(p.id.value.clone()) {
                self.d.error(
                    loc(f, &p.id),
                    format!("duplicate persona `{}` in this drill", p.id.value),
                );
            }
            let kind = match PersonaKind::ALL.iter().find(|(n, _)| *n == p.kind.value) {
                Some((_, k)) => *k,
                None => {
                    let names: Vec<&str> = PersonaKind::ALL.iter().map(|(n, _)| *n).collect();
                    self.d.error(
                        loc(f, &p.kind),
                        format!(
                            "unknown persona kind `{}` (expected one of {})",
                            p.kind.value,
                            names.join(", ")
                        ),
                    );
                    PersonaKind::Customer
                }
            };
            personas.push(Persona {
                name: p.name.unwrap_or_else(|| p.id.value.clone()),
                id: p.id.value,
                kind,
            });
        }
        let cast = Cast {
            personas: persona_ids,
            play: x.play.iter().map(|s| s.value.clone()).collect(),
        };
        let play: Vec<String> = x
            .play
            .iter()
            .map(|s| {
                self.role_or_persona(f, s, &cast.personas);
                s.value.clone()
            })
            .collect();
        let mut players = BTreeMap::new();
        for (role, person) in &x.players {
            if !cast.play.contains(role) {
                self.d.error(
                    loc(f, person),
                    format!("`{role}` has a player but is not in this drill's `play` list"),
                );
            }
            let person = self.reference(Kind::Person, f, person);
            players.insert(role.clone(), person);
        }
        let injects = x
            .injects
            .into_iter()
            .filter_map(|i| self.inject(f, i, &cast, length))
            .collect();
        let targets = x
            .targets
            .into_iter()
            .filter_map(|t| self.drill_target(f, t))
            .collect();
        Scenario {
            id: x.id.value,
            title: x.title.value,
            briefing: x.briefing.unwrap_or_default(),
            starts_at,
            time_zone,
            zone,
            length,
            incident,
            personas,
            play,
            players,
            injects,
            targets,
        }
    }

    fn opening(&mut self, f: usize, x: raw::Opening) -> Opening {
        let severity = self
            .parse(f, &x.severity)
            .unwrap_or(muster_core::Severity::Sev1);
        let mut services = Vec::new();
        for s in x.service.iter().chain(&x.services) {
            services.push(self.reference(Kind::Service, f, s));
        }
        if services.is_empty() {
            self.d.error(
                loc(f, &x.title),
                "a drill's incident needs a `service` (or `services`)",
            );
        }
        Opening {
            title: x.title.value,
            severity,
            services,
            incident_type: x.incident_type.map(|t| t.value),
            alert: x.alert.map(|a| a.value),
        }
    }

    /// A role of the configuration or a persona of this drill.
    fn role_or_persona(&mut self, f: usize, s: &S, personas: &BTreeSet<String>) {
        if personas.contains(&s.value) {
            return;
        }
        let roles = self.names(Kind::Role);
        if !roles.contains(&s.value) {
            self.d.error(
                loc(f, s),
                format!(
                    "unknown role or persona `{}` (roles: {}; personas of this drill: {})",
                    s.value,
                    roles.into_iter().collect::<Vec<_>>().join(", "),
                    if personas.is_empty() {
                        "none".to_string()
                    } else {
                        personas.iter().cloned().collect::<Vec<_>>().join(", ")
                    }
                ),
            );
        }
    }

    /// `s` must be played by a participant of the drill.
    fn played(&mut self, f: usize, s: &S, cast: &Cast) {
        self.role_or_persona(f, s, &cast.personas);
        if !cast.play.contains(&s.value) {
            self.d.error(
                loc(f, s),
                format!(
                    "nobody plays `{}` in this drill (add it to `play`)",
                    s.value
                ),
            );
        }
    }

    fn offset(&mut self, f: usize, s: &S) -> SignedDuration {
        self.duration(f, s).to_signed()
    }

    fn inject(
        &mut self,
        f: usize,
        x: serde_saphyr::Spanned<raw::Inject>,
        cast: &Cast,
        length: SignedDuration,
    ) -> Option<Inject> {
        let l = loc(f, &x);
        let x = x.value;
        let at = self.offset(f, &x.at);
        if at > length {
            self.d.warning(
                loc(f, &x.at),
                format!(
                    "this inject at {} comes after the drill ends ({}): it never happens",
                    x.at.value,
                    muster_core::words::duration(length)
                ),
            );
        }
        let mut kinds = Vec::new();
        if let Some(a) = &x.alert {
            self.reference(Kind::Service, f, &a.service);
            kinds.push(InjectKind::AlertFires {
                service: a.service.value.clone(),
                summary: a.summary.value.clone(),
            });
        }
        if let Some(a) = &x.alert_resolves {
            self.reference(Kind::Service, f, &a.service);
            kinds.push(InjectKind::AlertResolves {
                service: a.service.value.clone(),
                summary: a.summary.value.clone(),
            });
        }
        if let Some(m) = &x.message {
            if !cast.personas.contains(&m.from.value) {
                self.d.error(
                    loc(f, &m.from),
                    format!(
                        "unknown persona `{}` (a message comes from one of this drill's personas)",
                        m.from.value
                    ),
                );
            }
            self.played(f, &m.to, cast);
            kinds.push(InjectKind::Message {
                from: m.from.value.clone(),
                to: m.to.value.clone(),
                text: m.text.value.clone(),
            });
        }
        if let Some(r) = &x.bring_in {
            self.played(f, &r.role, cast);
            kinds.push(InjectKind::BringIn {
                role: r.role.value.clone(),
            });
        }
        if let Some(s) = &x.recovers {
            self.reference(Kind::Service, f, &s.service);
            kinds.push(InjectKind::Recovers {
                service: s.service.value.clone(),
            });
        }
        if let Some(r) = &x.unreachable {
            self.played(f, &r.role, cast);
            kinds.push(InjectKind::Unreachable {
                role: r.role.value.clone(),
            });
        }
        if let Some(s) = &x.severity
            && let Some(to) = self.parse(f, s)
        {
            kinds.push(InjectKind::Severity { to });
        }
        let unless = x.unless.as_ref().map(|c| {
            self.reference(Kind::Milestone, f, &c.milestone);
            let before = self.offset(f, &c.before);
            if before > at {
                self.d.error(
                    loc(f, &c.before),
                    format!(
                        "`before: {}` is after the inject itself ({}): a condition may only look at what has happened",
                        c.before.value, x.at.value
                    ),
                );
            }
            Condition {
                milestone: c.milestone.value.clone(),
                before,
            }
        });
        if kinds.len() != 1 {
            self.d.error(
                l,
                "an inject needs exactly one of alert, alert_resolves, message, bring_in, recovers, unreachable, severity",
            );
            return None;
        }
        kinds.pop().map(|what| Inject { at, what, unless })
    }

    fn drill_target(&mut self, f: usize, x: serde_saphyr::Spanned<raw::Target>) -> Option<Target> {
        let l = loc(f, &x);
        let x = x.value;
        let within = self.positive_duration(f, &x.within, "within").to_signed();
        match (&x.milestone, &x.role) {
            (Some(m), None) => Some(Target::Milestone {
                milestone: self.reference(Kind::Milestone, f, m),
                within,
            }),
            (None, Some(r)) => Some(Target::Role {
                role: self.reference(Kind::Role, f, r),
                within,
            }),
            _ => {
                self.d
                    .error(l, "a target names exactly one of `milestone` or `role`");
                None
            }
        }
    }

    fn profile(&mut self, f: usize, x: raw::Profile, config: &Config) -> Profile {
        self.drill_id(f, &x.id, "drill profile");
        let scenario = x.scenario.as_ref().and_then(|s| {
            let found = config.drills.get(&s.value);
            if found.is_none() {
                let known: Vec<&str> = config.drills.keys().map(String::as_str).collect();
                self.d.error(
                    loc(f, s),
                    format!(
                        "unknown drill scenario `{}` (defined: {})",
                        s.value,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                );
            }
            found
        });
        let steps = x
            .steps
            .into_iter()
            .filter_map(|s| self.step(f, s, scenario))
            .collect();
        let expect = x.expect.map(|e| self.expect(f, e, scenario, config));
        Profile {
            id: x.id.value,
            description: x.description.unwrap_or_default(),
            scenario: x.scenario.map(|s| s.value),
            steps,
            expect,
        }
    }

    fn step(
        &mut self,
        f: usize,
        x: serde_saphyr::Spanned<raw::Step>,
        scenario: Option<&Scenario>,
    ) -> Option<Step> {
        let l = loc(f, &x);
        let x = x.value;
        let at = self.offset(f, &x.at);
        match scenario {
            Some(s) if !s.play.contains(&x.by.value) => self.d.error(
                loc(f, &x.by),
                format!(
                    "nobody plays `{}` in drill `{}` (played: {})",
                    x.by.value,
                    s.id,
                    s.play.join(", ")
                ),
            ),
            Some(_) => {}
            None => {
                self.reference(Kind::Role, f, &x.by);
            }
        }
        let mut acts = Vec::new();
        if let Some(a) = &x.act {
            match a.value.as_str() {
                "acknowledge" => acts.push(Act::Acknowledge),
                "join" => acts.push(Act::Join),
                "status_update" => acts.push(Act::StatusUpdate),
                "message" => acts.push(Act::Message),
                other => self.d.error(
                    loc(f, a),
                    format!(
                        "unknown action `{other}` (expected acknowledge, join, status_update or message)"
                    ),
                ),
            }
        }
        if let Some(m) = &x.milestone {
            acts.push(Act::Milestone(self.reference(Kind::Milestone, f, m)));
        }
        if let Some(s) = &x.status
            && let Some(st) = self.parse(f, s)
        {
            acts.push(Act::Status(st));
        }
        if let Some(s) = &x.severity
            && let Some(sev) = self.parse(f, s)
        {
            acts.push(Act::Severity(sev));
        }
        let has_kind = [
            x.act.is_some(),
            x.milestone.is_some(),
            x.status.is_some(),
            x.severity.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if has_kind != 1 {
            self.d.error(
                l,
                "a step needs exactly one of `do`, `milestone`, `status`, `severity`",
            );
            return None;
        }
        acts.pop().map(|act| Step {
            at,
            by: x.by.value,
            act,
        })
    }

    fn verdict(&mut self, f: usize, s: &S) -> Option<Verdict> {
        match Verdict::ALL.iter().find(|(n, _)| *n == s.value) {
            Some((_, v)) => Some(*v),
            None => {
                let names: Vec<&str> = Verdict::ALL.iter().map(|(n, _)| *n).collect();
                self.d.error(
                    loc(f, s),
                    format!(
                        "unknown verdict `{}` (expected one of {})",
                        s.value,
                        names.join(", ")
                    ),
                );
                None
            }
        }
    }

    fn expect(
        &mut self,
        f: usize,
        x: raw::Expect,
        scenario: Option<&Scenario>,
        config: &Config,
    ) -> Expected {
        let mut out = Expected::default();
        for (policy, v) in &x.policies {
            // A warning: a stale training profile must not block a production reload.
            if !config.policies.contains_key(policy) {
                self.d.warning(
                    loc(f, v),
                    format!(
                        "expected verdict for unknown policy `{policy}` (`muster drill test` will fail)"
                    ),
                );
            }
            if let Some(v) = self.verdict(f, v) {
                out.policies.push((policy.clone(), v));
            }
        }
        for (subject, v) in &x.targets {
            if let Some(s) = scenario
                && !s.targets.iter().any(|t| t.subject() == subject)
            {
                self.d.error(
                    loc(f, v),
                    format!("drill `{}` has no target `{subject}`", s.id),
                );
            }
            if let Some(v) = self.verdict(f, v) {
                out.targets.push((subject.clone(), v));
            }
        }
        if let Some(s) = &x.score {
            match s.value.parse::<u32>() {
                Ok(n) if n <= 100 => out.score = Some(n),
                _ => self.d.error(
                    loc(f, s),
                    format!(
                        "expected a score in percent, 0 to 100 (found `{}`)",
                        s.value
                    ),
                ),
            }
        }
        out
    }
}

/// Who is in a drill: its personas and what the participants play.
struct Cast {
    personas: BTreeSet<String>,
    play: BTreeSet<String>,
}

/// Load one profile file (anywhere, e.g. `--profile FILE`) checked against `config`.
pub(crate) fn profile_file(
    path: &std::path::Path,
    config: &Config,
) -> Result<Profile, Vec<crate::Diagnostic>> {
    let dir = path.parent().unwrap_or(std::path::Path::new(""));
    let mut d = crate::diagnostic::Diags::new(dir);
    let f = d.add_file(path.file_name().map(Into::into).unwrap_or_default());
    let parsed = crate::load::parse_file::<raw::Profile>(dir, f, &mut d);
    let no_env = |_: &str| None;
    let mut v = V {
        d: &mut d,
        env: &no_env,
        ids: BTreeMap::new(),
        keys: BTreeMap::new(),
        schedule_targets: Vec::new(),
        rotation_spans: Default::default(),
    };
    for (kind, names) in [
        (Kind::Role, config.roles.iter().collect::<Vec<_>>()),
        (Kind::Milestone, config.milestones.iter().collect()),
        (Kind::Person, config.people.keys().collect()),
        (Kind::Service, config.services.keys().collect()),
        (Kind::Policy, config.policies.keys().collect()),
    ] {
        for name in names {
            v.builtin(kind, name);
        }
    }
    let profile = match parsed {
        Some(Some(x)) => Some(v.profile(f, x, config)),
        Some(None) => {
            v.d.error(
                crate::diagnostic::Loc {
                    file: f,
                    line: 0,
                    col: 0,
                },
                "the profile file is empty",
            );
            None
        }
        None => None,
    };
    let errors: Vec<crate::Diagnostic> = d
        .into_sorted()
        .into_iter()
        .filter(|x| x.level == crate::Level::Error)
        .collect();
    match profile {
        Some(p) if errors.is_empty() => Ok(p),
        _ => Err(errors),
    }
}
