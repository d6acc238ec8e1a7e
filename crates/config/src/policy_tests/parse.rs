//! What a policy test file says, read with locations: the raw YAML shape and its checks
//! against the configuration (`Cx`), turned into the [`TestCase`]s that [`super::run_case`]
//! runs. Every problem is a diagnostic at its file:line:col.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCase {
    name: S,
    policies: Option<Vec<S>>,
    until: Option<S>,
    #[serde(default)]
    events: Vec<Spanned<RawEvent>>,
    #[serde(default)]
    expect: Vec<Spanned<RawExpect>>,
    #[serde(default)]
    outcome: BTreeMap<String, Spanned<RawOutcome>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    at: S,
    declared: Option<Spanned<RawDeclared>>,
    milestone: Option<S>,
    /// Who reached the milestone or posted the update.
    by: Option<S>,
    status: Option<S>,
    severity: Option<S>,
    role: Option<Spanned<RawRole>>,
    role_released: Option<S>,
    responder_joined: Option<S>,
    responder_left: Option<S>,
    message_posted: Option<S>,
    status_update_posted: Option<Spanned<RawEmpty>>,
    alert_attached: Option<Spanned<RawEmpty>>,
    nudge_acknowledged: Option<S>,
    notified: Option<Spanned<RawAudience>>,
    acknowledged: Option<Spanned<RawAudience>>,
}

/// Exactly one field must be set.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudience {
    alias: Option<S>,
    schedule: Option<S>,
    person: Option<S>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDeclared {
    severity: S,
    service: Option<S>,
    #[serde(default)]
    services: Vec<S>,
    incident_type: Option<S>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    role: S,
    person: S,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEmpty {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    at: S,
    policy: Option<S>,
    page: Option<Spanned<BTreeMap<String, S>>>,
    notify: Option<Spanned<BTreeMap<String, S>>>,
    nudge: Option<Spanned<BTreeMap<String, S>>>,
    assign_role: Option<Spanned<BTreeMap<String, S>>>,
    create_task: Option<Spanned<BTreeMap<String, S>>>,
    draft_status_update: Option<Spanned<BTreeMap<String, S>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutcome {
    met: Option<Spanned<bool>>,
    missed: Option<Spanned<bool>>,
    margin: Option<S>,
    by: Option<S>,
}

const ACTION_FIELDS: [(&str, &[&str]); 6] = [
    (
        "page",
        &["schedule", "escalation_policy", "person", "alias"],
    ),
    ("notify", &["alias", "template"]),
    ("nudge", &["role", "template"]),
    ("assign_role", &["role", "schedule", "person"]),
    ("create_task", &["title"]),
    ("draft_status_update", &["template"]),
];

pub(super) struct Cx<'a> {
    pub(super) d: &'a mut Diags,
    pub(super) f: usize,
    pub(super) config: &'a Config,
}

impl Cx<'_> {
    fn loc<T>(&self, s: &Spanned<T>) -> Loc {
        Loc {
            file: self.f,
            line: s.referenced.line() as usize,
            col: s.referenced.column() as usize,
        }
    }

    fn err<T>(&mut self, at: &Spanned<T>, msg: impl Into<String>) {
        let loc = self.loc(at);
        self.d.error(loc, msg);
    }

    fn offset(&mut self, s: &S) -> Option<SignedDuration> {
        match s.value.parse::<Duration>() {
            Ok(d) => Some(d.to_signed()),
            Err(e) => {
                self.err(s, format!("{e} (found `{}`)", s.value));
                None
            }
        }
    }

    fn known(&mut self, s: &S, what: &str, set: &std::collections::BTreeSet<String>) -> String {
        if !set.contains(&s.value) {
            self.err(s, format!("unknown {what} `{}`", s.value));
        }
        s.value.clone()
    }

    fn policy(&mut self, s: &S) -> String {
        if !self.config.policies.contains_key(&s.value) {
            self.err(s, format!("unknown policy `{}`", s.value));
        }
        s.value.clone()
    }

    pub(super) fn case(&mut self, c: RawCase, default_scope: &[String]) -> Option<TestCase> {
        let errors_before = self.d_errors();
        let scope = match &c.policies {
            Some(list) => list.iter().map(|p| self.policy(p)).collect(),
            None => default_scope.to_vec(),
        };
        let mut events = Vec::new();
        for e in &c.events {
            if let Some(ev) = self.event(e) {
                events.push(ev);
            }
        }
        let last = events.iter().map(|(at, _)| *at).max().unwrap_or_default();
        let until = match &c.until {
            Some(u) => self.offset(u).unwrap_or_default(),
            None => last + DEFAULT_TAIL,
        };
        let mut expect = Vec::new();
        for e in &c.expect {
            if let Some(x) = self.expectation(e) {
                expect.push(x);
            }
        }
        let mut outcomes = Vec::new();
        for (policy, o) in &c.outcome {
            if !self.config.policies.contains_key(policy) {
                self.err(o, format!("unknown policy `{policy}`"));
            }
            if let Some(x) = self.outcome(o) {
                outcomes.push((policy.clone(), x));
            }
        }
        (self.d_errors() == errors_before).then(|| TestCase {
            name: c.name.value.clone(),
            line: c.name.referenced.line() as usize,
            scope,
            until,
            events,
            expect,
            outcomes,
        })
    }

    fn d_errors(&self) -> bool {
        self.d.has_errors()
    }

    fn event(&mut self, s: &Spanned<RawEvent>) -> Option<(SignedDuration, Event)> {
        let e = &s.value;
        let at = self.offset(&e.at);
        let by = e.by.as_ref().map(|b| b.value.clone()).unwrap_or_default();
        let mut found: Vec<Event> = Vec::new();
        if let Some(d) = &e.declared {
            let severity = self.severity(&d.value.severity);
            let mut services: Vec<String> = Vec::new();
            for svc in d.value.service.iter().chain(&d.value.services) {
                if !self.config.services.contains_key(&svc.value) {
                    self.err(svc, format!("unknown service `{}`", svc.value));
                }
                services.push(svc.value.clone());
            }
            found.push(Event::Declared {
                severity: severity.unwrap_or(Severity::Sev4),
                services,
                incident_type: d.value.incident_type.as_ref().map(|t| t.value.clone()),
                labels: d.value.labels.clone(),
            });
        }
        if let Some(m) = &e.milestone {
            let milestones = self.config.milestones.clone();
            found.push(Event::MilestoneReached {
                milestone: self.known(m, "milestone", &milestones),
                actor: by.clone(),
            });
        }
        if let Some(st) = &e.status {
            match st.value.parse::<Status>() {
                Ok(to) => found.push(Event::StatusChanged { to }),
                Err(err) => self.err(st, err.to_string()),
            }
        }
        if let Some(sv) = &e.severity {
            let to = self.severity(sv).unwrap_or(Severity::Sev4);
            found.push(Event::SeverityChanged { to });
        }
        if let Some(r) = &e.role {
            let roles = self.config.roles.clone();
            let role = self.known(&r.value.role, "role", &roles);
            found.push(Event::RoleAssigned {
                role,
                person: r.value.person.value.clone(),
            });
        }
        if let Some(r) = &e.role_released {
            let roles = self.config.roles.clone();
            found.push(Event::RoleReleased {
                role: self.known(r, "role", &roles),
            });
        }
        if let Some(p) = &e.responder_joined {
            found.push(Event::ResponderJoined {
                person: p.value.clone(),
            });
        }
        if let Some(p) = &e.responder_left {
            found.push(Event::ResponderLeft {
                person: p.value.clone(),
            });
        }
        if let Some(p) = &e.message_posted {
            found.push(Event::MessagePosted {
                person: p.value.clone(),
            });
        }
        if e.status_update_posted.is_some() {
            found.push(Event::StatusUpdatePosted { actor: by.clone() });
        }
        if e.alert_attached.is_some() {
            found.push(Event::AlertAttached {});
        }
        if let Some(k) = &e.nudge_acknowledged {
            found.push(Event::NudgeAcknowledged {
                key: k.value.clone(),
            });
        }
        if let Some(a) = &e.notified
            && let Some(audience) = self.audience(a)
        {
            let key = format!("test:{}:notified", s.referenced.line());
            found.push(Event::AudienceNotified { key, audience });
        }
        if let Some(a) = &e.acknowledged
            && let Some(audience) = self.audience(a)
        {
            let key = format!("test:{}:acknowledged", s.referenced.line());
            found.push(Event::AudienceAcknowledged {
                key,
                audience,
                by: by.clone(),
            });
        }
        if found.len() != 1 {
            self.err(
                s,
                "an event needs `at` and exactly one of declared, milestone, status, severity, role, \
                 role_released, responder_joined, responder_left, message_posted, \
                 status_update_posted, alert_attached, nudge_acknowledged, notified, acknowledged",
            );
            return None;
        }
        Some((at?, found.pop()?))
    }

    /// An alias, schedule or person of the config (exactly one).
    fn audience(&mut self, a: &Spanned<RawAudience>) -> Option<engine::Audience> {
        let v = &a.value;
        let (id, kind, exists): (&S, _, bool) = match (&v.alias, &v.schedule, &v.person) {
            (Some(x), None, None) => (x, "alias", self.config.aliases.contains_key(&x.value)),
            (None, Some(x), None) => (x, "schedule", self.config.schedules.contains_key(&x.value)),
            (None, None, Some(x)) => (x, "person", self.config.people.contains_key(&x.value)),
            _ => {
                self.err(
                    a,
                    "an audience needs exactly one of alias, schedule, person",
                );
                return None;
            }
        };
        if !exists {
            self.err(id, format!("unknown {kind} `{}`", id.value));
            return None;
        }
        engine::Audience::parse(&format!("{kind}:{}", id.value))
    }

    fn severity(&mut self, s: &S) -> Option<Severity> {
        match s.value.parse::<Severity>() {
            Ok(x) => Some(x),
            Err(e) => {
                self.err(s, e.to_string());
                None
            }
        }
    }

    fn expectation(&mut self, s: &Spanned<RawExpect>) -> Option<Expectation> {
        let e = &s.value;
        let at = self.offset(&e.at);
        let policy = e.policy.as_ref().map(|p| self.policy(p));
        let given = [
            ("page", &e.page),
            ("notify", &e.notify),
            ("nudge", &e.nudge),
            ("assign_role", &e.assign_role),
            ("create_task", &e.create_task),
            ("draft_status_update", &e.draft_status_update),
        ];
        let set: Vec<_> = given
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| (*k, v)))
            .collect();
        let [(kind, fields)] = set[..] else {
            self.err(
                s,
                "an expectation needs `at` and exactly one of page, notify, nudge, assign_role, \
                 create_task, draft_status_update",
            );
            return None;
        };
        let allowed = ACTION_FIELDS
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, f)| *f)
            .unwrap_or_default();
        let mut out = BTreeMap::new();
        for (k, v) in &fields.value {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    fields,
                    format!(
                        "unknown field `{k}` for {kind} (expected {})",
                        allowed.join(", ")
                    ),
                );
            }
            out.insert(k.clone(), v.value.clone());
        }
        Some(Expectation {
            at: at?,
            kind: kind.to_string(),
            fields: out,
            policy,
        })
    }

    fn outcome(&mut self, s: &Spanned<RawOutcome>) -> Option<ExpectedOutcome> {
        let o = &s.value;
        let met = match (&o.met, &o.missed) {
            (Some(m), None) => m.value,
            (None, Some(m)) => !m.value,
            _ => {
                self.err(
                    s,
                    "an outcome needs exactly one of `met: true` or `missed: true`",
                );
                return None;
            }
        };
        let margin = o.margin.as_ref().and_then(|m| self.offset(m));
        let by = o.by.as_ref().and_then(|b| self.offset(b));
        if met && o.by.is_some() {
            self.err(
                s,
                "`by` (how late) goes with `missed: true`; use `margin` for `met`",
            );
        }
        if !met && o.margin.is_some() {
            self.err(
                s,
                "`margin` (time to spare) goes with `met: true`; use `by` for `missed`",
            );
        }
        Some(if met {
            ExpectedOutcome::Met { margin }
        } else {
            ExpectedOutcome::Missed { by }
        })
    }
}
