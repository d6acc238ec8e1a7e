//! `muster template render DIR NAME --incident FILE`: previews a message template with the
//! variables a real notification would see, without a server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use muster_core::Clock;

#[derive(Subcommand, Debug)]
pub enum TemplateCmd {
    /// Render one template of a config directory for an incident.
    Render {
        /// The configuration directory.
        dir: PathBuf,
        /// The template name (its file name up to the first dot).
        name: String,
        /// The incident as JSON, in the API's form (`muster incident show ID --json`).
        #[arg(long)]
        incident: PathBuf,
        /// Render as of this time (RFC 3339) instead of now; sets `incident.elapsed`.
        #[arg(long)]
        at: Option<jiff::Timestamp>,
        /// Where `incident.url` points.
        #[arg(
            long,
            env = "MUSTER_PUBLIC_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        base_url: String,
    },
}

pub fn run(command: TemplateCmd) -> ExitCode {
    match command {
        TemplateCmd::Render {
            dir,
            name,
            incident,
            at,
            base_url,
        } => {
            let now = at.unwrap_or_else(|| muster_server::SystemClock.now());
            match render(&dir, &name, &incident, now, &base_url) {
                Ok(text) => {
                    println!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn render(
    dir: &Path,
    name: &str,
    incident: &Path,
    now: jiff::Timestamp,
    base_url: &str,
) -> Result<String, String> {
    let config = muster_config::load(dir).map_err(|diags| {
        let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
        format!("the configuration has errors:\n{}", lines.join("\n"))
    })?;
    let text = std::fs::read_to_string(incident)
        .map_err(|e| format!("cannot read {}: {e}", incident.display()))?;
    let view: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not JSON: {e}", incident.display()))?;
    let ctx = muster_config::templates::context(&view, now, base_url);
    muster_config::templates::render(&config.templates, name, &ctx)
}
