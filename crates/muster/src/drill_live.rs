//! `muster drill start|status|inject|skip|pause|resume|step|end|report` against a server
//! (`/api/v1/drills`). A drill is named by its incident's id (`INC-7`).

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Api, Connection, s};
use crate::table;

#[derive(Subcommand, Debug)]
pub enum LiveCmd {
    /// Start a scenario's drill on the server: its incident is an exercise, on its own clock.
    Start {
        /// The scenario id (`muster drill list DIR`).
        id: String,
        /// Drill seconds per real second (default 1; 60 = an hour a minute).
        #[arg(long, conflicts_with = "step")]
        speed: Option<f64>,
        /// Move only when the facilitator steps it (`muster drill step`).
        #[arg(long)]
        step: bool,
        /// Who plays a role or persona (`ROLE=PERSON`), over the scenario's `players`.
        #[arg(long = "participant", value_name = "ROLE=PERSON")]
        participants: Vec<String>,
    },
    /// The drills on the server, or one of them.
    Status {
        drill: Option<String>,
    },
    /// Play the next pending inject now (or `--index N`).
    Inject {
        drill: String,
        #[arg(long)]
        index: Option<usize>,
    },
    /// Leave inject N out.
    Skip {
        drill: String,
        index: usize,
    },
    Pause {
        drill: String,
    },
    /// Run again (at `--speed`, or the drill's own).
    Resume {
        drill: String,
        #[arg(long)]
        speed: Option<f64>,
    },
    /// Move a stepped or paused drill on by a duration (`10m`, `1h30m`).
    Step {
        drill: String,
        by: String,
    },
    End {
        drill: String,
    },
    /// The after-action report: Markdown, or `--json`, or `--svg` (the timeline chart).
    Report {
        drill: String,
        #[arg(long)]
        svg: bool,
    },
}

fn participants(pairs: &[String]) -> anyhow::Result<Value> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let Some((role, person)) = pair.split_once('=') else {
            anyhow::bail!("--participant `{pair}`: expected ROLE=PERSON");
        };
        map.insert(role.to_string(), json!(person));
    }
    Ok(Value::Object(map))
}

fn rows(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let pending = d["injects"]
                .as_array()
                .map_or(0, |a| a.iter().filter(|i| i["status"] == "pending").count());
            vec![
                s(d, "id"),
                s(d, "scenario"),
                s(d, "state"),
                d["speed"]
                    .as_f64()
                    .map_or("step".into(), |x| format!("×{x}")),
                muster_core::words::duration_secs(d["elapsed_s"].as_i64().unwrap_or(0)),
                pending.to_string(),
                s(d, "facilitator"),
            ]
        })
        .collect();
    table::render(
        &[
            "DRILL",
            "SCENARIO",
            "STATE",
            "SPEED",
            "ELAPSED",
            "PENDING",
            "FACILITATOR",
        ],
        &rows,
    )
}

pub async fn run(conn: Connection, cmd: LiveCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let command = |drill: &str, verb: &str, body: Value| {
        let path = format!("/api/v1/drills/{drill}/{verb}");
        (Method::POST, path, Some(body))
    };
    let (method, path, body) = match &cmd {
        LiveCmd::Start {
            id,
            speed,
            step,
            participants: p,
        } => (
            Method::POST,
            "/api/v1/drills".to_string(),
            Some(
                json!({ "scenario": id, "speed": speed, "step": step, "participants": participants(p)? }),
            ),
        ),
        LiveCmd::Status { drill: None } => (Method::GET, "/api/v1/drills".into(), None),
        LiveCmd::Status { drill: Some(d) } => (Method::GET, format!("/api/v1/drills/{d}"), None),
        LiveCmd::Inject { drill, index } => command(drill, "inject", json!({ "index": index })),
        LiveCmd::Skip { drill, index } => command(drill, "skip", json!({ "index": index })),
        LiveCmd::Pause { drill } => command(drill, "pause", json!({})),
        LiveCmd::Resume { drill, speed } => command(drill, "resume", json!({ "speed": speed })),
        LiveCmd::Step { drill, by } => command(drill, "step", json!({ "by": by })),
        LiveCmd::End { drill } => command(drill, "end", json!({})),
        LiveCmd::Report { drill, svg } => {
            let format = match (svg, conn.json) {
                (true, _) => "svg",
                (false, true) => "json",
                (false, false) => "markdown",
            };
            (
                Method::GET,
                format!("/api/v1/drills/{drill}/report?format={format}"),
                None,
            )
        }
    };
    let result = api.call(method, &path, body).await?;
    match (&cmd, &result) {
        (LiveCmd::Report { .. }, Value::String(text)) => print!("{text}"),
        _ if conn.json => println!("{result}"),
        (_, Value::Array(list)) => print!("{}", rows(list)),
        _ => print!("{}", rows(std::slice::from_ref(&result))),
    }
    Ok(())
}
