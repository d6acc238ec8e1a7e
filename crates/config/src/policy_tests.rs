//! Policy unit tests kept in the config directory: `muster policy test DIR`.
//!
//! Every `*.yaml` / `*.yml` file under a directory named `tests` (anywhere in the config
//! directory; `muster check` skips them) is a list of test cases:
//!
//! ```yaml
//! - name: missed deadline pages the secondary rotation
//!   policies: [blast-radius-20m]   # optional: the policies under test (see "Scope")
//!   until: 2h                       # optional: simulate until this offset (default: last event + 1h)
//!   events:
//!     - { at: 0m,  declared: { severity: SEV1, service: checkout } }  # also services: [..], incident_type, labels
//!     - { at: 12m, role: { role: ops_lead, person: alice } }
//!     - { at: 19m, milestone: blast_radius_validated, by: alice }      # `by` is optional
//!     # status: S | severity: S | role_released: R | responder_joined: P | responder_left: P
//!     # message_posted: P | status_update_posted: {} | alert_attached: {} | nudge_acknowledged: KEY
//!     - { at: 0m, notified: { alias: legal } }   # what a playbook's notify does (policies' own
//!                                                # notify and page actions notify by themselves)
//!     - { at: 10m, acknowledged: { alias: legal }, by: lena }   # or schedule: S | person: P
//!   expect:
//!     - { at: 15m, nudge: { role: ops_lead } }
//!     - { at: 20m, page: { schedule: platform-secondary }, policy: blast-radius-20m }
//!   outcome: { blast-radius-20m: { met: true, margin: 1m } }   # or { missed: true, by: 3m }
//! ```
//!
//! Semantics:
//! - The incident is simulated with **all** the config's policies ([`muster_core::engine::simulate`]),
//!   starting at 2026-01-01T00:00:00Z; `at` is an offset from that start.
//! - **Scope**: the policies whose actions are compared are the case's `policies`, or else those
//!   defined in the policy file named like the test file (`tests/blast-radius.test.yaml` tests
//!   the policies of `blast-radius.yaml`), or else all policies.
//! - **`expect` is exhaustive** within the scope: every action an in-scope policy fires must be
//!   expected, and every expectation must fire, so a changed policy fails loudly with a diff.
//!   An expectation matches an action of the same kind at exactly that offset whose given fields
//!   are equal (fields not given are not compared; `policy` too).
//! - **`outcome`** is not exhaustive: each listed policy's last deadline outcome is compared.
//!   `margin` is the time to spare when met; `by` how late the expected milestone came when
//!   missed (0s if it never came).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use muster_core::engine::{self, Event};
use serde::Deserialize;
use serde_saphyr::{MessageFormatter, Spanned};

use crate::diagnostic::{Diags, Loc};
use crate::{Config, Diagnostic, Duration, Severity, Status};

type S = Spanned<String>;

/// Where every test starts (offsets are relative to it).
pub const TEST_START: &str = "2026-01-01T00:00:00Z";

/// Default tail of a test's simulation after its last event.
pub const DEFAULT_TAIL: SignedDuration = SignedDuration::from_hours(1);

/// One loaded test file.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The config dir as given joined with the file's relative path (as diagnostics print it).
    pub path: PathBuf,
    pub cases: Vec<TestCase>,
}

#[derive(Clone, Debug)]
pub struct TestCase {
    pub name: String,
    pub line: usize,
    /// Policy ids whose actions are compared.
    pub scope: Vec<String>,
    pub until: SignedDuration,
    pub events: Vec<(SignedDuration, Event)>,
    pub expect: Vec<Expectation>,
    pub outcomes: Vec<(String, ExpectedOutcome)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub at: SignedDuration,
    pub kind: String,
    /// Given fields only.
    pub fields: BTreeMap<String, String>,
    pub policy: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectedOutcome {
    Met { margin: Option<SignedDuration> },
    Missed { by: Option<SignedDuration> },
}

/// The result of one case.
#[derive(Clone, Debug)]
pub struct CaseReport {
    pub file: PathBuf,
    pub name: String,
    pub line: usize,
    pub scope: Vec<String>,
    /// Expected, did not fire.
    pub missing: Vec<String>,
    /// Fired, not expected.
    pub unexpected: Vec<String>,
    /// Outcome mismatches, one sentence each.
    pub outcome_errors: Vec<String>,
    /// Every in-scope action that fired, in order (for context).
    pub actual: Vec<String>,
}

impl CaseReport {
    pub fn passed(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.outcome_errors.is_empty()
    }
}

/// Load every test file in `dir`, checked against `config`; all problems at once.
pub fn load_tests(dir: &Path, config: &Config) -> Result<Vec<TestFile>, Vec<Diagnostic>> {
    let mut diags = Diags::new(dir);
    let mut rels = Vec::new();
    find_test_files(dir, Path::new(""), false, &mut rels);
    rels.sort();
    let mut files = Vec::new();
    for rel in rels {
        let f = diags.add_file(rel.clone());
        let text = match fs::read(dir.join(&rel)).map(String::from_utf8) {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => {
                diags.error(
                    Loc {
                        file: f,
                        line: 0,
                        col: 0,
                    },
                    "file is not valid utf-8",
                );
                continue;
            }
            Err(e) => {
                diags.error(
                    Loc {
                        file: f,
                        line: 0,
                        col: 0,
                    },
                    format!("cannot read file: {e}"),
                );
                continue;
            }
        };
        let raw = match serde_saphyr::from_str::<Option<Vec<RawCase>>>(&text) {
            Ok(r) => r.unwrap_or_default(),
            Err(e) => {
                let (line, col) = e
                    .location()
                    .map(|l| (l.line() as usize, l.column() as usize))
                    .unwrap_or((0, 0));
                let msg = serde_saphyr::UserMessageFormatter.format_message(e.without_snippet());
                let msg = msg.lines().next().unwrap_or_default().trim().to_string();
                diags.error(Loc { file: f, line, col }, msg);
                continue;
            }
        };
        let default_scope = default_scope(&rel, config);
        let mut cx = Cx {
            d: &mut diags,
            f,
            config,
        };
        let cases = raw
            .into_iter()
            .filter_map(|c| cx.case(c, &default_scope))
            .collect();
        files.push(TestFile {
            path: dir.join(&rel),
            cases,
        });
    }
    if diags.has_errors() {
        return Err(diags.into_sorted());
    }
    Ok(files)
}

/// Run one case with `policies` (all the config's, from [`Config::engine_policies`]).
pub fn run_case(file: &TestFile, case: &TestCase, policies: &[engine::Policy]) -> CaseReport {
    let start: Timestamp = TEST_START.parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let sim = engine::simulate(policies, start, &case.events, case.until);
    let actual: Vec<(SignedDuration, &engine::PlannedAction)> = sim
        .actions
        .iter()
        .filter(|(_, a)| case.scope.contains(&a.policy))
        .map(|(at, a)| (at.duration_since(start), a))
        .collect();

    // most specific expectations first, so a vaguer one cannot take their action
    let mut order: Vec<usize> = (0..case.expect.len()).collect();
    order.sort_by_key(|&i| {
        std::cmp::Reverse(
            case.expect[i].fields.len() + usize::from(case.expect[i].policy.is_some()),
        )
    });
    let mut taken = vec![false; actual.len()];
    let mut missing_idx = Vec::new();
    for i in order {
        let e = &case.expect[i];
        match (0..actual.len()).find(|&j| !taken[j] && matches(e, actual[j].0, actual[j].1)) {
            Some(j) => taken[j] = true,
            None => missing_idx.push(i),
        }
    }
    missing_idx.sort_unstable();
    let missing = missing_idx
        .into_iter()
        .map(|i| show_expectation(&case.expect[i]))
        .collect();
    let unexpected = actual
        .iter()
        .zip(&taken)
        .filter(|(_, t)| !**t)
        .map(|((at, a), _)| show_action(*at, a))
        .collect();

    let mut outcome_errors = Vec::new();
    for (policy, want) in &case.outcomes {
        let got = sim.outcomes.iter().rev().find(|o| o.policy == *policy);
        if let Some(err) = compare_outcome(policy, want, got) {
            outcome_errors.push(err);
        }
    }
    CaseReport {
        file: file.path.clone(),
        name: case.name.clone(),
        line: case.line,
        scope: case.scope.clone(),
        missing,
        unexpected,
        outcome_errors,
        actual: actual.iter().map(|(at, a)| show_action(*at, a)).collect(),
    }
}

fn matches(e: &Expectation, at: SignedDuration, a: &engine::PlannedAction) -> bool {
    e.at == at && e.kind == a.action.kind() && e.policy.as_ref().is_none_or(|p| *p == a.policy) && {
        let fields = a.action.fields();
        e.fields
            .iter()
            .all(|(k, v)| fields.iter().any(|(fk, fv)| fk == k && fv == v))
    }
}

fn compare_outcome(
    policy: &str,
    want: &ExpectedOutcome,
    got: Option<&engine::Outcome>,
) -> Option<String> {
    let Some(got) = got else {
        return Some(format!(
            "{policy}: expected {}, but no outcome was recorded (deadline never armed, cancelled or still pending)",
            show_expected_outcome(want)
        ));
    };
    let actual = show_outcome(got);
    let ok = match want {
        ExpectedOutcome::Met { margin } => got.met && margin.is_none_or(|m| m == got.margin),
        ExpectedOutcome::Missed { by } => !got.met && by.is_none_or(|b| b == -got.margin),
    };
    (!ok).then(|| {
        format!(
            "{policy}: expected {}, got {actual}",
            show_expected_outcome(want)
        )
    })
}

fn show_outcome(o: &engine::Outcome) -> String {
    if o.met {
        format!("met with {} to spare", offset(o.margin))
    } else if o.by.is_some() {
        format!("missed by {}", offset(-o.margin))
    } else {
        "missed (expected milestone not reached)".to_string()
    }
}

fn show_expected_outcome(o: &ExpectedOutcome) -> String {
    match o {
        ExpectedOutcome::Met { margin: Some(m) } => format!("met with {} to spare", offset(*m)),
        ExpectedOutcome::Met { margin: None } => "met".into(),
        ExpectedOutcome::Missed { by: Some(b) } => format!("missed by {}", offset(*b)),
        ExpectedOutcome::Missed { by: None } => "missed".into(),
    }
}

/// `20m`, `1h30m`, `-3m` (the config's duration syntax).
pub fn offset(d: SignedDuration) -> String {
    let secs = d.as_secs();
    let s = Duration::from_secs(secs.unsigned_abs()).to_string();
    if secs < 0 { format!("-{s}") } else { s }
}

/// `20m  page {schedule: platform-secondary}`.
pub fn show_expectation(e: &Expectation) -> String {
    let fields: Vec<String> = e.fields.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    let policy = e
        .policy
        .as_ref()
        .map(|p| format!("  [{p}]"))
        .unwrap_or_default();
    format!(
        "{:>6}  {} {{{}}}{policy}",
        offset(e.at),
        e.kind,
        fields.join(", ")
    )
}

/// `20m  page {schedule: platform-secondary}  [blast-radius-20m]`.
pub fn show_action(at: SignedDuration, a: &engine::PlannedAction) -> String {
    format!("{:>6}  {}  [{}]", offset(at), a.action, a.policy)
}

fn find_test_files(dir: &Path, rel: &Path, in_tests: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir.join(rel)) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name_str) = name.to_str() else {
            continue;
        };
        if name_str.starts_with('.') {
            continue;
        }
        let child = rel.join(&name);
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            find_test_files(dir, &child, in_tests || name_str == "tests", out);
        } else if in_tests && (name_str.ends_with(".yaml") || name_str.ends_with(".yml")) {
            out.push(child);
        }
    }
}

/// `tests/blast-radius.test.yaml` → the policies of files named `blast-radius.yaml`; else all.
fn default_scope(rel: &Path, config: &Config) -> Vec<String> {
    let stem = |p: &Path| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('.').next())
            .map(str::to_string)
    };
    let mine = stem(rel);
    let scope: Vec<String> = config
        .policies
        .values()
        .filter(|p| stem(&p.source.path).is_some() && stem(&p.source.path) == mine)
        .map(|p| p.id.clone())
        .collect();
    if scope.is_empty() {
        config.policies.keys().cloned().collect()
    } else {
        scope
    }
}

// ---------------------------------------------------------------- raw file shape

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
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

struct Cx<'a> {
    d: &'a mut Diags,
    f: usize,
    config: &'a Config,
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

    fn case(&mut self, c: RawCase, default_scope: &[String]) -> Option<TestCase> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> (PathBuf, Config) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo");
        let config = crate::load(&dir).expect("demo loads");
        (dir, config)
    }

    #[test]
    fn demo_tests_load_with_file_scopes_and_pass() {
        let (dir, config) = demo();
        let files = load_tests(&dir, &config).expect("demo tests load");
        let br = files
            .iter()
            .find(|f| f.path.ends_with("policies/tests/blast-radius.test.yaml"))
            .expect("seed test file");
        assert_eq!(
            br.cases[0].name,
            "missed deadline pages the secondary rotation"
        );
        assert_eq!(br.cases[0].line, 2);
        assert_eq!(br.cases[0].scope, vec!["blast-radius-20m".to_string()]);
        assert_eq!(br.cases[0].until, SignedDuration::from_hours(1));
        let policies = config.engine_policies();
        for file in &files {
            for case in &file.cases {
                let r = run_case(file, case, &policies);
                assert!(r.passed(), "{}: {r:?}", case.name);
            }
        }
    }

    fn planned(kind: engine::Action) -> engine::PlannedAction {
        engine::PlannedAction {
            policy: "p".into(),
            action: kind,
            idempotency_key: "p:event:1:0".into(),
            reason: String::new(),
            depth: 0,
        }
    }

    #[test]
    fn expectations_compare_only_the_given_fields() {
        let notify = planned(engine::Action::Notify {
            alias: "comms-leads".into(),
            template: "sev-escalated".into(),
        });
        let at = SignedDuration::from_mins(20);
        let mut e = Expectation {
            at,
            kind: "notify".into(),
            fields: BTreeMap::from([("alias".to_string(), "comms-leads".to_string())]),
            policy: None,
        };
        assert!(matches(&e, at, &notify));
        assert!(!matches(&e, at + SignedDuration::from_secs(1), &notify));
        e.policy = Some("other".into());
        assert!(!matches(&e, at, &notify));
        e.policy = Some("p".into());
        e.fields.insert("template".into(), "x".into());
        assert!(!matches(&e, at, &notify));
        e.fields.clear();
        e.kind = "page".into();
        assert!(!matches(&e, at, &notify));
    }

    #[test]
    fn expect_is_exhaustive_within_scope() {
        let (_, config) = demo();
        let policies = config.engine_policies();
        let file = TestFile {
            path: PathBuf::from("t.yaml"),
            cases: vec![],
        };
        let case = TestCase {
            name: "only the page is expected".into(),
            line: 1,
            scope: vec!["blast-radius-20m".into()],
            until: SignedDuration::from_mins(30),
            events: vec![(
                SignedDuration::ZERO,
                Event::Declared {
                    severity: Severity::Sev1,
                    services: vec!["checkout".into()],
                    incident_type: None,
                    labels: BTreeMap::new(),
                },
            )],
            expect: vec![Expectation {
                at: SignedDuration::from_mins(20),
                kind: "page".into(),
                fields: BTreeMap::new(),
                policy: None,
            }],
            outcomes: vec![(
                "blast-radius-20m".into(),
                ExpectedOutcome::Missed { by: None },
            )],
        };
        let r = run_case(&file, &case, &policies);
        assert!(!r.passed());
        assert!(r.missing.is_empty());
        assert_eq!(r.unexpected.len(), 2, "{r:?}");
        assert!(r.unexpected[0].contains("15m  nudge {role: ops_lead"));
        assert!(r.unexpected[1].contains("20m  notify {alias: comms-leads"));
        assert!(r.outcome_errors.is_empty());
        // other policies fired too (staffing at 0m) but are out of scope
        assert!(r.actual.iter().all(|a| a.contains("[blast-radius-20m]")));
    }
}
