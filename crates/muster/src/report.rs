//! `muster report policies [--since T]`: which policies are hard to follow in time, across
//! real incidents and drills (`GET /api/v1/reports/policies`).

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Connection, urlencode};
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

pub async fn run(conn: Connection, cmd: ReportCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let ReportCmd::Policies { since } = cmd;
    let path = match since {
        Some(s) => format!("/api/v1/reports/policies?since={}", urlencode(&s)),
        None => "/api/v1/reports/policies".into(),
    };
    let report = api.call(Method::GET, &path, None).await?;
    if conn.json {
        println!("{report}");
    } else {
        print!("{}", render(&report));
    }
    Ok(())
}
