//! Semantic checks across all files, and conversion of `raw` values into `model` types.
//!
//! Pass 1 records every id (with its location) so that pass 2 can check references in any
//! order. Every problem is reported; values that fail a check are replaced by placeholders, and
//! the resulting `Config` is only returned to callers when there was no error.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use serde_saphyr::Spanned;

use crate::diagnostic::{Diags, Loc};
use crate::duration::{Duration, DurationError};
use crate::load::Sources;
use crate::model::*;
use crate::raw::{self, S};

mod drills;
mod expect;
pub(crate) use drills::profile_file;
mod integrations;
mod metrics;
mod people;
mod policies;
mod rotation_lint;
mod schedules;
mod staffing;
mod status_page;
mod words;

use words::{is_e164, one_of, one_of_str, suggest};

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Person,
    Team,
    Alias,
    Service,
    Schedule,
    EscalationPolicy,
    Policy,
    Playbook,
    Integration,
    Role,
    Milestone,
    Template,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Team => "team",
            Kind::Alias => "alias",
            Kind::Service => "service",
            Kind::Schedule => "schedule",
            Kind::EscalationPolicy => "escalation policy",
            Kind::Policy => "policy",
            Kind::Playbook => "playbook",
            Kind::Integration => "integration",
            Kind::Role => "role",
            Kind::Milestone => "milestone",
            Kind::Template => "template",
        }
    }

    fn section(self) -> &'static str {
        match self {
            Kind::Person => "people",
            Kind::Team => "teams",
            Kind::Alias => "aliases",
            Kind::Service => "services",
            Kind::Schedule => "schedules",
            Kind::EscalationPolicy => "escalation_policies",
            Kind::Policy => "policies",
            Kind::Playbook => "playbooks",
            Kind::Integration => "integrations",
            Kind::Role => "roles",
            Kind::Milestone => "milestones",
            Kind::Template => "templates",
        }
    }
}

fn loc<T>(file: usize, s: &Spanned<T>) -> Loc {
    Loc {
        file,
        line: s.referenced.line() as usize,
        col: s.referenced.column() as usize,
    }
}

pub(crate) fn is_valid_id(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

struct V<'a> {
    d: &'a mut Diags,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// First definition of every id, per kind.
    ids: BTreeMap<Kind, BTreeMap<String, Loc>>,
    /// Integration keys already seen → integration id.
    keys: BTreeMap<String, String>,
    /// Where escalation steps target schedules, for the coverage lints.
    schedule_targets: Vec<ScheduleTarget>,
    /// Where rotations, layers and experts are written, for the rotation lint.
    rotation_spans: rotation_lint::Spans,
}

pub(crate) fn validate(
    src: Sources,
    env: &dyn Fn(&str) -> Option<String>,
    now: jiff::Timestamp,
    d: &mut Diags,
) -> Option<Config> {
    if d.files.is_empty() && src.templates.is_empty() {
        // only when the directory itself was readable (otherwise an error is already there)
        if !d.has_errors() {
            d.at_path(
                std::path::Path::new(""),
                0,
                0,
                crate::Level::Warning,
                "no config files (*.yaml, *.yml) found".into(),
            );
        }
    }
    let mut v = V {
        d,
        env,
        ids: BTreeMap::new(),
        keys: BTreeMap::new(),
        schedule_targets: Vec::new(),
        rotation_spans: rotation_lint::Spans::default(),
    };
    let mut config = Config::default();

    // ---- pass 1: ids
    for t in &src.templates {
        v.template_name(t.file, &t.name);
    }
    for role in BUILTIN_ROLES {
        v.builtin(Kind::Role, role);
    }
    for milestone in BUILTIN_MILESTONES {
        v.builtin(Kind::Milestone, milestone);
    }
    let mut severities_seen: BTreeMap<Severity, Loc> = BTreeMap::new();
    for (f, file) in &src.files {
        let f = *f;
        for x in &file.people {
            v.define(Kind::Person, f, &x.id);
        }
        for x in &file.teams {
            v.define(Kind::Team, f, &x.id);
        }
        for x in &file.aliases {
            v.define(Kind::Alias, f, &x.id);
        }
        for x in &file.services {
            v.define(Kind::Service, f, &x.id);
        }
        for x in &file.schedules {
            v.define(Kind::Schedule, f, &x.id);
        }
        for x in &file.escalation_policies {
            v.define(Kind::EscalationPolicy, f, &x.id);
        }
        for x in &file.policies {
            v.define(Kind::Policy, f, &x.id);
        }
        for x in &file.playbooks {
            v.define(Kind::Playbook, f, &x.id);
        }
        for x in &file.integrations {
            v.define(Kind::Integration, f, &x.id);
        }
        for x in &file.roles {
            v.define(Kind::Role, f, &x.id);
        }
        for x in &file.milestones {
            v.define(Kind::Milestone, f, &x.id);
        }
        for x in &file.severities {
            let l = loc(f, &x.id);
            match x.id.value.parse::<Severity>() {
                Err(_) => v.d.error(
                    l,
                    format!(
                        "unknown severity `{}` (severities are fixed: SEV1, SEV2, SEV3, SEV4)",
                        x.id.value
                    ),
                ),
                Ok(sev) => {
                    if let Some(first) = severities_seen.get(&sev) {
                        let first = v.d.short(*first);
                        v.d.error(
                            l,
                            format!("duplicate severity `{sev}` (first defined at {first})"),
                        );
                    } else {
                        severities_seen.insert(sev, l);
                        if let Some(desc) = &x.description {
                            config.severities.insert(sev, desc.clone());
                        }
                    }
                }
            }
        }
    }
    config.roles = v.names(Kind::Role);
    config.milestones = v.names(Kind::Milestone);

    // ---- pass 2: everything else
    for t in src.templates {
        let rel = v.d.rel_path(t.file);
        let template = Template {
            name: t.name.clone(),
            path: rel.clone(),
            text: t.text.clone(),
        };
        for p in crate::templates::check(&template) {
            v.d.at_path(
                &rel,
                p.line,
                if p.line == 0 { 0 } else { 1 },
                crate::Level::Error,
                p.message,
            );
        }
        config.templates.entry(t.name.clone()).or_insert(Template {
            name: t.name,
            path: v.d.rel_path(t.file),
            text: t.text,
        });
    }
    let mut depends: Vec<(String, Vec<(String, Loc)>)> = Vec::new();
    let mut slack_seen: Option<Loc> = None;
    let mut metrics_seen: Option<Loc> = None;
    let mut notifications = Vec::new();
    let mut limits = Vec::new();
    let mut staffing = Vec::new();
    for (f, mut file) in src.files {
        if let Some(n) = file.notifications.take() {
            notifications.push((f, n));
        }
        if let Some(l) = file.limits.take() {
            limits.push((f, l));
        }
        if let Some(x) = file.staffing.take() {
            staffing.push((f, x));
        }
        for x in file.people {
            let p = v.person(f, x);
            config.people.entry(p.id.clone()).or_insert(p);
        }
        for x in file.teams {
            let t = v.team(f, x);
            config.teams.entry(t.id.clone()).or_insert(t);
        }
        for x in file.aliases {
            let a = v.alias(f, x);
            config.aliases.entry(a.id.clone()).or_insert(a);
        }
        for x in file.services {
            let edges = x
                .depends_on
                .iter()
                .map(|s| (s.value.clone(), loc(f, s)))
                .collect();
            let s = v.service(f, x);
            if !config.services.contains_key(&s.id) {
                depends.push((s.id.clone(), edges));
            }
            config.services.entry(s.id.clone()).or_insert(s);
        }
        for x in file.schedules {
            let s = v.schedule(f, x);
            config.schedules.entry(s.id.clone()).or_insert(s);
        }
        for x in file.escalation_policies {
            let e = v.escalation_policy(f, x);
            config.escalation_policies.entry(e.id.clone()).or_insert(e);
        }
        for x in file.policies {
            let p = v.policy(f, x);
            config.policies.entry(p.id.clone()).or_insert(p);
        }
        for x in file.playbooks {
            let p = v.playbook(f, x);
            config.playbooks.entry(p.id.clone()).or_insert(p);
        }
        for x in file.integrations {
            let i = v.integration(f, x);
            config.integrations.entry(i.id.clone()).or_insert(i);
        }
        if let Some(x) = file.slack {
            let l = loc(f, &x);
            let slack = v.slack(f, x.value);
            match slack_seen {
                Some(first) => {
                    let first = v.d.short(first);
                    v.d.error(l, format!("duplicate slack section (first at {first})"));
                }
                None => {
                    slack_seen = Some(l);
                    config.slack = Some(slack);
                }
            }
        }
        if let Some(x) = file.status_page {
            v.status_page_section(f, x, &mut config);
        }
        if let Some(x) = file.metrics {
            v.metrics_section(f, x, &mut metrics_seen, &mut config);
        }
    }
    config.notifications = crate::notifications::check(v.d, notifications);
    config.limits = crate::limits::check(v.d, limits);
    v.dependency_cycles(&depends);
    for svc in config.services.values() {
        if svc.escalation_policy.is_none()
            && let Some(l) = v.ids.get(&Kind::Service).and_then(|m| m.get(&svc.id))
        {
            let l = *l;
            v.d.warning(
                l,
                format!(
                    "service `{}` has no escalation_policy: its alerts page nobody",
                    svc.id
                ),
            );
        }
    }
    v.staffing_sections(staffing, &mut config);
    v.drills(src.scenarios, src.profiles, &mut config);
    v.coverage_lints(&config, now);
    v.rotation_lints(&config);
    Some(config)
}

impl V<'_> {
    // ------------------------------------------------------------ ids and references

    fn builtin(&mut self, kind: Kind, id: &str) {
        self.ids
            .entry(kind)
            .or_default()
            .insert(id.to_string(), Loc::default());
    }

    fn names(&self, kind: Kind) -> BTreeSet<String> {
        self.ids
            .get(&kind)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn check_id_syntax(&mut self, kind: Kind, l: Loc, id: &str) {
        if !is_valid_id(id) {
            self.d.error(
                l,
                format!(
                    "invalid {} id `{id}` (expected lower-case letters, digits, `-` or `_`, starting with a letter or digit)",
                    kind.noun()
                ),
            );
        }
    }

    fn define(&mut self, kind: Kind, f: usize, id: &S) {
        let l = loc(f, id);
        self.check_id_syntax(kind, l, &id.value);
        let map = self.ids.entry(kind).or_default();
        match map.get(&id.value) {
            // built-in role or milestone: declaring it again (to describe it) is fine
            Some(first) if first.line == 0 => {}
            Some(first) => {
                let first = *first;
                let first = self.d.short(first);
                self.d.error(
                    l,
                    format!(
                        "duplicate {} id `{}` (first defined at {first})",
                        kind.noun(),
                        id.value
                    ),
                );
            }
            None => {
                map.insert(id.value.clone(), l);
            }
        }
    }

    fn template_name(&mut self, file: usize, name: &str) {
        let rel = self.d.rel_path(file);
        if !is_valid_id(name) {
            self.d.at_path(
                &rel,
                0,
                0,
                crate::Level::Error,
                format!(
                    "invalid template name `{name}` (the file name up to its first dot must be lower-case letters, digits, `-` or `_`)"
                ),
            );
            return;
        }
        let l = Loc {
            file,
            line: 0,
            col: 0,
        };
        let map = self.ids.entry(Kind::Template).or_default();
        if let Some(first) = map.get(name) {
            let first = self.d.rel_path(first.file);
            self.d.at_path(
                &rel,
                0,
                0,
                crate::Level::Error,
                format!(
                    "duplicate template `{name}` (also defined by {})",
                    first.display()
                ),
            );
        } else {
            map.insert(name.to_string(), l);
        }
    }

    fn exists(&self, kind: Kind, id: &str) -> bool {
        self.ids.get(&kind).is_some_and(|m| m.contains_key(id))
    }

    /// Check that `s` names a defined `kind`; returns the id either way.
    fn reference(&mut self, kind: Kind, f: usize, s: &S) -> String {
        let id = &s.value;
        if !self.exists(kind, id) {
            let candidates = self.names(kind);
            let hint = match suggest(id, &candidates) {
                Some(best) => format!("did you mean `{best}`?"),
                None => match kind {
                    Kind::Template => format!("no file templates/{id}.* found"),
                    Kind::Role | Kind::Milestone => format!(
                        "expected one of {}, or add it to a {} section",
                        candidates.into_iter().collect::<Vec<_>>().join(", "),
                        kind.section()
                    ),
                    _ => format!("not defined in any {} section", kind.section()),
                },
            };
            self.d.error(
                loc(f, s),
                format!("unknown {} `{id}` ({hint})", kind.noun()),
            );
        }
        id.clone()
    }

    fn references(&mut self, kind: Kind, f: usize, list: &[S]) -> Vec<String> {
        list.iter().map(|s| self.reference(kind, f, s)).collect()
    }

    // ------------------------------------------------------------ scalars

    fn duration(&mut self, f: usize, s: &S) -> Duration {
        match s.value.parse::<Duration>() {
            Ok(d) => d,
            Err(e) => {
                let msg = match e {
                    DurationError::UnknownUnit(_) | DurationError::Empty => e.to_string(),
                    _ => format!("{e} (found `{}`)", s.value),
                };
                self.d.error(loc(f, s), msg);
                Duration::ZERO
            }
        }
    }

    /// A duration that must be > 0; `what` names the field in the message.
    fn positive_duration(&mut self, f: usize, s: &S, what: &str) -> Duration {
        let d = self.duration(f, s);
        if d.is_zero() && s.value.parse::<Duration>().is_ok() {
            self.d
                .error(loc(f, s), format!("{what} must be longer than 0"));
        }
        d
    }

    fn parse<T: FromStr<Err: std::fmt::Display>>(&mut self, f: usize, s: &S) -> Option<T> {
        match s.value.parse::<T>() {
            Ok(t) => Some(t),
            Err(e) => {
                self.d.error(loc(f, s), e.to_string());
                None
            }
        }
    }

    fn word<T: Copy>(&mut self, f: usize, s: &S, what: &str, table: &[(&str, T)]) -> Option<T> {
        if let Some((_, t)) = table.iter().find(|(name, _)| *name == s.value) {
            return Some(*t);
        }
        let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        self.d.error(
            loc(f, s),
            format!("unknown {what} `{}` (expected {})", s.value, one_of(&names)),
        );
        None
    }

    fn time_zone(&mut self, f: usize, s: &S) -> String {
        if jiff::tz::TimeZone::get(&s.value).is_err() {
            self.d.error(
                loc(f, s),
                format!(
                    "unknown time zone `{}` (expected an IANA name such as Europe/London)",
                    s.value
                ),
            );
        }
        s.value.clone()
    }

    fn time_of_day(&mut self, f: usize, s: &S) -> TimeOfDay {
        self.parse(f, s).unwrap_or_default()
    }

    /// Exactly one of `fields` (name, set?) must be set. Returns false (and reports) otherwise.
    fn exactly_one(&mut self, l: Loc, what: &str, fields: &[(&str, bool)]) -> bool {
        let names: Vec<String> = fields.iter().map(|(n, _)| format!("`{n}`")).collect();
        let set: Vec<String> = fields
            .iter()
            .filter(|(_, is_set)| *is_set)
            .map(|(n, _)| format!("`{n}`"))
            .collect();
        match set.len() {
            1 => true,
            0 => {
                self.d.error(
                    l,
                    format!("{what} needs one of {}", one_of_str(&names, "or")),
                );
                false
            }
            _ => {
                self.d.error(
                    l,
                    format!(
                        "{what} takes exactly one of {}, found {}",
                        one_of_str(&names, "or"),
                        one_of_str(&set, "and")
                    ),
                );
                false
            }
        }
    }

    // ------------------------------------------------------------ services

    fn service(&mut self, f: usize, x: raw::Service) -> Service {
        let owner_team = x
            .owner_team
            .as_ref()
            .map(|t| self.reference(Kind::Team, f, t));
        let escalation_policy = x
            .escalation_policy
            .as_ref()
            .map(|e| self.reference(Kind::EscalationPolicy, f, e));
        let depends_on = self.references(Kind::Service, f, &x.depends_on);
        let experts = self.references(Kind::Person, f, &x.experts);
        let expert_locs = x.experts.iter().map(|e| loc(f, e)).collect();
        self.rotation_spans.service(&x.id.value, expert_locs);
        Service {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            description: x.description,
            owner_team,
            escalation_policy,
            depends_on,
            experts,
        }
    }

    /// Report each cycle in `depends_on`, at the edge that closes it. Iterative DFS (no deep
    /// recursion on long chains).
    fn dependency_cycles(&mut self, graph: &[(String, Vec<(String, Loc)>)]) {
        let index: BTreeMap<&str, usize> = graph
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        #[derive(Clone, Copy, PartialEq)]
        enum Color {
            White,
            Grey,
            Black,
        }
        let mut color = vec![Color::White; graph.len()];
        let mut order: Vec<usize> = (0..graph.len()).collect();
        order.sort_by(|a, b| graph[*a].0.cmp(&graph[*b].0));
        for root in order {
            if color[root] != Color::White {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
            color[root] = Color::Grey;
            while let Some(top) = stack.last_mut() {
                let (node, edge) = *top;
                let Some((target, l)) = graph[node].1.get(edge) else {
                    color[node] = Color::Black;
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                let Some(&t) = index.get(target.as_str()) else {
                    continue; // unknown service: reported elsewhere
                };
                match color[t] {
                    Color::White => {
                        color[t] = Color::Grey;
                        stack.push((t, 0));
                    }
                    Color::Grey => {
                        let start = stack.iter().position(|(n, _)| *n == t).unwrap_or(0);
                        let mut path: Vec<&str> = stack[start..]
                            .iter()
                            .map(|(n, _)| graph[*n].0.as_str())
                            .collect();
                        path.push(graph[t].0.as_str());
                        let l = *l;
                        self.d
                            .error(l, format!("dependency cycle: {}", path.join(" -> ")));
                    }
                    Color::Black => {}
                }
            }
        }
    }

    // ------------------------------------------------------------ escalation

    fn escalation_policy(&mut self, f: usize, x: raw::EscalationPolicy) -> EscalationPolicy {
        if x.steps.value.is_empty() {
            self.d.error(
                loc(f, &x.steps),
                format!("escalation policy `{}` has no steps", x.id.value),
            );
        }
        let mut steps = Vec::new();
        let mut step_spans = Vec::new();
        for step in &x.steps.value {
            if step.targets.value.is_empty() {
                self.d
                    .error(loc(f, &step.targets), "escalation step has no targets");
            }
            let mut targets = Vec::new();
            let mut spans = Vec::new();
            for t in &step.targets.value {
                if let Some(target) = self.target(f, t) {
                    if let Target::Schedule(schedule) = &target {
                        self.schedule_targets.push(ScheduleTarget {
                            policy: x.id.value.clone(),
                            schedule: schedule.clone(),
                            at: loc(f, t),
                        });
                    }
                    spans.push((target.clone(), loc(f, t)));
                    targets.push(target);
                }
            }
            let delay = step
                .delay
                .as_ref()
                .map(|d| self.duration(f, d))
                .unwrap_or_default();
            step_spans.push(spans);
            steps.push(EscalationStep { targets, delay });
        }
        self.rotation_spans.policy(&x.id.value, step_spans);
        let repeat = x.repeat.as_ref().map_or(0, |r| r.value);
        if steps.len() == 1 && repeat == 0 {
            self.d.warning(
                loc(f, &x.steps),
                format!(
                    "escalation policy `{}` has one step and no repeat: if nobody acknowledges, nobody else is paged",
                    x.id.value
                ),
            );
        }
        if let Some(r) = x.repeat.as_ref().filter(|r| r.value > 0)
            && !steps.is_empty()
            && steps.iter().all(|s| s.delay.is_zero())
        {
            self.d.error(
                loc(f, r),
                "escalation policy repeats but all its step delays are 0 (give the steps a delay)",
            );
        }
        EscalationPolicy {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            description: x.description,
            repeat,
            steps,
        }
    }

    fn target(&mut self, f: usize, t: &Spanned<raw::Target>) -> Option<Target> {
        let v = &t.value;
        let ok = self.exactly_one(
            loc(f, t),
            "an escalation target",
            &[
                ("schedule", v.schedule.is_some()),
                ("person", v.person.is_some()),
                ("alias", v.alias.is_some()),
                ("slack_channel", v.slack_channel.is_some()),
            ],
        );
        let mut out = None;
        if let Some(s) = &v.schedule {
            out = Some(Target::Schedule(self.reference(Kind::Schedule, f, s)));
        }
        if let Some(s) = &v.person {
            out = Some(Target::Person(self.reference(Kind::Person, f, s)));
        }
        if let Some(s) = &v.alias {
            out = Some(Target::Alias(self.reference(Kind::Alias, f, s)));
        }
        if let Some(s) = &v.slack_channel {
            self.slack_channel(f, s);
            out = Some(Target::SlackChannel(s.value.clone()));
        }
        out.filter(|_| ok)
    }
}

/// An escalation step's schedule target, located for the coverage lints.
struct ScheduleTarget {
    policy: String,
    schedule: String,
    at: Loc,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(days: &[Weekday], from: &str, to: &str) -> Restriction {
        Restriction {
            days: days.to_vec(),
            from: from.parse().unwrap_or_default(),
            to: to.parse().unwrap_or_default(),
        }
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("checkout"));
        assert!(is_valid_id("p1_x-2"));
        assert!(is_valid_id("9lives"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("-x"));
        assert!(!is_valid_id("Checkout"));
        assert!(!is_valid_id("a b"));
    }

    #[test]
    fn restriction_overlaps() {
        use super::schedules::overlap;
        use Weekday::*;
        let weekdays = r(&[Mon, Tue, Wed, Thu, Fri], "09:00", "17:00");
        assert_eq!(overlap(&weekdays, &r(&[Wed], "16:59", "18:00")), Some(Wed));
        assert_eq!(overlap(&weekdays, &r(&[Wed], "17:00", "18:00")), None);
        assert_eq!(overlap(&weekdays, &r(&[Sat, Sun], "09:00", "17:00")), None);
        // crossing midnight into the next day
        let nights = r(&[Mon], "22:00", "10:00");
        assert_eq!(overlap(&weekdays, &nights), Some(Mon));
        assert_eq!(overlap(&r(&[Tue], "10:00", "11:00"), &nights), None);
        // Sunday night into Monday morning
        assert_eq!(
            overlap(&r(&[Mon], "01:00", "02:00"), &r(&[Sun], "23:00", "03:00")),
            Some(Sun)
        );
        // from == to is a whole day
        assert_eq!(
            overlap(&r(&[Sat], "00:00", "00:00"), &r(&[Sat], "12:00", "13:00")),
            Some(Sat)
        );
    }
}
