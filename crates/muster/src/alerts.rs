//! `muster alert …`: list, show, acknowledge and resolve alerts on a running server.

use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Api, Connection, s};
use crate::table;

#[derive(Subcommand, Debug)]
pub enum AlertCmd {
    /// Alerts, newest first.
    List {
        /// firing, acknowledged or resolved.
        #[arg(long)]
        status: Option<String>,
        /// Integration id.
        #[arg(long)]
        integration: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// One alert.
    Show { id: i64 },
    /// Acknowledge an alert (and its incident).
    Ack { id: i64 },
    /// Resolve an alert (its incident too when it was the last open one and the integration
    /// auto-resolves).
    Resolve { id: i64 },
}

fn rows(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|a| {
            vec![
                s(a, "id"),
                s(a, "status"),
                s(a, "severity"),
                s(a, "service"),
                s(a, "integration"),
                s(a, "count"),
                s(a, "incident"),
                s(a, "summary"),
            ]
        })
        .collect();
    table::render(
        &[
            "ID",
            "STATUS",
            "SEV",
            "SERVICE",
            "INTEGRATION",
            "COUNT",
            "INCIDENT",
            "SUMMARY",
        ],
        &rows,
    )
}

fn list_path(status: Option<String>, integration: Option<String>, limit: Option<u32>) -> String {
    let mut query: Vec<String> = Vec::new();
    if let Some(v) = status {
        query.push(format!("status={v}"));
    }
    if let Some(v) = integration {
        query.push(format!("integration={v}"));
    }
    if let Some(v) = limit {
        query.push(format!("limit={v}"));
    }
    if query.is_empty() {
        "/api/v1/alerts".into()
    } else {
        format!("/api/v1/alerts?{}", query.join("&"))
    }
}

pub async fn run(conn: Connection, cmd: AlertCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let (result, as_list) = match cmd {
        AlertCmd::List {
            status,
            integration,
            limit,
        } => {
            let path = list_path(status, integration, limit);
            (api.call(Method::GET, &path, None).await?, true)
        }
        AlertCmd::Show { id } => {
            let path = format!("/api/v1/alerts/{id}");
            (api.call(Method::GET, &path, None).await?, false)
        }
        AlertCmd::Ack { id } => {
            let path = format!("/api/v1/alerts/{id}/ack");
            (api.call(Method::POST, &path, None).await?, false)
        }
        AlertCmd::Resolve { id } => {
            let path = format!("/api/v1/alerts/{id}/resolve");
            (api.call(Method::POST, &path, None).await?, false)
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
