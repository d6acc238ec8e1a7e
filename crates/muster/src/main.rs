//! `muster`: the one binary. Server, config checker, CLI client and benchmarks.

mod alerts;
mod bench;
mod bench_brief;
mod bench_drills;
mod bench_ingest;
mod bench_nodes;
mod bench_notify;
mod bench_paging;
mod bench_replay;
mod bench_schedules;
mod bench_similar;
mod bench_staffing;
mod bench_timers;
mod bench_ui;
mod briefing;
mod client;
mod drill;
mod drill_live;
mod inbox;
mod overrides;
mod policy;
mod report;
mod report_load;
mod schedule;
mod serve;
mod sigpipe;
mod staffing;
mod staffing_history;
mod staffing_lint;
mod start_up_pages;
mod table;
mod template;
mod token;

/// mimalloc instead of the system allocator: intake allocates many small strings and maps per
/// alert, and glibc's malloc spent a fifth of the ingest benchmark's CPU time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Default embedded database: created on first start.
pub const DEFAULT_DB: &str = "sqlite://muster-data/muster.db";

#[derive(Parser)]
#[command(
    name = "muster",
    version,
    about = "Incident response autopilot: keeps the clock, applies policy, pages, tells, briefs."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the server: API, scheduler and workers.
    Serve(serve::ServeArgs),
    /// Validate a configuration directory; prints `file:line:col: error: …` per problem.
    Check {
        /// The configuration directory.
        dir: PathBuf,
    },
    /// Manage API tokens (writes straight to the database).
    Token {
        #[command(subcommand)]
        command: token::TokenCmd,
    },
    /// Work incidents on a running server.
    Incident {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: client::IncidentCmd,
    },
    /// Alerts on a running server: list, show, ack, resolve.
    Alert {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: alerts::AlertCmd,
    },
    /// Run-time schedule overrides on a running server.
    Override {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: overrides::OverrideCmd,
    },
    /// The inbox on a running server: notifications no configured provider could carry.
    Inbox {
        #[command(flatten)]
        conn: client::Connection,
        #[command(flatten)]
        args: inbox::InboxArgs,
    },
    /// Reports across incidents and drills: `muster report policies [--since T]`.
    Report {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: report::ReportCmd,
    },
    /// Built-in benchmarks; each prints one JSON object per line.
    Bench(bench::BenchArgs),
    /// Who is on call for a schedule (no server needed); exits 1 when nobody is.
    Oncall(schedule::OncallArgs),
    /// Schedules from a config directory: resolved shifts, iCalendar.
    Schedule {
        #[command(subcommand)]
        command: schedule::ScheduleCmd,
    },
    /// Policy tools: `muster policy test DIR` runs the policy tests of a config directory.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCmd,
    },
    /// Drills: scenarios as code, run headless on a simulated clock and scored, or live on a
    /// server on their own clock.
    Drill {
        #[command(flatten)]
        conn: client::Connection,
        #[command(subcommand)]
        command: drill::DrillCmd,
    },
    /// Staffing: simulate rotations against response-time SLOs, Erlang C, and lint rotations
    /// and experts against SRE practice.
    Staffing {
        #[command(subcommand)]
        command: staffing::StaffingCmd,
    },
    /// Message templates: `muster template render DIR NAME --incident FILE` previews one.
    Template {
        #[command(subcommand)]
        command: template::TemplateCmd,
    },
    /// Re-run a config's policies over recorded incidents on a simulated clock (JSON lines).
    Replay {
        /// The configuration directory.
        dir: PathBuf,
        /// JSON lines, one recorded incident per line (format: `muster replay --help`, docs in
        /// crates/muster/src/policy.rs).
        #[arg(long, required_unless_present = "from_db", conflicts_with = "from_db")]
        incidents: Option<PathBuf>,
        /// Replay the incidents stored in this database (sqlite://… or postgres://…).
        #[arg(long, value_name = "URL")]
        from_db: Option<String>,
        /// One JSON object per incident, then a summary object.
        #[arg(long)]
        json: bool,
        /// Recorded and simulated firings this close in time are the same firing.
        #[arg(long, default_value = "1m")]
        tolerance: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Cmd::Serve(_)) {
        sigpipe::restore_default();
    }
    let result = match cli.command {
        Cmd::Check { dir } => return check(&dir),
        Cmd::Oncall(args) => return schedule::oncall(args),
        Cmd::Schedule { command } => schedule::run(command),
        Cmd::Policy { command } => return policy::policy(command),
        Cmd::Template { command } => return template::run(command),
        Cmd::Staffing { command } => return staffing::run(command),
        Cmd::Drill { conn, command } => return drill::run(conn, command),
        Cmd::Replay {
            dir,
            incidents,
            from_db,
            json,
            tolerance,
        } => {
            let source = match (&incidents, &from_db) {
                (Some(file), _) => policy::Source::File(file),
                (None, Some(url)) => policy::Source::Database(url),
                (None, None) => {
                    eprintln!("error: give --incidents FILE or --from-db URL");
                    return ExitCode::FAILURE;
                }
            };
            return policy::replay(&dir, source, json, &tolerance);
        }
        Cmd::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::serve(args))),
        Cmd::Token { command } => runtime().and_then(|rt| rt.block_on(token::token(command))),
        Cmd::Incident { conn, command } => {
            runtime().and_then(|rt| rt.block_on(client::incident(conn, command)))
        }
        Cmd::Alert { conn, command } => {
            runtime().and_then(|rt| rt.block_on(alerts::run(conn, command)))
        }
        Cmd::Override { conn, command } => {
            runtime().and_then(|rt| rt.block_on(overrides::run(conn, command)))
        }
        Cmd::Report { conn, command } => {
            runtime().and_then(|rt| rt.block_on(report::run(conn, command)))
        }
        Cmd::Inbox { conn, args } => runtime().and_then(|rt| rt.block_on(inbox::run(conn, args))),
        Cmd::Bench(args) => runtime().and_then(|rt| rt.block_on(bench::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `muster check DIR`: every problem on its own line, exit 1 if any is an error.
fn check(dir: &std::path::Path) -> ExitCode {
    let report = muster_config::check(dir);
    for d in &report.diagnostics {
        println!("{d}");
    }
    if report.has_errors() {
        let n = report.errors().count();
        eprintln!(
            "{}: {n} error{}",
            dir.display(),
            if n == 1 { "" } else { "s" }
        );
        return ExitCode::FAILURE;
    }
    if let Some(cfg) = &report.config {
        eprintln!(
            "{}: ok ({} people, {} teams, {} services, {} schedules, {} policies)",
            dir.display(),
            cfg.people.len(),
            cfg.teams.len(),
            cfg.services.len(),
            cfg.schedules.len(),
            cfg.policies.len()
        );
    }
    ExitCode::SUCCESS
}
