//! Policies: each with its description, where it is defined (file, line and the YAML there),
//! what it does in plain words, its policy tests' results (the tests of the loaded
//! configuration directory, run as `muster policy test` runs them) and its adherence from
//! history — the same report as `GET /api/v1/reports/policies`, hardest to follow first.

use std::path::{Path, PathBuf};

use askama::Template;
use axum::extract::{Path as UrlPath, Query, State};
use axum::response::Response;
use muster_config::policy_tests::{self, CaseReport};
use muster_config::{Conditions, Config, Policy, Trigger};
use muster_core::adherence::{Counts, PoliciesReport, PolicyAdherence};
use muster_server::AppState;
use muster_server::api::reports;
use serde::Deserialize;

use crate::page::{Layout, PageError, render};
use crate::session::Session;
use crate::util::api_error;

/// Lines of YAML shown at most for a policy's source.
const SOURCE_LINES: usize = 60;

#[derive(Debug, Default, Deserialize)]
pub struct Since {
    /// `YYYY-MM-DD` or RFC 3339; empty: all history.
    #[serde(default)]
    since: String,
}

/// Adherence counts as a page shows them.
pub struct Adherence {
    pub applied: usize,
    pub met: usize,
    pub late: usize,
    pub missed: usize,
    /// `62%` of late and missed; `–` when never applied.
    pub hard: String,
    pub margin: String,
}

impl Adherence {
    fn of(c: &Counts) -> Adherence {
        let hard = ((c.late + c.missed) * 100)
            .checked_div(c.applied)
            .map_or_else(|| "–".to_string(), |share| format!("{share}%"));
        Adherence {
            applied: c.applied,
            met: c.met,
            late: c.late,
            missed: c.missed,
            hard,
            margin: margin_words(c.median_margin_s),
        }
    }
}

fn margin_words(m: Option<i64>) -> String {
    match m {
        None => "–".into(),
        Some(s) if s < 0 => format!("{} late", muster_core::words::duration_secs(-s)),
        Some(s) => format!("{} to spare", muster_core::words::duration_secs(s)),
    }
}

pub struct HardRow {
    pub policy: String,
    /// Whether the policy is in the loaded configuration (else only in history).
    pub configured: bool,
    pub all: Adherence,
    pub real: Adherence,
    pub drills: Adherence,
}

/// One test case's result.
pub struct TestResult {
    pub name: String,
    pub place: String,
    pub passed: bool,
    pub problems: Vec<String>,
}

/// The tests of the configuration directory: results, or why they could not run.
pub struct TestRun {
    pub results: Vec<(Vec<String>, TestResult)>,
    pub problem: Option<String>,
}

impl TestRun {
    fn of(&self, policy: &str) -> Vec<&TestResult> {
        self.results
            .iter()
            .filter(|(scope, _)| scope.iter().any(|p| p == policy))
            .map(|(_, r)| r)
            .collect()
    }
}

pub struct PolicyRow {
    pub id: String,
    pub description: String,
    pub source: String,
    pub trigger: String,
    pub tests_passed: usize,
    pub tests_failed: usize,
    pub applied: usize,
    pub hard: String,
}

#[derive(Template)]
#[template(path = "policies.html")]
struct PoliciesPage {
    layout: Layout,
    since: String,
    real_incidents: usize,
    drills: usize,
    hard: Vec<HardRow>,
    policies: Vec<PolicyRow>,
    test_problem: Option<String>,
}

pub struct SeverityRow {
    pub severity: String,
    pub counts: Adherence,
}

#[derive(Template)]
#[template(path = "policy.html")]
struct PolicyPage {
    layout: Layout,
    id: String,
    description: String,
    source: String,
    yaml: String,
    when: String,
    trigger: String,
    actions: Vec<(String, Vec<String>)>,
    tests: Vec<TestResult>,
    test_problem: Option<String>,
    adherence: Option<HardRow>,
    by_severity: Vec<SeverityRow>,
}

/// `2026-03-01` as midnight UTC; anything else as given (the report names a bad value).
fn since_param(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.len() == 10 && raw.parse::<jiff::civil::Date>().is_ok() {
        return Some(format!("{raw}T00:00:00Z"));
    }
    Some(raw.to_string())
}

async fn report(state: &AppState, since: &str) -> Result<PoliciesReport, PageError> {
    reports::policies_since(state, since_param(since).as_deref())
        .await
        .map_err(api_error)
}

fn hard_row(p: &PolicyAdherence, config: &Config) -> HardRow {
    HardRow {
        policy: p.policy.clone(),
        configured: config.policies.contains_key(&p.policy),
        all: Adherence::of(&p.counts.all),
        real: Adherence::of(&p.counts.real),
        drills: Adherence::of(&p.counts.drills),
    }
}

fn source_of(p: &Policy) -> String {
    format!("{}:{}", p.source.path.display(), p.source.line)
}

fn conditions_words(c: &Conditions) -> String {
    let mut parts = Vec::new();
    let join = |v: Vec<String>| v.join(" or ");
    if !c.severity.is_empty() {
        parts.push(format!(
            "severity {}",
            join(c.severity.iter().map(ToString::to_string).collect())
        ));
    }
    if !c.services.is_empty() {
        parts.push(format!("service {}", join(c.services.clone())));
    }
    if !c.status.is_empty() {
        parts.push(format!(
            "status {}",
            join(c.status.iter().map(ToString::to_string).collect())
        ));
    }
    if !c.incident_type.is_empty() {
        parts.push(format!("type {}", join(c.incident_type.clone())));
    }
    for (k, v) in &c.labels {
        parts.push(format!("label {k}={v}"));
    }
    if parts.is_empty() {
        "every incident".into()
    } else {
        parts.join(", ")
    }
}

fn trigger_words(t: &Trigger) -> String {
    match t {
        Trigger::Deadline {
            within,
            of,
            expect,
            warn_before,
        } => {
            let warn = warn_before
                .map(|w| format!("; warn {w} before"))
                .unwrap_or_default();
            format!("expect {} within {within} of {of}{warn}", expect.key())
        }
        Trigger::OnEvent(e) => match e {
            muster_config::Event::Milestone(m) => format!("when the milestone `{m}` is reached"),
            muster_config::Event::Status(s) => format!("when the status becomes {s}"),
            muster_config::Event::SeverityChanged => "when the severity changes".into(),
        },
        Trigger::Cadence {
            every,
            reset_on,
            while_,
            escalate_after,
            escalate_to,
        } => {
            let mut s = format!("every {every} while {}", conditions_words(while_));
            if let Some(r) = reset_on {
                s.push_str(&format!(", restarting on {r}"));
            }
            if let (Some(after), Some(to)) = (escalate_after, escalate_to) {
                s.push_str(&format!("; missed by {after}: {}", to.escalation_action()));
            }
            s
        }
        Trigger::SoloResponder { for_ } => {
            format!("when one person has been the only responder for {for_}")
        }
    }
}

fn actions_of(p: &Policy) -> Vec<(String, Vec<String>)> {
    let words = |a: &[muster_config::Action]| a.iter().map(ToString::to_string).collect();
    [
        ("Warning", &p.on_warn),
        ("Missed", &p.on_missed),
        ("Fires", &p.actions),
    ]
    .into_iter()
    .filter(|(_, a)| !a.is_empty())
    .map(|(k, a)| (k.to_string(), words(a)))
    .collect()
}

fn result_of(dir: &Path, r: &CaseReport) -> TestResult {
    let mut problems = Vec::new();
    problems.extend(
        r.missing
            .iter()
            .map(|m| format!("expected, did not fire: {m}")),
    );
    problems.extend(
        r.unexpected
            .iter()
            .map(|u| format!("fired, not expected: {u}")),
    );
    problems.extend(r.outcome_errors.iter().map(|o| format!("outcome: {o}")));
    TestResult {
        name: r.name.clone(),
        place: format!(
            "{}:{}",
            r.file.strip_prefix(dir).unwrap_or(&r.file).display(),
            r.line
        ),
        passed: r.passed(),
        problems,
    }
}

/// Runs the policy tests kept in `dir` against `config`, as `muster policy test` does.
fn run_tests(dir: &Path, config: &Config) -> TestRun {
    let files = match policy_tests::load_tests(dir, config) {
        Ok(f) => f,
        Err(diags) => {
            let words: Vec<String> = diags.iter().map(ToString::to_string).collect();
            return TestRun {
                results: Vec::new(),
                problem: Some(format!(
                    "The policy tests do not load: {}",
                    words.join("; ")
                )),
            };
        }
    };
    let policies = config.engine_policies();
    let mut results = Vec::new();
    for file in &files {
        for case in &file.cases {
            let report = policy_tests::run_case(file, case, &policies);
            results.push((report.scope.clone(), result_of(dir, &report)));
        }
    }
    TestRun {
        results,
        problem: None,
    }
}

/// The tests of the server's configuration directory, off the async threads (they read
/// files and simulate).
async fn tests(state: &AppState) -> TestRun {
    let Some(dir) = state.config_dir.clone() else {
        return TestRun {
            results: Vec::new(),
            problem: Some("No configuration directory is loaded: no tests to run.".into()),
        };
    };
    let cfg = state.config();
    tokio::task::spawn_blocking(move || run_tests(&dir, &cfg.config))
        .await
        .unwrap_or_else(|e| TestRun {
            results: Vec::new(),
            problem: Some(format!("The policy tests could not run: {e}")),
        })
}

pub async fn list(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<Since>,
) -> Result<Response, PageError> {
    let report = report(&state, &q.since).await?;
    let run = tests(&state).await;
    let cfg = state.config();
    let config = &cfg.config;
    let hard: Vec<HardRow> = report
        .policies
        .iter()
        .map(|p| hard_row(p, config))
        .collect();
    let policies = config
        .policies
        .values()
        .map(|p| {
            let results = run.of(&p.id);
            let row = hard.iter().find(|h| h.policy == p.id);
            PolicyRow {
                id: p.id.clone(),
                description: p.description.clone().unwrap_or_default(),
                source: source_of(p),
                trigger: trigger_words(&p.trigger),
                tests_passed: results.iter().filter(|r| r.passed).count(),
                tests_failed: results.iter().filter(|r| !r.passed).count(),
                applied: row.map_or(0, |r| r.all.applied),
                hard: row.map_or_else(|| "–".into(), |r| r.all.hard.clone()),
            }
        })
        .collect();
    let page = PoliciesPage {
        layout: Layout::new("Policies", "policies", &session, "/policies"),
        since: q.since.trim().to_string(),
        real_incidents: report.real_incidents,
        drills: report.drills,
        hard,
        policies,
        test_problem: run.problem,
    };
    Ok(render(&page))
}

/// The YAML of a policy: from its line to the next item at its indentation or less.
async fn yaml_at(dir: Option<PathBuf>, p: &Policy) -> String {
    let Some(dir) = dir else {
        return String::new();
    };
    let Ok(text) = tokio::fs::read_to_string(dir.join(&p.source.path)).await else {
        return String::new();
    };
    let lines: Vec<&str> = text.lines().collect();
    let Some(first) = p.source.line.checked_sub(1).and_then(|i| lines.get(i)) else {
        return String::new();
    };
    let indent = |l: &str| l.len() - l.trim_start().len();
    // The item's own indentation: a `- id:` line's dash, else the key's column.
    let base = indent(first);
    let mut out = vec![*first];
    for l in lines.iter().skip(p.source.line).take(SOURCE_LINES) {
        if !l.trim().is_empty() && indent(l) <= base {
            break;
        }
        out.push(l);
    }
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    out.join("\n")
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    UrlPath(id): UrlPath<String>,
    Query(q): Query<Since>,
) -> Result<Response, PageError> {
    let cfg = state.config();
    let Some(policy) = cfg.config.policies.get(&id) else {
        return Err(PageError::not_found(format!("There is no policy {id}.")));
    };
    let report = report(&state, &q.since).await?;
    let run = tests(&state).await;
    let found = report.policies.iter().find(|p| p.policy == id);
    let page = PolicyPage {
        layout: Layout::new(
            format!("Policy {id}"),
            "policies",
            &session,
            &format!("/policies/{id}"),
        ),
        id: policy.id.clone(),
        description: policy.description.clone().unwrap_or_default(),
        source: source_of(policy),
        yaml: yaml_at(state.config_dir.clone(), policy).await,
        when: conditions_words(&policy.when),
        trigger: trigger_words(&policy.trigger),
        actions: actions_of(policy),
        tests: run
            .of(&id)
            .into_iter()
            .map(|r| TestResult {
                name: r.name.clone(),
                place: r.place.clone(),
                passed: r.passed,
                problems: r.problems.clone(),
            })
            .collect(),
        test_problem: run.problem,
        adherence: found.map(|p| hard_row(p, &cfg.config)),
        by_severity: found
            .map(|p| {
                p.by_severity
                    .iter()
                    .map(|(s, c)| SeverityRow {
                        severity: s.clone(),
                        counts: Adherence::of(c),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(render(&page))
}
