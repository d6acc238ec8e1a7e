//! `muster report policies [--since T]`: which policies are hard to follow in time, across
//! real incidents and drills (`GET /api/v1/reports/policies`); `muster report load [--since
//! T] [--svg DIR]`: the load people carry (`GET /api/v1/reports/load` and its charts).

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Connection, urlencode};
use crate::report_load as load;
use crate::table;

#[derive(Subcommand, Debug)]
pub enum ReportCmd {
    /// Per policy: applied, met, late, missed and the median margin, real incidents and
    /// drills apart; per role: the median time until someone held it.
    Policies {
        /// Only incidents declared at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
    },
    /// Per person: pages and nudges by business / off-hours / sleep in their own time zone,
    /// the last 21 days, 12-hour shifts over 2 incidents; time to acknowledge, mitigate and
    /// resolve by severity, service and team. Drills are left out.
    Load {
        /// Only incidents declared at or after this instant (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Also write the charts there: `load-heatmap.svg` (pages by hour of week) and
        /// `load-people.svg` (interruptions per person).
        #[arg(long, value_name = "DIR")]
        svg: Option<PathBuf>,
    },
}

fn counts(c: &Value) -> String {
    format!(
        "{}/{}/{}/{}",
        c["applied"].as_u64().unwrap_or(0),
        c["met"].as_u64().unwrap_or(0),
        c["late"].as_u64().unwrap_or(0),
        c["missed"].as_u64().unwrap_or(0)
    )
}

fn secs(v: &Value) -> String {
    v.as_i64().map_or("-".into(), |s| {
        let words = muster_core::words::duration_secs(s);
        if s < 0 {
            format!("{words} late")
        } else {
            words
        }
    })
}

fn render(report: &Value) -> String {
    let empty = Vec::new();
    let policies: Vec<Vec<String>> = report["policies"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|p| {
            vec![
                p["policy"].as_str().unwrap_or("").to_string(),
                counts(&p["all"]),
                counts(&p["real"]),
                counts(&p["drills"]),
                secs(&p["all"]["median_margin_s"]),
            ]
        })
        .collect();
    let roles: Vec<Vec<String>> = report["roles"]
        .as_array()
        .unwrap_or(&empty)
        .iter()
        .map(|r| {
            vec![
                r["role"].as_str().unwrap_or("").to_string(),
                r["held"].to_string(),
                secs(&r["real_median_s"]),
                secs(&r["drills_median_s"]),
            ]
        })
        .collect();
    format!(
        "{} real incidents, {} drills (applied/met/late/missed)\n\n{}\n{}",
        report["real_incidents"],
        report["drills"],
        table::render(
            &["POLICY", "ALL", "REAL", "DRILLS", "MEDIAN MARGIN"],
            &policies
        ),
        table::render(&["ROLE", "HELD", "REAL MEDIAN", "DRILLS MEDIAN"], &roles)
    )
}

/// `path` with `?since=` when given.
fn with_since(path: &str, since: Option<&str>) -> String {
    match since {
        Some(s) => format!("{path}?since={}", urlencode(s)),
        None => path.to_string(),
    }
}

pub async fn run(conn: Connection, cmd: ReportCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let (report, text) = match &cmd {
        ReportCmd::Policies { since } => {
            let path = with_since("/api/v1/reports/policies", since.as_deref());
            let report = api.call(Method::GET, &path, None).await?;
            let text = render(&report);
            (report, text)
        }
        ReportCmd::Load { since, svg } => {
            let path = with_since("/api/v1/reports/load", since.as_deref());
            let report = api.call(Method::GET, &path, None).await?;
            if let Some(dir) = svg {
                write_charts(&api, dir, since.as_deref()).await?;
            }
            let text = load::render(&report);
            (report, text)
        }
    };
    if conn.json {
        println!("{report}");
    } else {
        print!("{text}");
    }
    Ok(())
}

/// Writes the load report's two charts into `dir` (created if missing).
async fn write_charts(api: &Api, dir: &std::path::Path, since: Option<&str>) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (chart, file) in [
        ("heatmap.svg", "load-heatmap.svg"),
        ("people.svg", "load-people.svg"),
    ] {
        let path = with_since(&format!("/api/v1/reports/load/{chart}"), since);
        let body = api.call(Method::GET, &path, None).await?;
        let text = body.as_str().context("the server did not answer an SVG")?;
        let out = dir.join(file);
        std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
