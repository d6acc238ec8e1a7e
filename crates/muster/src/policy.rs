//! `muster policy test DIR` and `muster replay DIR --incidents FILE`.
//!
//! # Replay input: JSON lines, one recorded incident per line
//! ```json
//! {"incident":"INC-7",
//!  "events":[{"at":"2026-03-02T03:12:00Z","declared":{"severity":"SEV1","services":["checkout"]}},
//!            {"at":"2026-03-02T03:31:00Z","milestone_reached":{"milestone":"blast_radius_validated","actor":"bob"}}],
//!  "fired":[{"at":"2026-03-02T03:27:00Z","policy":"blast-radius-20m","action":{"nudge":{"role":"ops_lead","template":"blast-radius-reminder"}}}],
//!  "until":"2026-03-02T05:00:00Z"}
//! ```
//! - `events`: the incident's event stream; each is `at` (RFC 3339) plus one engine event in
//!   its serialized form (`muster_core::engine::Event`: `declared`, `severity_changed`,
//!   `status_changed`, `role_assigned`, `role_released`, `milestone_reached`, `alert_attached`,
//!   `responder_joined`, `responder_left`, `message_posted`, `status_update_posted`,
//!   `nudge_acknowledged`). The simulated clock starts at the earliest `at`.
//! - `fired` (optional): what the policies in force at the time actually did; `action` in the
//!   engine's serialized form (`{"page":{"target":{"schedule":"x"}}}`, `{"notify":{"alias":…,
//!   "template":…}}`, …).
//! - `until` (optional): simulate up to this time (default: the last event).
//!
//! A recorded and a simulated firing are the same when policy and action are equal and their
//! times differ by at most `--tolerance` (default 1m: recorded timers fire a little late).
//! Replay exits 0 whatever the differences (it is a report); 1 on unreadable input.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use jiff::{SignedDuration, Timestamp};
use muster_config::policy_tests::{self, CaseReport, offset};
use muster_core::engine::{self, Action, Event, Outcome, PlannedAction, Policy};
use serde::Deserialize;
use serde_json::json;

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Run the policy tests kept under `tests/` directories of a config directory.
    Test {
        /// The configuration directory.
        dir: PathBuf,
    },
}

pub fn policy(command: PolicyCmd) -> ExitCode {
    match command {
        PolicyCmd::Test { dir } => test(&dir),
    }
}

pub fn load_config(dir: &Path) -> Option<muster_config::Config> {
    match muster_config::load(dir) {
        Ok(c) => Some(c),
        Err(diags) => {
            for d in &diags {
                println!("{d}");
            }
            eprintln!("{}: the configuration has errors", dir.display());
            None
        }
    }
}

/// `muster policy test DIR`: `ok`/`FAILED` per case, a diff per failure, exit 1 on any failure.
fn test(dir: &Path) -> ExitCode {
    let Some(config) = load_config(dir) else {
        return ExitCode::FAILURE;
    };
    let files = match policy_tests::load_tests(dir, &config) {
        Ok(f) => f,
        Err(diags) => {
            for d in &diags {
                println!("{d}");
            }
            return ExitCode::FAILURE;
        }
    };
    let policies = config.engine_policies();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        for case in &file.cases {
            let report = policy_tests::run_case(file, case, &policies);
            if report.passed() {
                passed += 1;
                println!(
                    "ok      {}:{}: {}",
                    report.file.display(),
                    report.line,
                    report.name
                );
            } else {
                failed += 1;
                print_failure(&report);
            }
        }
    }
    let total = passed + failed;
    if total == 0 {
        eprintln!(
            "{}: no policy tests (put them in a `tests` directory, e.g. policies/tests/x.test.yaml)",
            dir.display()
        );
    }
    println!(
        "\n{total} test{}: {passed} passed, {failed} failed",
        if total == 1 { "" } else { "s" }
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_failure(r: &CaseReport) {
    println!("FAILED  {}:{}: {}", r.file.display(), r.line, r.name);
    println!("        policies under test: {}", r.scope.join(", "));
    if !r.missing.is_empty() {
        println!("        expected, did not fire:");
        for m in &r.missing {
            println!("          - {m}");
        }
    }
    if !r.unexpected.is_empty() {
        println!("        fired, not expected:");
        for u in &r.unexpected {
            println!("          + {u}");
        }
    }
    for o in &r.outcome_errors {
        println!("        outcome: {o}");
    }
    println!("        everything that fired (policies under test):");
    if r.actual.is_empty() {
        println!("            (nothing)");
    }
    for a in &r.actual {
        println!("            {a}");
    }
}

// ---------------------------------------------------------------- replay

/// One recorded incident (a line of the `--incidents` file).
#[derive(Debug, Clone, Deserialize)]
pub struct Recorded {
    pub incident: String,
    pub events: Vec<RecordedEvent>,
    #[serde(default)]
    pub fired: Vec<RecordedFiring>,
    #[serde(default)]
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecordedEvent {
    pub at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecordedFiring {
    pub at: Timestamp,
    pub policy: String,
    pub action: Action,
}

/// What replaying one incident gives.
pub struct IncidentReplay {
    pub incident: String,
    pub start: Timestamp,
    pub actions: Vec<(Timestamp, PlannedAction)>,
    pub outcomes: Vec<Outcome>,
    /// Would fire, did not (indexes into `actions`).
    pub only_simulated: Vec<usize>,
    /// Fired, would not (indexes into the recorded `fired`).
    pub only_recorded: Vec<usize>,
    pub errors: Vec<String>,
}

/// Simulate one recorded incident and compare with what fired.
pub fn replay_one(
    policies: &[Policy],
    rec: &Recorded,
    tolerance: SignedDuration,
) -> IncidentReplay {
    let start = rec.events.iter().map(|e| e.at).min().unwrap_or_default();
    let last = rec.events.iter().map(|e| e.at).max().unwrap_or(start);
    let events: Vec<(SignedDuration, &Event)> = rec
        .events
        .iter()
        .map(|e| (e.at.duration_since(start), &e.event))
        .collect();
    let until = rec.until.unwrap_or(last).duration_since(start);
    let sim = engine::simulate(policies, start, &events, until);
    let mut taken = vec![false; rec.fired.len()];
    let mut only_simulated = Vec::new();
    for (i, (at, a)) in sim.actions.iter().enumerate() {
        let found = rec.fired.iter().enumerate().position(|(j, f)| {
            !taken[j]
                && f.policy == a.policy
                && f.action == a.action
                && f.at.duration_since(*at).abs() <= tolerance
        });
        match found {
            Some(j) => taken[j] = true,
            None => only_simulated.push(i),
        }
    }
    let only_recorded = (0..rec.fired.len()).filter(|&j| !taken[j]).collect();
    let errors = sim
        .records
        .iter()
        .filter_map(|(_, r)| match r {
            engine::Record::Error { policy, message } => Some(format!("{policy}: {message}")),
            _ => None,
        })
        .collect();
    IncidentReplay {
        incident: rec.incident.clone(),
        start,
        actions: sim.actions,
        outcomes: sim.outcomes,
        only_simulated,
        only_recorded,
        errors,
    }
}

/// Per-policy totals over a replay.
#[derive(Default, serde::Serialize)]
pub struct PolicyStats {
    pub incidents_fired: usize,
    pub actions: usize,
    pub deadlines_met: usize,
    pub deadlines_missed: usize,
}

pub fn tally(stats: &mut BTreeMap<String, PolicyStats>, r: &IncidentReplay) {
    let mut fired_here: Vec<&str> = r.actions.iter().map(|(_, a)| a.policy.as_str()).collect();
    for (_, a) in &r.actions {
        stats.entry(a.policy.clone()).or_default().actions += 1;
    }
    fired_here.sort_unstable();
    fired_here.dedup();
    for p in fired_here {
        stats.entry(p.to_string()).or_default().incidents_fired += 1;
    }
    for o in &r.outcomes {
        let s = stats.entry(o.policy.clone()).or_default();
        if o.met {
            s.deadlines_met += 1;
        } else {
            s.deadlines_missed += 1;
        }
    }
}

/// Where recorded incidents come from.
pub enum Source<'a> {
    /// A JSON-lines file in the format above.
    File(&'a Path),
    /// The incidents stored in a Muster database (`sqlite://…` or `postgres://…`).
    Database(&'a str),
}

pub fn replay(dir: &Path, source: Source<'_>, json: bool, tolerance: &str) -> ExitCode {
    match replay_inner(dir, source, json, tolerance) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn replay_inner(
    dir: &Path,
    source: Source<'_>,
    json: bool,
    tolerance: &str,
) -> anyhow::Result<ExitCode> {
    let tolerance = tolerance
        .parse::<muster_config::Duration>()
        .map_err(|e| anyhow::anyhow!("--tolerance: {e}"))?
        .to_signed();
    let Some(config) = load_config(dir) else {
        return Ok(ExitCode::FAILURE);
    };
    let policies = config.engine_policies();
    let mut stats: BTreeMap<String, PolicyStats> = policies
        .iter()
        .map(|p| (p.id.clone(), PolicyStats::default()))
        .collect();
    let mut count = 0usize;
    let mut each = |rec: Recorded| {
        let r = replay_one(&policies, &rec, tolerance);
        tally(&mut stats, &r);
        count += 1;
        if json {
            println!("{}", incident_json(&rec, &r));
        } else {
            print_incident(&rec, &r);
        }
    };
    match source {
        Source::File(path) => read_file(path, &mut each)?,
        Source::Database(url) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            for rec in rt.block_on(recorded_from_db(url))? {
                each(rec);
            }
        }
    }
    if json {
        println!(
            "{}",
            json!({ "summary": { "incidents": count, "policies": stats } })
        );
    } else {
        print_summary(count, &stats);
    }
    Ok(ExitCode::SUCCESS)
}

fn read_file(path: &Path, each: &mut impl FnMut(Recorded)) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("{}:{}", path.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let rec: Recorded = serde_json::from_str(&line)
            .map_err(|e| anyhow::anyhow!("{}:{}:{}: {e}", path.display(), n + 1, e.column()))?;
        each(rec);
    }
    Ok(())
}

/// Every stored incident as a recorded event stream, oldest first: the engine events its
/// timeline means, and what the policies then in force did (`policy_fired` records).
pub async fn recorded_from_db(url: &str) -> anyhow::Result<Vec<Recorded>> {
    let store = muster_store::Store::connect(url)
        .await
        .context("cannot open the database")?;
    let incidents = store.every_incident().await?;
    let mut out = Vec::with_capacity(incidents.len());
    for incident in incidents {
        let mut rec = Recorded {
            incident: incident.id.to_string(),
            events: Vec::new(),
            fired: Vec::new(),
            until: incident.resolved_at,
        };
        let mut after = 0;
        loop {
            let page = store
                .timeline(incident.id, after, muster_store::MAX_TIMELINE_LIMIT)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in page {
                record_event(&mut rec, e);
            }
        }
        out.push(rec);
    }
    store.close().await;
    Ok(out)
}

fn record_event(rec: &mut Recorded, e: muster_core::TimelineEvent) {
    if let muster_core::Change::PolicyFired {
        policy, actions, ..
    } = &e.change
    {
        rec.fired
            .extend(actions.iter().map(|action| RecordedFiring {
                at: e.at,
                policy: policy.clone(),
                action: action.clone(),
            }));
    } else if let Some(event) = muster_core::engine::event_of(&e.change, &e.actor) {
        rec.events.push(RecordedEvent { at: e.at, event });
    }
}

fn hm(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn line(start: Timestamp, at: Timestamp, policy: &str, action: &Action) -> String {
    format!(
        "{:>7}  {}  {action}  [{policy}]",
        format!("+{}", offset(at.duration_since(start))),
        hm(at)
    )
}

fn print_incident(rec: &Recorded, r: &IncidentReplay) {
    println!(
        "{}  ({} events from {})",
        r.incident,
        rec.events.len(),
        hm(r.start)
    );
    if r.actions.is_empty() {
        println!("  would fire: nothing");
    } else {
        println!("  would fire:");
        for (at, a) in &r.actions {
            println!("    {}", line(r.start, *at, &a.policy, &a.action));
            println!("             why: {}", a.reason);
        }
    }
    for o in &r.outcomes {
        println!("  outcome: {}", outcome_text(o));
    }
    if r.only_simulated.is_empty() && r.only_recorded.is_empty() {
        println!("  differences: none (same as what fired)");
    } else {
        println!("  differences:");
        for &i in &r.only_simulated {
            let (at, a) = &r.actions[i];
            println!(
                "    + would fire, did not:  {}",
                line(r.start, *at, &a.policy, &a.action)
            );
        }
        for &j in &r.only_recorded {
            let f = &rec.fired[j];
            println!(
                "    - fired, would not:     {}",
                line(r.start, f.at, &f.policy, &f.action)
            );
        }
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    println!();
}

fn outcome_text(o: &Outcome) -> String {
    if o.met {
        format!(
            "{} met at {} with {} to spare{}",
            o.policy,
            hm(o.at),
            offset(o.margin),
            o.by.as_ref()
                .filter(|b| !b.is_empty())
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        )
    } else if o.by.is_some() {
        format!(
            "{} missed: reached {} late, at {}",
            o.policy,
            offset(-o.margin),
            hm(o.at)
        )
    } else {
        format!("{} missed at {} (never reached)", o.policy, hm(o.due_at))
    }
}

fn print_summary(count: usize, stats: &BTreeMap<String, PolicyStats>) {
    println!(
        "per policy, over {count} incident{}:",
        if count == 1 { "" } else { "s" }
    );
    println!(
        "  {:<32} {:>10} {:>8} {:>22}",
        "policy", "fired in", "actions", "deadline met/missed"
    );
    for (p, s) in stats {
        let deadlines = s.deadlines_met + s.deadlines_missed;
        let met = match (s.deadlines_met * 100).checked_div(deadlines) {
            None => "-".to_string(),
            Some(pct) => format!("{}/{} ({pct}% met)", s.deadlines_met, s.deadlines_missed),
        };
        println!(
            "  {p:<32} {:>10} {:>8} {met:>22}",
            s.incidents_fired, s.actions
        );
    }
}

fn incident_json(rec: &Recorded, r: &IncidentReplay) -> serde_json::Value {
    let action = |at: Timestamp, a: &PlannedAction| {
        json!({
            "at": at, "offset_secs": at.duration_since(r.start).as_secs(), "policy": a.policy,
            "action": a.action, "reason": a.reason, "idempotency_key": a.idempotency_key,
        })
    };
    json!({
        "incident": r.incident,
        "would_fire": r.actions.iter().map(|(at, a)| action(*at, a)).collect::<Vec<_>>(),
        "outcomes": r.outcomes.iter().map(|o| json!({
            "policy": o.policy, "met": o.met, "at": o.at, "due_at": o.due_at,
            "margin_secs": o.margin.as_secs(), "by": o.by,
        })).collect::<Vec<_>>(),
        "only_simulated": r.only_simulated.iter().map(|&i| action(r.actions[i].0, &r.actions[i].1)).collect::<Vec<_>>(),
        "only_recorded": r.only_recorded.iter().map(|&j| {
            let f = &rec.fired[j];
            json!({ "at": f.at, "policy": f.policy, "action": f.action })
        }).collect::<Vec<_>>(),
        "errors": r.errors,
    })
}
