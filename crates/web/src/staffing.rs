//! Staffing: does each rotation meet its response-time SLOs and what does it cost people. The
//! simulation `muster staffing simulate` runs (kept per configuration, `staffing_runs.rs`),
//! with each SLO's verdict in the CLI's words, what on-call costs, and the sweep's
//! recommendation; the rotation lint of the configuration in force; the load people carried
//! (the report and charts of `GET /api/v1/reports/load`) over the simulated horizon.

use askama::Template;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use muster_config::Config;
use muster_core::Access;
use muster_core::load::{self, LoadReport};
use muster_core::staffing::stats::Estimate;
use muster_core::staffing::{Report, SloResult};
use muster_server::AppState;
use muster_server::api::reports;
use muster_server::staffing::{DEFAULT_WEEKS, Sweep};
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, render};
use crate::session::{Posted, Session};
use crate::staffing_runs::{Ask, MAX_RUNS, SWEEP_MAX_RUNS, Simulated, Simulations};
use crate::util::api_error;

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn interval(e: &Estimate) -> String {
    format!("{}–{}", pct(e.lo), pct(e.hi))
}

fn words(secs: f64) -> String {
    if !secs.is_finite() {
        return "never".into();
    }
    muster_core::words::duration_secs(secs.round() as i64)
}

/// A verdict's class on the page (its words say the same without colour).
fn tone(verdict: &str) -> &'static str {
    match verdict {
        "met" => "ok",
        "MISSED" => "bad",
        _ => "unsure",
    }
}

pub struct SloRow {
    pub severity: String,
    pub within: String,
    pub target: String,
    pub attained: String,
    pub interval: String,
    pub incidents: u64,
    pub verdict: &'static str,
    pub tone: &'static str,
}

impl SloRow {
    fn of(s: &SloResult) -> SloRow {
        SloRow {
            severity: s.severity.clone(),
            within: words(s.ack_within_seconds),
            target: pct(s.target),
            attained: pct(s.attained.value),
            interval: interval(&s.attained),
            incidents: s.incidents,
            verdict: s.verdict(),
            tone: tone(s.verdict()),
        }
    }
}

pub struct CandidateRow {
    pub label: String,
    pub margin: String,
    pub on_call: String,
    pub shift_p95: String,
    pub passes: bool,
}

pub struct SweepView {
    /// The recommendation in a sentence.
    pub advice: String,
    pub passed: bool,
    pub candidates: Vec<CandidateRow>,
}

impl SweepView {
    fn of(s: &Sweep) -> SweepView {
        let advice = match (&s.chosen, s.passed) {
            (Some(c), true) => format!(
                "Smallest rotation that meets every SLO, the 25% on-call cap and 2 incidents \
                 per 12-hour shift: {c}."
            ),
            (Some(c), false) => {
                format!("No candidate meets every SLO and limit; the best found: {c}.")
            }
            (None, _) => "No candidates.".into(),
        };
        SweepView {
            advice,
            passed: s.passed,
            candidates: s
                .candidates
                .iter()
                .map(|o| CandidateRow {
                    label: o.label.clone(),
                    margin: format!("{:+.1} pts", o.worst_margin * 100.0),
                    on_call: pct(o.max_on_call_share),
                    shift_p95: format!("{:.1}", o.shift_p95),
                    passes: o.passes,
                })
                .collect(),
        }
    }
}

/// One SLO rotation: its SLOs' verdicts and its sweep.
pub struct Rotation {
    pub id: String,
    pub name: String,
    pub slos: Vec<SloRow>,
    pub sweep: Option<SweepView>,
}

pub struct FunctionalRow {
    pub name: String,
    pub slo: SloRow,
}

pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub on_call: String,
    pub over_cap: bool,
    pub pages_per_week: String,
    pub sleep_per_week: String,
    pub worst_week: u64,
}

/// What on-call costs, as the CLI's "What it costs people".
pub struct Cost {
    pub pages_mean: String,
    pub pages_p95: String,
    pub pages_worst: String,
    pub business: String,
    pub off_hours: String,
    pub sleep: String,
    pub max_on_call: String,
    pub cap: String,
    pub over_cap: Vec<String>,
    pub shift_mean: String,
    pub shift_p95: String,
    pub ceiling: String,
    pub over_ceiling: String,
    pub gini: String,
    pub balance: String,
}

pub struct SimView {
    pub start: Time,
    pub runs: u32,
    pub weeks: u32,
    pub seed: u64,
    pub per_week: String,
    pub per_week_interval: String,
    pub all_met: bool,
    pub rotations: Vec<Rotation>,
    pub functional: Vec<FunctionalRow>,
    pub ack: String,
    pub unacknowledged: String,
    pub escalated: String,
    pub cost: Cost,
    pub people: Vec<PersonRow>,
    /// Why there is no sweep, when there is none.
    pub sweep_note: Option<String>,
}

pub struct Finding {
    pub place: String,
    pub lint: String,
    pub message: String,
}

pub struct LoadRow {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub business: u32,
    pub off_hours: u32,
    pub sleep: u32,
    pub total: u32,
    pub trailing: u32,
}

#[derive(Template)]
#[template(path = "staffing.html")]
struct StaffingPage {
    layout: Layout,
    sim: Option<SimView>,
    problem: Option<String>,
    runs: u32,
    seed: u64,
    max_runs: u32,
    sweep_max_runs: u32,
    findings: Vec<Finding>,
    load_since: Time,
    real_incidents: usize,
    drills: usize,
    load: Vec<LoadRow>,
}

fn person_name(config: &Config, id: &str) -> String {
    config
        .people
        .get(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// An SLO rotation's name: its escalation policy's or schedule's.
fn rotation_name(config: &Config, id: &str) -> String {
    config
        .escalation_policies
        .get(id)
        .map(|p| p.name.clone())
        .or_else(|| config.schedules.get(id).map(|s| s.name.clone()))
        .unwrap_or_else(|| id.to_string())
}

fn rotations(config: &Config, r: &Report, sweeps: Option<&[Sweep]>) -> Vec<Rotation> {
    let mut out: Vec<Rotation> = Vec::new();
    for s in &r.slos {
        if !out.iter().any(|x| x.id == s.rotation) {
            out.push(Rotation {
                id: s.rotation.clone(),
                name: rotation_name(config, &s.rotation),
                slos: Vec::new(),
                sweep: sweeps
                    .and_then(|all| all.iter().find(|w| w.rotation == s.rotation))
                    .map(SweepView::of),
            });
        }
        if let Some(rot) = out.iter_mut().find(|x| x.id == s.rotation) {
            rot.slos.push(SloRow::of(s));
        }
    }
    out
}

fn cost(r: &Report, config: &Config) -> Cost {
    let c = &r.cost;
    let [mean, p95, worst] = &c.pages_per_person_week;
    let s = &c.incidents_per_shift;
    Cost {
        pages_mean: format!("{:.2}", mean.value),
        pages_p95: format!("{:.1}", p95.value),
        pages_worst: format!("{:.1}", worst.value),
        business: pct(c.interruptions.business.value),
        off_hours: pct(c.interruptions.off_hours.value),
        sleep: pct(c.interruptions.sleep.value),
        max_on_call: pct(c.max_on_call_share),
        cap: pct(c.on_call_cap),
        over_cap: c.over_cap.iter().map(|p| person_name(config, p)).collect(),
        shift_mean: format!("{:.2}", s.mean.value),
        shift_p95: format!("{:.1}", s.p95.value),
        ceiling: format!("{}", s.ceiling),
        over_ceiling: pct(s.over_ceiling.value),
        gini: format!("{:.2}", c.gini.value),
        balance: format!("{:.2}", c.pairwise_balance.value),
    }
}

fn sim_view(s: &Simulated, config: &Config, session: &Session) -> SimView {
    let r = &s.report;
    let p = |e: &Option<Estimate>| e.map_or("beyond the horizon".into(), |e| words(e.value));
    SimView {
        start: Time::new(s.start, &session.zone),
        runs: r.runs,
        weeks: r.weeks,
        seed: r.seed,
        per_week: format!("{:.1}", r.incidents_per_week.value),
        per_week_interval: format!(
            "{:.1}–{:.1}",
            r.incidents_per_week.lo, r.incidents_per_week.hi
        ),
        all_met: r.all_met,
        rotations: rotations(config, r, s.sweeps.as_deref()),
        functional: r
            .functional
            .iter()
            .map(|f| FunctionalRow {
                name: f.name.clone(),
                slo: SloRow {
                    severity: String::new(),
                    within: words(f.within_seconds),
                    target: pct(f.target),
                    attained: pct(f.attained.value),
                    interval: interval(&f.attained),
                    incidents: f.incidents,
                    verdict: f.verdict(),
                    tone: tone(f.verdict()),
                },
            })
            .collect(),
        ack: format!(
            "p50 {}, p90 {}, p99 {}",
            p(&r.ack_seconds.p50),
            p(&r.ack_seconds.p90),
            p(&r.ack_seconds.p99)
        ),
        unacknowledged: pct(r.unacknowledged.value),
        escalated: format!(
            "to step 2 {}, to the last step {}",
            pct(r.escalation.reached_step_2.value),
            pct(r.escalation.reached_last_step.value)
        ),
        cost: cost(r, config),
        people: r
            .people
            .iter()
            .map(|p| PersonRow {
                id: p.id.clone(),
                name: person_name(config, &p.id),
                on_call: pct(p.on_call_share),
                over_cap: p.on_call_share > r.cost.on_call_cap,
                pages_per_week: format!("{:.2}", p.pages_per_week.value),
                sleep_per_week: format!("{:.2}", p.sleep_pages_per_week.value),
                worst_week: p.worst_week,
            })
            .collect(),
        sweep_note: s.sweeps.is_none().then(|| {
            format!(
                "The sweep runs with at most {SWEEP_MAX_RUNS} runs here; for more, run \
                 muster staffing simulate --sweep."
            )
        }),
    }
}

/// The rotation lint findings of the configuration in force (its load's warnings that name a
/// lint, as `muster staffing lint` prints them), placed relative to its directory.
fn findings(state: &AppState, config: &Config) -> Vec<Finding> {
    config
        .warnings
        .iter()
        .filter_map(|d| {
            let lint = d.lint?;
            let path = state
                .config_dir
                .as_deref()
                .and_then(|dir| d.path.strip_prefix(dir).ok())
                .unwrap_or(&d.path);
            Some(Finding {
                place: format!("{}:{}:{}", path.display(), d.line, d.col),
                lint: lint.to_string(),
                message: d.message.clone(),
            })
        })
        .collect()
}

/// The load report's window: the simulated horizon back from now.
fn load_start(state: &AppState) -> Timestamp {
    let back = SignedDuration::from_hours(24 * 7 * i64::from(DEFAULT_WEEKS));
    state
        .clock
        .now()
        .checked_sub(back)
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

async fn load_report(state: &AppState) -> Result<LoadReport, PageError> {
    let since = load_start(state).to_string();
    reports::load_since(state, Some(&since))
        .await
        .map_err(api_error)
}

fn load_rows(r: &LoadReport, config: &Config) -> Vec<LoadRow> {
    r.people
        .iter()
        .map(|p| LoadRow {
            id: p.person.clone(),
            name: person_name(config, &p.person),
            zone: p.time_zone.clone(),
            business: p.interruptions.business,
            off_hours: p.interruptions.off_hours,
            sleep: p.interruptions.sleep,
            total: p.interruptions.total,
            trailing: p.trailing_21d.total,
        })
        .collect()
}

async fn page(
    state: &AppState,
    sims: &Simulations,
    session: &Session,
) -> Result<Response, PageError> {
    let outcome = sims.get(state, None).await;
    let load = load_report(state).await?;
    let cfg = state.config();
    let config = &cfg.config;
    let (sim, problem) = match outcome.as_ref() {
        Ok(s) => (Some(sim_view(s, config, session)), None),
        Err(e) => (None, Some(e.clone())),
    };
    let (runs, seed) = sim
        .as_ref()
        .map_or((Ask::DEFAULT.runs, Ask::DEFAULT.seed), |s| (s.runs, s.seed));
    let page = StaffingPage {
        layout: Layout::new("Staffing", "staffing", session, "/staffing"),
        sim,
        problem,
        runs,
        seed,
        max_runs: MAX_RUNS,
        sweep_max_runs: SWEEP_MAX_RUNS,
        findings: findings(state, config),
        load_since: Time::new(load_start(state), &session.zone),
        real_incidents: load.real_incidents,
        drills: load.drills,
        load: load_rows(&load, config),
    };
    Ok(render(&page))
}

pub async fn show(
    State(state): State<AppState>,
    axum::Extension(sims): axum::Extension<Simulations>,
    session: Session,
) -> Result<Response, PageError> {
    page(&state, &sims, &session).await
}

#[derive(Debug, Deserialize)]
pub struct RunForm {
    #[serde(default)]
    runs: String,
    #[serde(default)]
    seed: String,
}

fn ask_of(form: &RunForm) -> Result<Ask, PageError> {
    let runs = form.runs.trim();
    let runs: u32 = runs
        .parse()
        .ok()
        .filter(|n| (1..=MAX_RUNS).contains(n))
        .ok_or_else(|| {
            PageError::invalid(format!(
                "runs: `{runs}` is not a whole number from 1 to {MAX_RUNS}"
            ))
        })?;
    let seed = form.seed.trim();
    let seed: u64 = if seed.is_empty() {
        Ask::DEFAULT.seed
    } else {
        seed.parse()
            .map_err(|_| PageError::invalid(format!("seed: `{seed}` is not a whole number")))?
    };
    Ok(Ask { runs, seed })
}

/// A responder runs the simulation again with other runs or seed; every viewer then reads it.
pub async fn run_again(
    State(state): State<AppState>,
    axum::Extension(sims): axum::Extension<Simulations>,
    p: Posted<RunForm>,
) -> Result<Response, PageError> {
    p.session.require(Access::Responder)?;
    let ask = ask_of(&p.form)?;
    tracing::info!(runs = ask.runs, seed = ask.seed, actor = %p.session.name, "staffing simulated from the web UI");
    sims.get(&state, Some(ask)).await;
    Ok(Redirect::to("/staffing").into_response())
}

fn svg(body: String) -> Response {
    ([(header::CONTENT_TYPE, "image/svg+xml")], body).into_response()
}

/// Pages by hour of week over the page's window (the API's chart).
pub async fn heatmap(
    State(state): State<AppState>,
    _session: Session,
) -> Result<Response, PageError> {
    let r = load_report(&state).await?;
    Ok(svg(load::chart::heatmap_svg(&r)))
}

/// Interruptions per person over the page's window (the API's chart).
pub async fn people_chart(
    State(state): State<AppState>,
    _session: Session,
) -> Result<Response, PageError> {
    let r = load_report(&state).await?;
    Ok(svg(load::chart::people_svg(&r)))
}
