//! `muster override …`: run-time schedule overrides on a running server (audited there).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, Connection, s};
use crate::table;

#[derive(Subcommand, Debug)]
pub enum OverrideCmd {
    /// Put PERSON on call for SCHEDULE from FROM to TO (RFC 3339).
    Add {
        schedule: String,
        #[arg(long)]
        person: String,
        /// Only while this person would be on call (default: whoever is).
        #[arg(long)]
        replaces: Option<String>,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Why; kept in the audit trail.
        #[arg(long)]
        reason: String,
    },
    /// List the configured and run-time overrides of SCHEDULE.
    List { schedule: String },
    /// Remove run-time override ID from SCHEDULE.
    Remove { schedule: String, id: String },
}

fn rows(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|o| {
            vec![
                s(o, "id"),
                s(o, "person"),
                s(o, "replaces"),
                s(o, "from"),
                s(o, "to"),
                s(o, "origin"),
                s(o, "created_by"),
                s(o, "reason"),
            ]
        })
        .collect();
    table::render(
        &[
            "ID", "PERSON", "REPLACES", "FROM", "TO", "ORIGIN", "BY", "REASON",
        ],
        &rows,
    )
}

pub async fn run(conn: Connection, cmd: OverrideCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let (result, as_list) = match cmd {
        OverrideCmd::Add {
            schedule,
            person,
            replaces,
            from,
            to,
            reason,
        } => {
            let body = json!({ "person": person, "replaces": replaces, "from": from, "to": to, "reason": reason });
            let path = format!("/api/v1/schedules/{schedule}/overrides");
            (api.call(Method::POST, &path, Some(body)).await?, false)
        }
        OverrideCmd::List { schedule } => {
            let path = format!("/api/v1/schedules/{schedule}/overrides");
            (api.call(Method::GET, &path, None).await?, true)
        }
        OverrideCmd::Remove { schedule, id } => {
            let path = format!("/api/v1/schedules/{schedule}/overrides/{id}");
            (api.call(Method::DELETE, &path, None).await?, false)
        }
    };
    if conn.json {
        println!("{result}");
    } else if as_list {
        print!("{}", rows(result.as_array().map_or(&[], |v| v)));
    } else {
        print!("{}", rows(std::slice::from_ref(&result)));
    }
    Ok(())
}
