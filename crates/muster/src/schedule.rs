//! `muster oncall` and `muster schedule …`: schedules resolved straight from a config directory
//! (no server needed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use muster_core::schedule::{self as sched, Schedule, ShiftSource};

#[derive(Args, Debug)]
pub struct OncallArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    /// Schedule id.
    #[arg(long)]
    pub schedule: String,
    /// When (RFC 3339, e.g. 2026-03-30T08:30:00Z; or a local `2026-03-30T09:30` / `2026-03-30`
    /// in the schedule's zone). Default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Print a JSON object instead of the person's id.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ScheduleCmd {
    /// The final schedule (layers and overrides) between two times, gaps included.
    Shifts {
        #[command(flatten)]
        window: Window,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// The final schedule as iCalendar (RFC 5545), one event per shift.
    Ical {
        #[command(flatten)]
        window: Window,
        /// Only this person's shifts.
        #[arg(long)]
        person: Option<String>,
        /// SEQUENCE of every event (bump when the schedule changes).
        #[arg(long, default_value_t = 0)]
        sequence: u32,
    },
}

#[derive(Args, Debug)]
pub struct Window {
    /// The configuration directory.
    pub dir: PathBuf,
    /// Schedule id.
    #[arg(long)]
    pub schedule: String,
    /// Start (RFC 3339, or a local date/date-time in the schedule's zone).
    #[arg(long)]
    pub from: String,
    /// End, exclusive (same forms as --from).
    #[arg(long)]
    pub to: String,
}

/// `muster oncall`: prints the id of whoever is on call (one per line); when nobody is, prints
/// nothing on stdout, says so on stderr, and exits 1.
pub fn oncall(args: OncallArgs) -> ExitCode {
    match oncall_inner(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn oncall_inner(args: &OncallArgs) -> anyhow::Result<ExitCode> {
    let (schedule, name) = load_schedule(&args.dir, &args.schedule)?;
    let at = match &args.at {
        Some(s) => parse_time(s, &schedule.time_zone)?,
        None => Timestamp::now(),
    };
    let people = sched::on_call(&schedule, at);
    // the surrounding shift or gap, for the human note and --json
    let weeks = SignedDuration::from_hours(24 * 7 * 8);
    let horizon = at.checked_add(weeks).unwrap_or(at);
    let around = sched::shifts(&schedule, at.checked_sub(weeks).unwrap_or(at), horizon);
    let shift = around.shifts.iter().find(|s| s.start <= at && at < s.end);
    let gap = around.gaps.iter().find(|g| g.start <= at && at < g.end);
    if args.json {
        let value = serde_json::json!({
            "schedule": schedule.id,
            "at": at,
            "on_call": people,
            "shift": shift,
            "gap": gap,
        });
        println!("{value}");
        return Ok(ExitCode::SUCCESS);
    }
    for p in &people {
        println!("{p}");
    }
    let tz = &schedule.time_zone;
    match (shift, gap) {
        (Some(s), _) => eprintln!(
            "{name}: {} on call from {} to {} ({})",
            s.person,
            local(s.start, tz),
            local(s.end, tz),
            source(&s.source)
        ),
        (None, Some(g)) => {
            let until = if g.end < horizon {
                format!("until {}", local(g.end, tz))
            } else {
                "for at least 8 weeks".to_string()
            };
            eprintln!("{name}: nobody is on call at {} ({until})", local(at, tz))
        }
        (None, None) => {}
    }
    Ok(if people.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `muster schedule …`.
pub fn run(command: ScheduleCmd) -> anyhow::Result<()> {
    match command {
        ScheduleCmd::Shifts { window, json } => {
            let (schedule, from, to) = window.resolve()?;
            let res = sched::shifts(&schedule, from, to);
            if json {
                let value = serde_json::json!({
                    "schedule": schedule.id,
                    "time_zone": schedule.time_zone.iana_name(),
                    "from": from,
                    "to": to,
                    "shifts": res.shifts,
                    "gaps": res.gaps,
                });
                println!("{value}");
                return Ok(());
            }
            let tz = &schedule.time_zone;
            let mut rows: Vec<(Timestamp, Vec<String>)> = res
                .shifts
                .iter()
                .map(|s| {
                    (
                        s.start,
                        vec![
                            local(s.start, tz),
                            local(s.end, tz),
                            hours(s.end.duration_since(s.start)),
                            s.person.clone(),
                            source(&s.source),
                        ],
                    )
                })
                .collect();
            rows.extend(res.gaps.iter().map(|g| {
                (
                    g.start,
                    vec![
                        local(g.start, tz),
                        local(g.end, tz),
                        hours(g.end.duration_since(g.start)),
                        "-".into(),
                        "GAP: nobody on call".into(),
                    ],
                )
            }));
            rows.sort_by_key(|(t, _)| *t);
            let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
            let zone = tz.iana_name().unwrap_or("local");
            let start = format!("START ({zone})");
            print!(
                "{}",
                crate::table::render(&[&start, "END", "HOURS", "PERSON", "SOURCE"], &rows)
            );
            Ok(())
        }
        ScheduleCmd::Ical {
            window,
            person,
            sequence,
        } => {
            let (schedule, from, to) = window.resolve()?;
            let name = window.name()?;
            let mut shifts = sched::shifts(&schedule, from, to).shifts;
            if let Some(p) = &person {
                shifts.retain(|s| &s.person == p);
            }
            print!(
                "{}",
                muster_core::ical::schedule_calendar(&schedule.id, &name, &shifts, sequence)
            );
            Ok(())
        }
    }
}

impl Window {
    fn resolve(&self) -> anyhow::Result<(Schedule, Timestamp, Timestamp)> {
        let (schedule, _) = load_schedule(&self.dir, &self.schedule)?;
        let from = parse_time(&self.from, &schedule.time_zone).context("--from")?;
        let to = parse_time(&self.to, &schedule.time_zone).context("--to")?;
        if to <= from {
            bail!("--to ({to}) must be after --from ({from})");
        }
        Ok((schedule, from, to))
    }

    fn name(&self) -> anyhow::Result<String> {
        load_schedule(&self.dir, &self.schedule).map(|(_, n)| n)
    }
}

/// The schedule `id` of the config in `dir`, converted for the core, and its display name.
fn load_schedule(dir: &Path, id: &str) -> anyhow::Result<(Schedule, String)> {
    let config = muster_config::load(dir).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|d| d.to_string()).collect();
        anyhow!("{} has errors:\n{}", dir.display(), lines.join("\n"))
    })?;
    let Some(s) = config.schedules.get(id) else {
        let known: Vec<&str> = config.schedules.keys().map(String::as_str).collect();
        bail!("unknown schedule `{id}` (known: {})", known.join(", "));
    };
    let core = s
        .to_core()
        .with_context(|| format!("time zone of schedule `{id}`"))?;
    Ok((core, s.name.clone()))
}

/// RFC 3339 with an offset; or a civil date-time / date in the schedule's zone (same gap and
/// fold rules as hand-offs: a time in a gap means the end of the gap, a fold the first one).
fn parse_time(s: &str, tz: &TimeZone) -> anyhow::Result<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    let dt = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| s.parse::<jiff::civil::Date>().map(|d| d.to_datetime(jiff::civil::Time::midnight())))
        .map_err(|_| {
            anyhow!("invalid time `{s}` (expected RFC 3339 like 2026-03-30T08:30:00Z, or a local 2026-03-30T09:30 or 2026-03-30)")
        })?;
    Ok(sched::local_to_timestamp(tz, dt))
}

fn local(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%d %H:%M %Z")
        .to_string()
}

fn hours(d: SignedDuration) -> String {
    let mins = d.as_secs() / 60;
    format!("{}:{:02}", mins / 60, mins % 60)
}

fn source(s: &ShiftSource) -> String {
    match s {
        ShiftSource::Layer { name, .. } => format!("layer {name}"),
        ShiftSource::Override { id: Some(id) } => format!("override {id}"),
        ShiftSource::Override { id: None } => "override".into(),
    }
}
