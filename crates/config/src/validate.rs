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
mod rotation_lint;
mod staffing;
mod status_page;

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

    // ------------------------------------------------------------ people, teams, aliases

    fn person(&mut self, f: usize, x: raw::Person) -> Person {
        let time_zone = self.time_zone(f, &x.time_zone);
        let c = &x.contact;
        if let Some(e) = &c.email {
            self.email(f, e);
        }
        if let Some(p) = &c.phone
            && !is_e164(&p.value)
        {
            self.d.error(
                loc(f, p),
                format!(
                    "invalid phone number `{}` (expected E.164, like +442071838750)",
                    p.value
                ),
            );
        }
        if let Some(w) = &c.webhook {
            self.url(f, w);
        }
        if let Some(s) = &c.slack_user
            && s.value.trim().is_empty()
        {
            self.d.error(loc(f, s), "slack_user is empty");
        }
        let contact = Contact {
            email: c.email.as_ref().map(|s| s.value.clone()),
            slack_user: c.slack_user.as_ref().map(|s| s.value.clone()),
            phone: c.phone.as_ref().map(|s| s.value.clone()),
            webhook: c.webhook.as_ref().map(|s| s.value.clone()),
        };
        let mut rules = Vec::new();
        for r in &x.notification_rules {
            let channel = self.word(
                f,
                &r.channel,
                "channel",
                &[
                    ("slack", Channel::Slack),
                    ("email", Channel::Email),
                    ("sms", Channel::Sms),
                    ("webhook", Channel::Webhook),
                    ("phone", Channel::Phone),
                ],
            );
            let after = r
                .after
                .as_ref()
                .map(|a| self.duration(f, a))
                .unwrap_or_default();
            if let Some(channel) = channel {
                let (field, present) = match channel {
                    Channel::Slack => ("slack_user", c.slack_user.is_some()),
                    Channel::Email => ("email", c.email.is_some()),
                    Channel::Sms | Channel::Phone => ("phone", c.phone.is_some()),
                    Channel::Webhook => ("webhook", c.webhook.is_some()),
                };
                if !present {
                    self.d.error(
                        loc(f, &r.channel),
                        format!(
                            "notification rule uses {} but `{}` has no contact.{field}",
                            r.channel.value, x.id.value
                        ),
                    );
                }
                rules.push(NotificationRule { channel, after });
            }
        }
        Person {
            id: x.id.value,
            name: x.name,
            time_zone,
            contact,
            notification_rules: rules,
        }
    }

    fn email(&mut self, f: usize, s: &S) {
        let ok = s
            .value
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !s.value.contains(' '));
        if !ok {
            self.d
                .error(loc(f, s), format!("invalid email address `{}`", s.value));
        }
    }

    fn url(&mut self, f: usize, s: &S) {
        let v = &s.value;
        let ok = (v.starts_with("https://") || v.starts_with("http://"))
            && !v.contains(char::is_whitespace)
            && v.split("://").nth(1).is_some_and(|rest| !rest.is_empty());
        if !ok {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid url `{}` (expected http:// or https://)",
                    muster_core::secret::redact_url(v)
                ),
            );
        }
    }

    fn team(&mut self, f: usize, x: raw::Team) -> Team {
        let members = self.references(Kind::Person, f, &x.members);
        Team {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            description: x.description,
            members,
        }
    }

    fn alias(&mut self, f: usize, x: raw::Alias) -> Alias {
        if x.people.is_empty()
            && x.teams.is_empty()
            && x.schedules.is_empty()
            && x.slack_channels.is_empty()
            && x.emails.is_empty()
        {
            self.d.error(
                loc(f, &x.id),
                format!(
                    "alias `{}` has no targets (give people, teams, schedules, slack_channels or emails)",
                    x.id.value
                ),
            );
        }
        let people = self.references(Kind::Person, f, &x.people);
        let teams = self.references(Kind::Team, f, &x.teams);
        let schedules = self.references(Kind::Schedule, f, &x.schedules);
        for c in &x.slack_channels {
            self.slack_channel(f, c);
        }
        for e in &x.emails {
            self.email(f, e);
        }
        Alias {
            id: x.id.value,
            description: x.description,
            people,
            teams,
            schedules,
            slack_channels: x.slack_channels.into_iter().map(|s| s.value).collect(),
            emails: x.emails.into_iter().map(|s| s.value).collect(),
        }
    }

    fn slack_channel(&mut self, f: usize, s: &S) {
        let v = &s.value;
        let named = v.len() > 1 && v.starts_with('#') && !v.contains(char::is_whitespace);
        let channel_id = v.len() > 1
            && (v.starts_with('C') || v.starts_with('G'))
            && v.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !named && !channel_id {
            self.d.error(
                loc(f, s),
                format!(
                    "invalid slack channel `{v}` (expected `#name` or a channel id like C0123ABC)"
                ),
            );
        }
    }

    // ------------------------------------------------------------ slack

    fn slack(&mut self, f: usize, x: raw::Slack) -> SlackConfig {
        let mut out = SlackConfig::default();
        if let Some(c) = &x.command {
            let name = c.value.strip_prefix('/').unwrap_or("");
            // Slack: lower case, at most 32 characters, no spaces.
            let ok = !name.is_empty()
                && c.value.len() <= 32
                && name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                });
            if ok {
                out.command = c.value.clone();
            } else {
                self.d.error(
                    loc(f, c),
                    format!(
                        "invalid slack command `{}` (expected `/` then lower-case letters, \
                         digits, `-` or `_`, at most 32 characters, e.g. `/muster`)",
                        c.value
                    ),
                );
            }
        }
        if let Some(t) = &x.timeline {
            match t.value.as_str() {
                "all" => out.timeline = TimelineCapture::All,
                "reaction" => out.timeline = TimelineCapture::Reaction,
                "off" => out.timeline = TimelineCapture::Off,
                other => self.d.error(
                    loc(f, t),
                    format!("unknown slack timeline `{other}` (expected all, reaction or off)"),
                ),
            }
        }
        if let Some(r) = &x.reaction {
            let name = r.value.trim_matches(':');
            let ok = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_+'".contains(&b));
            if ok {
                out.reaction = name.to_string();
            } else {
                self.d.error(
                    loc(f, r),
                    format!(
                        "invalid slack reaction `{}` (expected an emoji name such as pushpin)",
                        r.value
                    ),
                );
            }
        }
        out
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

    // ------------------------------------------------------------ schedules

    fn schedule(&mut self, f: usize, x: raw::Schedule) -> Schedule {
        let time_zone = self.time_zone(f, &x.time_zone);
        let team = x.team.as_ref().map(|t| self.reference(Kind::Team, f, t));
        if x.layers.value.is_empty() {
            self.d.error(
                loc(f, &x.layers),
                format!("schedule `{}` has no layers", x.id.value),
            );
        }
        let mut layer_names: BTreeMap<String, Loc> = BTreeMap::new();
        let mut layers = Vec::new();
        let mut layer_spans = Vec::new();
        for layer in x.layers.value {
            layer_spans.push(rotation_lint::LayerSpans {
                shift: loc(f, &layer.shift),
                members: layer.members.value.iter().map(|m| loc(f, m)).collect(),
            });
            let l = loc(f, &layer.name);
            if layer.name.value.trim().is_empty() {
                self.d.error(l, "layer name is empty");
            } else if let Some(first) = layer_names.get(&layer.name.value) {
                let first = self.d.short(*first);
                self.d.error(
                    l,
                    format!(
                        "duplicate layer name `{}` in this schedule (first at {first})",
                        layer.name.value
                    ),
                );
            } else {
                layer_names.insert(layer.name.value.clone(), l);
            }
            layers.push(self.layer(f, layer));
        }
        let members: BTreeSet<&str> = layers
            .iter()
            .flat_map(|l| l.members.iter().map(String::as_str))
            .collect();
        self.rotation_spans.schedule(&x.id.value, layer_spans);
        let mut overrides = Vec::new();
        for o in &x.overrides {
            let person = self.reference(Kind::Person, f, &o.person);
            let replaces = o.replaces.as_ref().map(|r| {
                let id = self.reference(Kind::Person, f, r);
                if self.exists(Kind::Person, &id) && !members.contains(id.as_str()) {
                    self.d.warning(
                        loc(f, r),
                        format!("override replaces `{id}`, who is in no layer of this schedule"),
                    );
                }
                id
            });
            let from = self.timestamp(f, &o.from);
            let to = self.timestamp(f, &o.to);
            if let (Some(from), Some(to)) = (from, to)
                && to <= from
            {
                self.d.error(
                    loc(f, &o.to),
                    format!(
                        "override ends before it starts (`to` {} is not after `from` {})",
                        o.to.value, o.from.value
                    ),
                );
            }
            overrides.push(Override {
                person,
                replaces,
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
                reason: o.reason.clone(),
            });
        }
        Schedule {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            time_zone,
            team,
            layers,
            overrides,
        }
    }

    fn timestamp(&mut self, f: usize, s: &S) -> Option<jiff::Timestamp> {
        match s.value.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "invalid timestamp `{}` (expected RFC 3339 with an offset, like 2026-12-24T09:00:00Z)",
                        s.value
                    ),
                );
                None
            }
        }
    }

    fn layer(&mut self, f: usize, x: raw::Layer) -> Layer {
        if x.members.value.is_empty() {
            self.d.error(
                loc(f, &x.members),
                format!("layer `{}` has no members", x.name.value),
            );
        }
        if x.members.value.len() == 1 {
            self.d.warning(
                loc(f, &x.members),
                format!(
                    "layer `{}` has one member: they are on call whenever it covers, with nobody to hand off to",
                    x.name.value
                ),
            );
        }
        let members = self.references(Kind::Person, f, &x.members.value);
        let shift = self.shift_length(f, &x.shift);
        let handoff = self.time_of_day(f, &x.handoff);
        let start = match x.start.value.parse::<jiff::civil::Date>() {
            Ok(d) => d,
            Err(_) => {
                self.d.error(
                    loc(f, &x.start),
                    format!("invalid date `{}` (expected YYYY-MM-DD)", x.start.value),
                );
                jiff::civil::Date::default()
            }
        };
        let restrictions = self.restrictions(f, &x.restrictions);
        Layer {
            name: x.name.value,
            members,
            shift,
            handoff,
            start,
            restrictions,
        }
    }

    fn restrictions(&mut self, f: usize, list: &[raw::Restriction]) -> Vec<Restriction> {
        const DAYS: [(&str, Weekday); 7] = [
            ("mon", Weekday::Mon),
            ("tue", Weekday::Tue),
            ("wed", Weekday::Wed),
            ("thu", Weekday::Thu),
            ("fri", Weekday::Fri),
            ("sat", Weekday::Sat),
            ("sun", Weekday::Sun),
        ];
        let mut out: Vec<(Restriction, bool)> = Vec::new();
        for r in list {
            let mut days = Vec::new();
            if r.days.value.is_empty() {
                self.d.error(loc(f, &r.days), "restriction has no days");
            }
            for day in &r.days.value {
                if let Some(w) = self.word(f, day, "day", &DAYS) {
                    if days.contains(&w) {
                        self.d
                            .error(loc(f, day), format!("day `{}` is listed twice", day.value));
                    } else {
                        days.push(w);
                    }
                }
            }
            let from = self.parse::<TimeOfDay>(f, &r.from);
            let to = self.parse::<TimeOfDay>(f, &r.to);
            let times_ok = from.is_some() && to.is_some();
            let restriction = Restriction {
                days,
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
            };
            // compare with the earlier restrictions of this layer
            let comparable = if times_ok { out.as_slice() } else { &[] };
            for (i, (earlier, ok)) in comparable.iter().enumerate() {
                if !ok {
                    continue;
                }
                if let Some(day) = overlap(earlier, &restriction) {
                    let msg = format!(
                        "restriction overlaps restriction {} of this layer on {} ({}-{} and {}-{})",
                        i + 1,
                        day.name(),
                        earlier.from,
                        earlier.to,
                        restriction.from,
                        restriction.to
                    );
                    self.d.error(loc(f, &r.from), msg);
                    break;
                }
            }
            out.push((restriction, times_ok));
        }
        out.into_iter().map(|(r, _)| r).collect()
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

    // ------------------------------------------------------------ policies

    fn conditions(&mut self, f: usize, c: &raw::Conditions) -> Conditions {
        let severity = c
            .severity
            .iter()
            .flatten()
            .filter_map(|s| self.parse::<Severity>(f, s))
            .collect();
        let services = self.references(Kind::Service, f, c.services.as_deref().unwrap_or(&[]));
        let status = c
            .status
            .iter()
            .flatten()
            .filter_map(|s| self.status(f, s))
            .collect();
        Conditions {
            severity,
            services,
            status,
            incident_type: c.incident_type.0.clone(),
            labels: c.labels.clone(),
        }
    }

    fn status(&mut self, f: usize, s: &S) -> Option<Status> {
        self.word(
            f,
            s,
            "status",
            &[
                ("triage", Status::Triage),
                ("investigating", Status::Investigating),
                ("identified", Status::Identified),
                ("mitigated", Status::Mitigated),
                ("resolved", Status::Resolved),
            ],
        )
    }

    fn policy(&mut self, f: usize, x: raw::Policy) -> Policy {
        let id_loc = loc(f, &x.id);
        let when = self.conditions(f, &x.when);
        let given: Vec<(&str, Loc)> = [
            ("deadline", x.deadline.as_ref().map(|t| loc(f, t))),
            ("on_event", x.on_event.as_ref().map(|t| loc(f, t))),
            ("cadence", x.cadence.as_ref().map(|t| loc(f, t))),
            (
                "solo_responder",
                x.solo_responder.as_ref().map(|t| loc(f, t)),
            ),
        ]
        .into_iter()
        .filter_map(|(n, l)| l.map(|l| (n, l)))
        .collect();
        match given.as_slice() {
            [] => self.d.error(
                id_loc,
                format!(
                    "policy `{}` has no trigger (expected one of `deadline`, `on_event`, `cadence` or `solo_responder`)",
                    x.id.value
                ),
            ),
            [_] => {}
            [(first, _), (second, l), ..] => self.d.error(
                *l,
                format!(
                    "policy `{}` has several triggers (`{first}` and `{second}`); give exactly one, or split it into two policies",
                    x.id.value
                ),
            ),
        }

        let mut trigger = Trigger::SoloResponder {
            for_: Duration::ZERO,
        };
        if let Some(s) = &x.solo_responder {
            trigger = Trigger::SoloResponder {
                for_: self.positive_duration(f, &s.value.for_, "solo_responder.for"),
            };
        }
        if let Some(c) = &x.cadence {
            trigger = self.cadence(f, c);
        }
        if let Some(e) = &x.on_event {
            trigger = self.on_event(f, e);
        }
        let is_deadline = x.deadline.is_some();
        if let Some(d) = &x.deadline {
            trigger = self.deadline(
                f,
                d,
                x.on_warn.as_ref().is_some_and(|w| !w.value.is_empty()),
                &x.on_warn,
            );
        }

        let on_warn = self.actions(f, x.on_warn.as_ref());
        let on_missed = self.actions(f, x.on_missed.as_ref());
        let actions = self.actions(f, x.actions.as_ref());
        if !given.is_empty() {
            if is_deadline {
                if let Some(a) = x.actions.as_ref().filter(|a| !a.value.is_empty()) {
                    self.d.error(
                        loc(f, a),
                        "a deadline policy runs `on_warn` and `on_missed`, not `actions`",
                    );
                }
                if on_missed.is_empty() && on_warn.is_empty() {
                    self.d.warning(
                        id_loc,
                        format!(
                            "policy `{}` does nothing (no on_warn or on_missed actions)",
                            x.id.value
                        ),
                    );
                }
            } else {
                for (name, list) in [("on_warn", &x.on_warn), ("on_missed", &x.on_missed)] {
                    if let Some(a) = list.as_ref().filter(|a| !a.value.is_empty()) {
                        self.d.error(
                            loc(f, a),
                            format!("`{name}` is only for deadline policies (use `actions`)"),
                        );
                    }
                }
                if actions.is_empty() {
                    self.d.warning(
                        id_loc,
                        format!("policy `{}` does nothing (no actions)", x.id.value),
                    );
                }
            }
        }
        Policy {
            id: x.id.value,
            description: x.description,
            when,
            trigger,
            on_warn,
            on_missed,
            actions,
            source: SourceLocation {
                path: self.d.rel_path(f),
                line: id_loc.line,
                col: id_loc.col,
            },
        }
    }

    fn deadline(
        &mut self,
        f: usize,
        d: &Spanned<raw::Deadline>,
        has_on_warn: bool,
        on_warn: &Option<Spanned<Vec<Spanned<raw::Action>>>>,
    ) -> Trigger {
        let v = &d.value;
        let within = self.positive_duration(f, &v.within, "deadline.within");
        let (of, expect) = self.deadline_expect(f, d);
        let warn_before = v.warn_before.as_ref().map(|w| {
            let wb = self.duration(f, w);
            if w.value.parse::<Duration>().is_ok() && wb >= within && !within.is_zero() {
                self.d.error(
                    loc(f, w),
                    format!("warn_before ({wb}) must be shorter than within ({within})"),
                );
            }
            wb
        });
        match (&v.warn_before, on_warn) {
            (None, Some(w)) if has_on_warn => self
                .d
                .error(loc(f, w), "`on_warn` needs `warn_before` in the deadline"),
            (Some(w), _) if !has_on_warn => self.d.warning(
                loc(f, w),
                "warn_before is set but `on_warn` is empty: nobody is warned",
            ),
            _ => {}
        }
        Trigger::Deadline {
            within,
            of,
            expect,
            warn_before,
        }
    }

    fn on_event(&mut self, f: usize, e: &Spanned<raw::OnEvent>) -> Trigger {
        let v = &e.value;
        self.exactly_one(
            loc(f, e),
            "on_event",
            &[
                ("milestone", v.milestone.is_some()),
                ("status", v.status.is_some()),
                ("severity_changed", v.severity_changed.is_some()),
            ],
        );
        let mut event = Event::SeverityChanged;
        if let Some(sc) = &v.severity_changed
            && !sc.value
        {
            self.d.error(
                loc(f, sc),
                "`severity_changed: false` never fires (use `true`)",
            );
        }
        if let Some(s) = &v.status {
            event = Event::Status(self.status(f, s).unwrap_or(Status::Triage));
        }
        if let Some(m) = &v.milestone {
            event = Event::Milestone(self.reference(Kind::Milestone, f, m));
        }
        Trigger::OnEvent(event)
    }

    fn cadence(&mut self, f: usize, c: &Spanned<raw::Cadence>) -> Trigger {
        let v = &c.value;
        let every = self.positive_duration(f, &v.every, "cadence.every");
        let reset_on = v
            .reset_on
            .as_ref()
            .map(|m| self.reference(Kind::Milestone, f, m));
        let while_ = self.conditions(f, &v.while_);
        let escalate_after = v
            .escalate_after
            .as_ref()
            .map(|d| self.positive_duration(f, d, "escalate_after"));
        let escalate_to = v.escalate_to.as_ref().and_then(|r| self.recipient(f, r));
        match (&v.escalate_after, &v.escalate_to) {
            (Some(a), None) => self
                .d
                .error(loc(f, a), "`escalate_after` needs `escalate_to`"),
            (None, Some(t)) => self
                .d
                .error(loc(f, t), "`escalate_to` needs `escalate_after`"),
            _ => {}
        }
        Trigger::Cadence {
            every,
            reset_on,
            while_,
            escalate_after,
            escalate_to,
        }
    }

    fn recipient(&mut self, f: usize, r: &Spanned<raw::Recipient>) -> Option<Recipient> {
        let v = &r.value;
        let ok = self.exactly_one(
            loc(f, r),
            "escalate_to",
            &[
                ("role", v.role.is_some()),
                ("schedule", v.schedule.is_some()),
                ("person", v.person.is_some()),
                ("alias", v.alias.is_some()),
                ("escalation_policy", v.escalation_policy.is_some()),
            ],
        );
        let mut out = None;
        if let Some(s) = &v.role {
            out = Some(Recipient::Role(self.reference(Kind::Role, f, s)));
        }
        if let Some(s) = &v.schedule {
            out = Some(Recipient::Schedule(self.reference(Kind::Schedule, f, s)));
        }
        if let Some(s) = &v.person {
            out = Some(Recipient::Person(self.reference(Kind::Person, f, s)));
        }
        if let Some(s) = &v.alias {
            out = Some(Recipient::Alias(self.reference(Kind::Alias, f, s)));
        }
        if let Some(s) = &v.escalation_policy {
            out = Some(Recipient::EscalationPolicy(self.reference(
                Kind::EscalationPolicy,
                f,
                s,
            )));
        }
        out.filter(|_| ok)
    }

    fn actions(
        &mut self,
        f: usize,
        list: Option<&Spanned<Vec<Spanned<raw::Action>>>>,
    ) -> Vec<Action> {
        let Some(list) = list else {
            return Vec::new();
        };
        list.value
            .iter()
            .filter_map(|a| self.action(f, a))
            .collect()
    }

    fn action(&mut self, f: usize, a: &Spanned<raw::Action>) -> Option<Action> {
        let v = &a.value;
        let ok = self.exactly_one(
            loc(f, a),
            "an action",
            &[
                ("page", v.page.is_some()),
                ("notify", v.notify.is_some()),
                ("nudge", v.nudge.is_some()),
                ("assign_role", v.assign_role.is_some()),
                ("create_task", v.create_task.is_some()),
                ("draft_status_update", v.draft_status_update.is_some()),
            ],
        );
        let mut out = None;
        if let Some(p) = &v.page {
            out = self.page(f, p).map(|target| Action::Page { target });
        }
        if let Some(n) = &v.notify {
            out = Some(Action::Notify {
                alias: self.reference(Kind::Alias, f, &n.value.alias),
                template: self.reference(Kind::Template, f, &n.value.template),
            });
        }
        if let Some(n) = &v.nudge {
            out = Some(Action::Nudge {
                role: self.reference(Kind::Role, f, &n.value.role),
                template: n
                    .value
                    .template
                    .as_ref()
                    .map(|t| self.reference(Kind::Template, f, t)),
            });
        }
        if let Some(r) = &v.assign_role {
            let role = self.reference(Kind::Role, f, &r.value.role);
            let one = self.exactly_one(
                loc(f, r),
                "assign_role",
                &[
                    ("schedule", r.value.schedule.is_some()),
                    ("person", r.value.person.is_some()),
                ],
            );
            let mut to = None;
            if let Some(s) = &r.value.schedule {
                to = Some(Assignee::Schedule(self.reference(Kind::Schedule, f, s)));
            }
            if let Some(s) = &r.value.person {
                to = Some(Assignee::Person(self.reference(Kind::Person, f, s)));
            }
            out = to.filter(|_| one).map(|to| Action::AssignRole { role, to });
        }
        if let Some(t) = &v.create_task {
            if t.value.title.value.trim().is_empty() {
                self.d.error(loc(f, &t.value.title), "task title is empty");
            }
            out = Some(Action::CreateTask {
                title: t.value.title.value.clone(),
            });
        }
        if let Some(d) = &v.draft_status_update {
            out = Some(Action::DraftStatusUpdate {
                template: d
                    .value
                    .template
                    .as_ref()
                    .map(|t| self.reference(Kind::Template, f, t)),
            });
        }
        out.filter(|_| ok)
    }

    fn page(&mut self, f: usize, p: &Spanned<raw::PageTarget>) -> Option<PageTarget> {
        let v = &p.value;
        let ok = self.exactly_one(
            loc(f, p),
            "page",
            &[
                ("schedule", v.schedule.is_some()),
                ("escalation_policy", v.escalation_policy.is_some()),
                ("person", v.person.is_some()),
                ("alias", v.alias.is_some()),
            ],
        );
        let mut out = None;
        if let Some(s) = &v.schedule {
            out = Some(PageTarget::Schedule(self.reference(Kind::Schedule, f, s)));
        }
        if let Some(s) = &v.escalation_policy {
            out = Some(PageTarget::EscalationPolicy(self.reference(
                Kind::EscalationPolicy,
                f,
                s,
            )));
        }
        if let Some(s) = &v.person {
            out = Some(PageTarget::Person(self.reference(Kind::Person, f, s)));
        }
        if let Some(s) = &v.alias {
            out = Some(PageTarget::Alias(self.reference(Kind::Alias, f, s)));
        }
        out.filter(|_| ok)
    }

    // ------------------------------------------------------------ playbooks

    fn playbook(&mut self, f: usize, x: raw::Playbook) -> Playbook {
        let matches = self.conditions(f, &x.matches);
        let notify = x
            .notify
            .iter()
            .map(|n| Notification {
                alias: self.reference(Kind::Alias, f, &n.alias),
                template: self.reference(Kind::Template, f, &n.template),
            })
            .collect();
        let links = x
            .links
            .iter()
            .map(|l| {
                self.url(f, &l.url);
                Link {
                    title: l.title.clone(),
                    url: l.url.value.clone(),
                }
            })
            .collect();
        Playbook {
            id: x.id.value,
            description: x.description,
            matches,
            notify,
            tasks: self.tasks(f, &x.tasks),
            links,
        }
    }

    /// A playbook's checklist: titles as written, none blank.
    fn tasks(&mut self, f: usize, list: &[S]) -> Vec<String> {
        let mut out = Vec::new();
        for t in list {
            if t.value.trim().is_empty() {
                self.d.error(loc(f, t), "a playbook task needs a title");
            } else {
                out.push(t.value.trim().to_string());
            }
        }
        out
    }
}

/// An escalation step's schedule target, located for the coverage lints.
struct ScheduleTarget {
    policy: String,
    schedule: String,
    at: Loc,
}

/// How far ahead `muster check` looks for coverage gaps.
const LINT_HORIZON_DAYS: i64 = 8 * 7;

impl V<'_> {
    // ------------------------------------------------------------ schedule lints

    fn shift_length(&mut self, f: usize, s: &S) -> ShiftLength {
        match s.value.parse::<ShiftLength>() {
            Ok(l) => l,
            Err(e) => {
                self.d.error(loc(f, s), e.to_string());
                ShiftLength::Days(1)
            }
        }
    }

    /// Warnings that need the current time: coverage gaps in the next 8 weeks, in schedules and
    /// behind escalation steps. Skipped while the configuration has errors (its schedules may be
    /// placeholders), so they appear once the errors are fixed.
    fn coverage_lints(&mut self, config: &Config, now: jiff::Timestamp) {
        if self.d.has_errors() {
            return;
        }
        let horizon = now
            .checked_add(jiff::SignedDuration::from_hours(24 * LINT_HORIZON_DAYS))
            .unwrap_or(now);
        let mut gaps: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for (id, schedule) in &config.schedules {
            let Ok(core) = schedule.to_core() else {
                continue;
            };
            let gap = muster_core::schedule::first_gap(&core, now, horizon)
                .map(|g| describe_gap(&core.time_zone, schedule.time_zone.as_str(), g));
            if let (Some(text), Some(l)) = (
                &gap,
                self.ids
                    .get(&Kind::Schedule)
                    .and_then(|m| m.get(id))
                    .copied(),
            ) {
                self.d.warning(
                    l,
                    format!(
                        "schedule `{id}` has nobody on call {text} (first gap in the next 8 weeks)"
                    ),
                );
            }
            gaps.insert(id.as_str(), gap);
        }
        let targets = std::mem::take(&mut self.schedule_targets);
        for t in &targets {
            if let Some(Some(text)) = gaps.get(t.schedule.as_str()) {
                self.d.warning(
                    t.at,
                    format!(
                        "escalation policy `{}` pages schedule `{}` here, which has nobody on call {text}: this step may page nobody",
                        t.policy, t.schedule
                    ),
                );
            }
        }
        self.schedule_targets = targets;
    }
}

/// `from 2026-12-24 17:00 (Europe/London) to 2026-12-28 09:00` for a lint message.
fn describe_gap(tz: &jiff::tz::TimeZone, name: &str, gap: muster_core::schedule::Gap) -> String {
    let fmt = |t: jiff::Timestamp| {
        t.to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    format!("from {} to {} ({name})", fmt(gap.start), fmt(gap.end))
}

/// The first weekday on which `b` overlaps `a` (windows may cross midnight, also Sun → Mon).
fn overlap(a: &Restriction, b: &Restriction) -> Option<Weekday> {
    const DAY: u32 = 24 * 60;
    const WEEK: u32 = 7 * DAY;
    let windows = |r: &Restriction| -> Vec<(Weekday, u32, u32)> {
        let from = r.from.minutes_since_midnight();
        let to = r.to.minutes_since_midnight();
        let len = if to > from {
            to - from
        } else {
            DAY - from + to
        };
        r.days
            .iter()
            .map(|d| {
                let start = d.index() as u32 * DAY + from;
                (*d, start, start + len)
            })
            .collect()
    };
    let wa = windows(a);
    for (day, s2, e2) in windows(b) {
        for &(_, s1, e1) in &wa {
            for shift in [0, WEEK] {
                // compare b with a, shifting either by a week to catch Sun → Mon wrap-around
                if (s1 + shift).max(s2) < (e1 + shift).min(e2)
                    || s1.max(s2 + shift) < e1.min(e2 + shift)
                {
                    return Some(day);
                }
            }
        }
    }
    None
}

fn is_e164(s: &str) -> bool {
    s.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    one_of_str(&quoted, "or")
}

/// `a`, `a or b`, `a, b or c`.
fn one_of_str(names: &[String], conj: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {conj} {last}", rest.join(", ")),
    }
}

/// The closest candidate within a small edit distance, if any.
fn suggest<'a>(name: &str, candidates: &'a BTreeSet<String>) -> Option<&'a str> {
    let max = match name.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
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

    #[test]
    fn suggestions() {
        let names: BTreeSet<String> = ["alice", "bob", "ops_lead"].map(String::from).into();
        assert_eq!(suggest("alic", &names), Some("alice"));
        assert_eq!(suggest("opslead", &names), Some("ops_lead"));
        assert_eq!(suggest("zed", &names), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn phones_and_lists() {
        assert!(is_e164("+442071838750"));
        assert!(!is_e164("442071838750"));
        assert!(!is_e164("+44 20 7183"));
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
        assert_eq!(one_of(&["a"]), "a");
    }
}
