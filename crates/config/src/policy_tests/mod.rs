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

use crate::diagnostic::S;
use crate::diagnostic::{Diags, Loc};
use crate::{Config, Diagnostic, Duration, Severity, Status};

mod parse;
use parse::{Cx, RawCase};

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
