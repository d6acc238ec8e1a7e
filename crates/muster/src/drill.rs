//! `muster drill list|run|test`: drill scenarios of a config directory, run offline on a
//! simulated clock (headless, or paced ×N for watching), scored, with the after-action report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use muster_config::Config;
use muster_core::drill::{self, Profile, Report, Scenario};

use crate::policy::load_config;

#[derive(Subcommand)]
pub enum DrillCmd {
    /// The drill scenarios and profiles of a config directory.
    List {
        /// The configuration directory.
        dir: PathBuf,
    },
    /// Run a scenario offline on a simulated clock and print its after-action report
    /// (Markdown; `--json` for the JSON report). Exits 1 when the profile's expected
    /// verdicts differ.
    Run {
        /// The configuration directory.
        dir: PathBuf,
        /// The scenario id (`muster drill list DIR`).
        id: String,
        /// Play the timeline at N times real time before the report (a 2 h drill at
        /// `--speed 60` takes 2 minutes).
        #[arg(long, conflicts_with = "headless")]
        speed: Option<f64>,
        /// As fast as possible (the default when no `--speed` is given).
        #[arg(long)]
        headless: bool,
        /// Scripted participants: a profile file, or the id of one in DIR/drills/profiles.
        /// Without it, nobody does anything.
        #[arg(long, value_name = "FILE|ID")]
        profile: Option<String>,
        /// Who plays a role or persona (`ROLE=PERSON`), over the scenario's `players`.
        #[arg(long = "participant", value_name = "ROLE=PERSON")]
        participants: Vec<String>,
        /// Also write the timeline chart (SVG) to this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
    },
    /// Run every profile with expectations against its scenario; exit 1 on any difference.
    Test {
        /// The configuration directory.
        dir: PathBuf,
    },
    #[command(flatten)]
    Live(crate::drill_live::LiveCmd),
}

/// `--json` (the JSON report, or the server's JSON) comes from the connection's flags.
pub fn run(conn: crate::client::Connection, command: DrillCmd) -> ExitCode {
    let json = conn.json;
    let result = match command {
        DrillCmd::Live(cmd) => crate::runtime()
            .and_then(|rt| rt.block_on(crate::drill_live::run(conn, cmd)))
            .map(|()| ExitCode::SUCCESS),
        DrillCmd::List { dir } => list(&dir, json),
        DrillCmd::Run {
            dir,
            id,
            speed,
            headless: _,
            profile,
            participants,
            svg,
        } => run_one(
            &dir,
            &id,
            profile.as_deref(),
            &participants,
            speed,
            json,
            svg,
        ),
        DrillCmd::Test { dir } => test(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config(dir: &Path) -> anyhow::Result<Config> {
    load_config(dir)
        .ok_or_else(|| anyhow::anyhow!("{}: cannot load the configuration", dir.display()))
}

fn list(dir: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let config = config(dir)?;
    if json {
        let out = serde_json::json!({
            "scenarios": config.drills.values().collect::<Vec<_>>(),
            "profiles": config.drill_profiles.values().collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let header = [
        "SCENARIO", "LENGTH", "SEVERITY", "INJECTS", "PROFILES", "TITLE",
    ];
    let mut rows = Vec::new();
    for s in config.drills.values() {
        let profiles: Vec<&str> = config
            .drill_profiles
            .values()
            .filter(|p| p.scenario.as_deref() == Some(s.id.as_str()))
            .map(|p| p.id.as_str())
            .collect();
        rows.push(vec![
            s.id.clone(),
            muster_core::words::duration(s.length),
            s.incident.severity.to_string(),
            s.injects.len().to_string(),
            if profiles.is_empty() {
                "-".into()
            } else {
                profiles.join(",")
            },
            s.title.clone(),
        ]);
    }
    print!("{}", crate::table::render(&header, &rows));
    Ok(ExitCode::SUCCESS)
}

/// A profile from a file path, or by id from the config directory.
fn profile(arg: &str, config: &Config) -> anyhow::Result<Profile> {
    let path = Path::new(arg);
    if path.is_file() {
        return muster_config::load_drill_profile(path, config).map_err(|diags| {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        });
    }
    config.drill_profiles.get(arg).cloned().ok_or_else(|| {
        anyhow::anyhow!(
            "no profile file or profile id `{arg}` (profiles: {})",
            config
                .drill_profiles
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn scenario<'c>(config: &'c Config, id: &str) -> anyhow::Result<&'c Scenario> {
    config.drills.get(id).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown drill scenario `{id}` (scenarios: {})",
            config.drills.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

/// The scenario's default players with `ROLE=PERSON` pairs over them, each checked.
pub fn players(
    scenario: &Scenario,
    config: &Config,
    pairs: &[String],
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut players = scenario.players.clone();
    for pair in pairs {
        let Some((role, person)) = pair.split_once('=') else {
            anyhow::bail!("--participant `{pair}`: expected ROLE=PERSON");
        };
        if !scenario.play.iter().any(|p| p == role) {
            anyhow::bail!(
                "--participant `{pair}`: nobody plays `{role}` in drill `{}` (played: {})",
                scenario.id,
                scenario.play.join(", ")
            );
        }
        if !config.people.contains_key(person) {
            anyhow::bail!("--participant `{pair}`: unknown person `{person}`");
        }
        players.insert(role.to_string(), person.to_string());
    }
    Ok(players)
}

fn run_one(
    dir: &Path,
    id: &str,
    profile_arg: Option<&str>,
    participants: &[String],
    speed: Option<f64>,
    json: bool,
    svg: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let config = config(dir)?;
    let scenario = scenario(&config, id)?;
    let profile = profile_arg.map(|p| profile(p, &config)).transpose()?;
    if let Some(p) = &profile
        && let Some(other) = p.scenario.as_deref()
        && other != scenario.id
    {
        anyhow::bail!(
            "profile `{}` was written for drill `{other}`, not `{}`",
            p.id,
            scenario.id
        );
    }
    let players = players(scenario, &config, participants)?;
    let report = drill::headless(
        scenario,
        profile.as_ref(),
        &config.engine_policies(),
        &config.vocabulary(),
        &players,
    );
    if let Some(speed) = speed {
        pace(&report, speed)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", drill::markdown(&report));
    }
    if let Some(path) = svg {
        std::fs::write(&path, drill::svg(&report))
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    let differences = profile
        .as_ref()
        .and_then(|p| p.expect.as_ref())
        .map(|e| e.differences(&report.score))
        .unwrap_or_default();
    for d in &differences {
        eprintln!("expected: {d}");
    }
    Ok(if differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Print the drill's timeline as it unfolds, `speed` times faster than real time.
fn pace(report: &Report, speed: f64) -> anyhow::Result<()> {
    if !(speed.is_finite() && speed > 0.0) {
        anyhow::bail!("--speed must be a positive number (found {speed})");
    }
    let started = std::time::Instant::now();
    for (at_s, line) in drill::timeline_lines(report) {
        let due = std::time::Duration::from_secs_f64(at_s.max(0) as f64 / speed);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        eprintln!("T+{} {line}", muster_core::words::duration_secs(at_s));
    }
    Ok(())
}

/// `muster drill test DIR`: every profile with expectations, `ok` or the differences.
fn test(dir: &Path) -> anyhow::Result<ExitCode> {
    let config = config(dir)?;
    let policies = config.engine_policies();
    let vocab = config.vocabulary();
    let (mut passed, mut failed) = (0, 0);
    for p in config.drill_profiles.values() {
        let (Some(expect), Some(id)) = (&p.expect, &p.scenario) else {
            continue;
        };
        let scenario = scenario(&config, id)?;
        let report = drill::headless(scenario, Some(p), &policies, &vocab, &scenario.players);
        let differences = expect.differences(&report.score);
        if differences.is_empty() {
            passed += 1;
            println!("ok      {} ({id})", p.id);
        } else {
            failed += 1;
            println!("FAILED  {} ({id})", p.id);
            for d in differences {
                println!("          {d}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
