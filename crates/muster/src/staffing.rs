//! `muster staffing simulate|erlang|lint`: does each rotation meet its response-time SLOs, with
//! what confidence, and what does it cost people. The simulation is the core's
//! (`muster_core::staffing`); this shell reads the configuration and history, spreads runs
//! over threads (aggregated in run order, so the JSON is the same whatever the thread count)
//! and prints tables or `--json`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use muster_core::staffing::{self, Report};
use muster_server::staffing::{
    DEFAULT_MAX_SIZE, DEFAULT_RUNS, DEFAULT_SEED, DEFAULT_WEEKS, Sweep, SweepSize, run_report,
};
use serde_json::json;

use crate::staffing_history;
use crate::staffing_lint;
use crate::table;

#[derive(Subcommand, Debug)]
pub enum StaffingCmd {
    /// Monte Carlo over the configuration's schedules, escalation policies and `staffing.yaml`.
    Simulate(SimulateArgs),
    /// Erlang C for a queue of interchangeable responders (fields p_wait, service_level,
    /// asa_seconds).
    Erlang(ErlangArgs),
    /// Rotation anti-patterns (circular or outsider secondaries, one person primary twice,
    /// shifts over 12 h, thin 24/7 rotations, single experts, functional SLOs without a
    /// schedule): one `file:line:col` line each. Exits 0 with findings unless `--deny`.
    Lint(staffing_lint::LintArgs),
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    /// Past incidents (JSON lines, or CSV by extension) to fit arrivals and hands-on time from.
    #[arg(long, conflicts_with = "from_db")]
    pub history: Option<PathBuf>,
    /// Fit arrivals and hands-on time from this Muster database's real incidents (no drills).
    #[arg(long, value_name = "URL")]
    pub from_db: Option<String>,
    /// Weeks per run.
    #[arg(long, default_value_t = DEFAULT_WEEKS)]
    pub weeks: u32,
    /// Independent runs (run r is seeded SEED + r).
    #[arg(long, default_value_t = DEFAULT_RUNS)]
    pub runs: u32,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// First day simulated (default: this week's Monday, UTC).
    #[arg(long, value_name = "DATE")]
    pub start: Option<jiff::civil::Date>,
    /// Size rotations: candidate sizes and patterns per SLO rotation, smallest passing first.
    #[arg(long)]
    pub sweep: bool,
    /// With --sweep: only this rotation (an SLO's rotation id).
    #[arg(long, requires = "sweep")]
    pub rotation: Option<String>,
    /// With --sweep: the largest rotation tried.
    #[arg(long, default_value_t = DEFAULT_MAX_SIZE, requires = "sweep")]
    pub max_size: u32,
    /// Worker threads (default: the machine's cores). The report does not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ErlangArgs {
    #[arg(long)]
    pub arrivals_per_hour: f64,
    /// Mean handling time: seconds, or a duration such as 3m.
    #[arg(long)]
    pub handle_time: String,
    #[arg(long)]
    pub servers: u32,
    /// Service-level target: seconds, or a duration such as 20s.
    #[arg(long)]
    pub target: String,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: StaffingCmd) -> ExitCode {
    let result = match cmd {
        StaffingCmd::Simulate(args) => simulate(&args),
        StaffingCmd::Erlang(args) => erlang(&args),
        StaffingCmd::Lint(args) => return staffing_lint::lint(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn seconds(what: &str, s: &str) -> anyhow::Result<f64> {
    let secs = match s.trim().parse::<f64>() {
        Ok(x) => x,
        Err(_) => s
            .parse::<muster_config::Duration>()
            .map(|d| d.as_secs() as f64)
            .map_err(|e| anyhow::anyhow!("--{what} `{s}`: {e}"))?,
    };
    Ok(secs)
}

fn erlang(a: &ErlangArgs) -> anyhow::Result<()> {
    let handle = seconds("handle-time", &a.handle_time)?;
    let target = seconds("target", &a.target)?;
    if !(a.arrivals_per_hour > 0.0 && a.arrivals_per_hour.is_finite()) {
        bail!("--arrivals-per-hour must be greater than 0");
    }
    if handle <= 0.0 {
        bail!("--handle-time must be longer than 0");
    }
    if a.servers == 0 {
        bail!("--servers must be at least 1");
    }
    if target < 0.0 {
        bail!("--target must not be negative");
    }
    let e = staffing::erlang::erlang_c(a.arrivals_per_hour, handle, a.servers, target);
    let r = |x: f64, p| staffing::stats::round(x, p);
    if a.json {
        let asa = if e.asa_seconds.is_finite() {
            json!(r(e.asa_seconds, 2))
        } else {
            json!(null)
        };
        println!(
            "{}",
            json!({
                "arrivals_per_hour": a.arrivals_per_hour,
                "handle_seconds": handle,
                "servers": a.servers,
                "target_seconds": target,
                "traffic_erlangs": r(e.traffic, 4),
                "occupancy": r(e.occupancy, 4),
                "p_wait": r(e.p_wait, 4),
                "service_level": r(e.service_level, 4),
                "asa_seconds": asa,
            })
        );
        return Ok(());
    }
    println!(
        "traffic {:.2} Erlangs on {} servers (occupancy {:.1}%)",
        e.traffic,
        a.servers,
        e.occupancy * 100.0
    );
    println!("P(wait)        {:.4}", e.p_wait);
    println!(
        "service level  {:.3} answered within {}",
        e.service_level,
        words(target)
    );
    println!("ASA            {:.2} s", e.asa_seconds);
    if e.p_wait >= 1.0 {
        println!("the queue grows without bound: add servers");
    }
    Ok(())
}

fn words(secs: f64) -> String {
    if !secs.is_finite() {
        return "never".into();
    }
    muster_core::words::duration_secs(secs.round() as i64)
}

fn start_of(args: &SimulateArgs) -> anyhow::Result<jiff::Timestamp> {
    Ok(match args.start {
        Some(d) => {
            jiff::tz::Offset::UTC.to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))?
        }
        None => muster_server::staffing::monday_of(jiff::Timestamp::now())?,
    })
}

fn load(dir: &Path) -> anyhow::Result<muster_config::Config> {
    muster_config::load(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        anyhow::anyhow!("the configuration has errors:\n{}", lines.join("\n"))
    })
}

fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    if args.runs == 0 || args.weeks == 0 {
        bail!("--runs and --weeks must be at least 1");
    }
    let config = load(&args.dir)?;
    let staffing_zone = config
        .staffing
        .as_ref()
        .map(|s| s.time_zone.clone())
        .unwrap_or_else(|| "Etc/UTC".into());
    let past = match (&args.history, &args.from_db) {
        (Some(file), _) => Some(staffing_history::read(file)?),
        (None, Some(url)) => Some(
            crate::runtime()?
                .block_on(staffing_history::from_db(url))
                .context("reading past incidents")?,
        ),
        _ => None,
    };
    let fitted = match &past {
        Some(p) => {
            let zone = jiff::tz::TimeZone::get(&staffing_zone)?;
            Some(staffing::history::fit(p, &zone).context("the history holds no incidents")?)
        }
        None => None,
    };
    let model = config
        .staffing_model(start_of(args)?, args.weeks, fitted.as_ref())
        .map_err(anyhow::Error::msg)?;
    if model.streams.is_empty() {
        bail!("no arrivals: add staffing.arrivals to the configuration or pass --history");
    }
    let threads = args
        .threads
        .unwrap_or_else(muster_server::staffing::threads);
    let report = run_report(model.clone(), args.runs, args.seed, threads);
    if !args.sweep {
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print!("{}", render(&args.dir, &report, fitted.as_ref()));
        }
        return Ok(());
    }
    let sweeps = sweeps(&config, &model, args, threads)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "report": report, "sweeps": sweeps }))?
        );
    } else {
        print!("{}", render(&args.dir, &report, fitted.as_ref()));
        for s in &sweeps {
            print!("{}", render_sweep(s));
        }
    }
    Ok(())
}

fn sweeps(
    config: &muster_config::Config,
    model: &staffing::Model,
    args: &SimulateArgs,
    threads: usize,
) -> anyhow::Result<Vec<Sweep>> {
    let mut rotations = muster_server::staffing::slo_rotations(model);
    if let Some(only) = &args.rotation {
        if !rotations.contains(only) {
            bail!(
                "no staffing SLO names rotation `{only}` (SLO rotations: {})",
                rotations.join(", ")
            );
        }
        rotations = vec![only.clone()];
    }
    let size = SweepSize {
        max_size: args.max_size,
        runs: args.runs,
        seed: args.seed,
        threads,
    };
    muster_server::staffing::sweeps(config, model, &rotations, size).map_err(anyhow::Error::msg)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn ci_pct(e: &staffing::stats::Estimate) -> String {
    format!("{}–{}", pct(e.lo), pct(e.hi))
}

fn render(dir: &Path, r: &Report, fitted: Option<&staffing::history::Fitted>) -> String {
    let mut out = format!(
        "{}: {} runs × {} weeks from {}, seed {}; {:.1} incidents a week (95% CI {:.1}–{:.1})\n",
        dir.display(),
        r.runs,
        r.weeks,
        r.start,
        r.seed,
        r.incidents_per_week.value,
        r.incidents_per_week.lo,
        r.incidents_per_week.hi
    );
    if let Some(f) = fitted {
        out.push_str(&format!(
            "arrivals and hands-on time fitted from {} past incidents over {} weeks\n",
            f.incidents, f.weeks
        ));
    }
    out.push_str("\nResponse-time SLOs: P(acknowledged within), 95% confidence interval\n");
    let rows: Vec<Vec<String>> = r
        .slos
        .iter()
        .map(|s| {
            vec![
                s.rotation.clone(),
                s.severity.clone(),
                words(s.ack_within_seconds),
                pct(s.target),
                pct(s.attained.value),
                ci_pct(&s.attained),
                s.incidents.to_string(),
                s.verdict().into(),
            ]
        })
        .chain(r.functional.iter().map(|f| {
            vec![
                format!("{} (functional)", f.name),
                "-".into(),
                words(f.within_seconds),
                pct(f.target),
                pct(f.attained.value),
                ci_pct(&f.attained),
                f.incidents.to_string(),
                f.verdict().into(),
            ]
        }))
        .collect();
    out.push_str(&table::render(
        &[
            "ROTATION",
            "SEV",
            "WITHIN",
            "TARGET",
            "ATTAINED",
            "95% CI",
            "INCIDENTS",
            "VERDICT",
        ],
        &rows,
    ));
    let p = |e: &Option<staffing::stats::Estimate>| {
        e.map_or("beyond the horizon".into(), |e| words(e.value))
    };
    out.push_str(&format!(
        "\nAcknowledged after: p50 {}, p90 {}, p99 {}; unacknowledged {}\n",
        p(&r.ack_seconds.p50),
        p(&r.ack_seconds.p90),
        p(&r.ack_seconds.p99),
        pct(r.unacknowledged.value)
    ));
    out.push_str(&format!(
        "Escalated: to step 2 {}, to the last step {}\n",
        pct(r.escalation.reached_step_2.value),
        pct(r.escalation.reached_last_step.value)
    ));
    out.push_str(&render_cost(r));
    out
}

fn render_cost(r: &Report) -> String {
    let c = &r.cost;
    let [mean, p95, worst] = &c.pages_per_person_week;
    let i = &c.interruptions;
    let s = &c.incidents_per_shift;
    let mut out = format!(
        "\nWhat it costs people\n\
         pages per person-week: mean {:.2}, p95 {:.1}, worst {:.1}\n\
         interruptions in their own zone: business hours {}, off-hours {}, sleep {}\n\
         on-call share: at most {} (cap {}){}\n\
         incidents per 12-hour on-call shift: mean {:.2}, p95 {:.1} (ceiling {}); over the ceiling {}\n\
         fairness of pages: Gini {:.2} (0 = even), pairwise balance {:.2} (Grafana OnCall's; 1 = even)\n\n",
        mean.value,
        p95.value,
        worst.value,
        pct(i.business.value),
        pct(i.off_hours.value),
        pct(i.sleep.value),
        pct(c.max_on_call_share),
        pct(c.on_call_cap),
        if c.over_cap.is_empty() {
            String::new()
        } else {
            format!("; over it: {}", c.over_cap.join(", "))
        },
        s.mean.value,
        s.p95.value,
        s.ceiling,
        pct(s.over_ceiling.value),
        c.gini.value,
        c.pairwise_balance.value,
    );
    let rows: Vec<Vec<String>> = r
        .people
        .iter()
        .map(|p| {
            vec![
                p.id.clone(),
                pct(p.on_call_share),
                format!("{:.2}", p.pages_per_week.value),
                format!("{:.2}", p.sleep_pages_per_week.value),
                p.worst_week.to_string(),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &[
            "PERSON",
            "ON CALL",
            "PAGES/WEEK",
            "SLEEP PAGES/WEEK",
            "WORST WEEK",
        ],
        &rows,
    ));
    out
}

fn render_sweep(s: &Sweep) -> String {
    let mut out = format!("\nSweep of {}: candidates smallest first\n", s.rotation);
    let rows: Vec<Vec<String>> = s
        .candidates
        .iter()
        .map(|o| {
            vec![
                o.label.clone(),
                format!("{:+.1} pts", o.worst_margin * 100.0),
                pct(o.max_on_call_share),
                format!("{:.1}", o.shift_p95),
                if o.passes { "passes" } else { "-" }.into(),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &[
            "CANDIDATE",
            "WORST SLO MARGIN",
            "MAX ON CALL",
            "SHIFT P95",
            "VERDICT",
        ],
        &rows,
    ));
    match (&s.chosen, s.passed) {
        (Some(c), true) => out.push_str(&format!(
            "smallest that meets every SLO, the 25% cap and 2 incidents per shift: {c}\n"
        )),
        (Some(c), false) => out.push_str(&format!(
            "no candidate meets every SLO and limit; the best found: {c}\n"
        )),
        (None, _) => out.push_str("no candidates\n"),
    }
    out
}
