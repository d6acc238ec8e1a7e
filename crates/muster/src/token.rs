//! `muster token create|list|revoke`: API tokens, written straight to the database (no server
//! needed). Secrets are printed once, at creation; the database keeps their SHA-256 only.

use anyhow::{Context, bail};
use clap::Subcommand;
use muster_core::{Access, Clock, Scope};
use muster_server::SystemClock;
use muster_store::Store;

use crate::DEFAULT_DB;

#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Create an API token; prints it once, on the last line.
    Create {
        #[arg(long)]
        name: String,
        /// admin, responder, viewer, or feed (calendar feeds `/ical/…?token=` only: the one
        /// kind of token that may sit in a calendar URL).
        #[arg(long)]
        role: Access,
        /// Stops authenticating after this long: 30d, 12h, 1w2d (default: never).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<muster_config::Duration>,
        /// Limit the token to a team (repeat for several): it then writes only incidents,
        /// alerts, silences and schedule overrides its teams own (default: every team).
        #[arg(long = "team", value_name = "TEAM")]
        teams: Vec<String>,
        /// The configuration directory the team ids are checked against.
        #[arg(long, env = "MUSTER_CONFIG", default_value = "config")]
        config: std::path::PathBuf,
        #[arg(long, env = "MUSTER_DB", default_value = DEFAULT_DB)]
        db: String,
    },
    /// List the tokens that are not revoked: name, role, created, expires (never a secret).
    List {
        /// One JSON object per token, for scripts.
        #[arg(long)]
        json: bool,
        #[arg(long, env = "MUSTER_DB", default_value = DEFAULT_DB)]
        db: String,
    },
    /// Revoke a token by name: every node refuses it from its next request.
    Revoke {
        name: String,
        #[arg(long, env = "MUSTER_DB", default_value = DEFAULT_DB)]
        db: String,
    },
}

/// The scope of `--team` ids, each checked against the configuration's teams.
fn scope(teams: &[String], config: &std::path::Path) -> anyhow::Result<Scope> {
    if teams.is_empty() {
        return Ok(Scope::All);
    }
    let cfg = muster_config::load(config).map_err(|diags| {
        anyhow::anyhow!(
            "--team is checked against the configuration in {}, which does not load:\n{}",
            config.display(),
            diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    for team in teams {
        if !cfg.teams.contains_key(team.as_str()) {
            let known: Vec<&str> = cfg.teams.keys().map(String::as_str).collect();
            bail!(
                "--team: unknown team `{team}` in {}; teams: {}",
                config.display(),
                known.join(", ")
            );
        }
    }
    Ok(Scope::teams(teams.iter().cloned()))
}

async fn open(db: &str) -> anyhow::Result<Store> {
    Store::connect(db).await.context("cannot open the database")
}

pub async fn token(cmd: TokenCmd) -> anyhow::Result<()> {
    let now = SystemClock.now();
    match cmd {
        TokenCmd::Create {
            name,
            role,
            expires_in,
            teams,
            config,
            db,
        } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            if expires_in.is_some_and(muster_config::Duration::is_zero) {
                bail!("--expires-in must be longer than 0");
            }
            let expires_at = expires_in.map(|d| now + d.to_signed());
            let scope = scope(&teams, &config)?;
            let store = open(&db).await?;
            let token = store
                .create_scoped_token(name, role, now, expires_at, &scope)
                .await
                .context("cannot create the token")?;
            let until = expires_at.map_or(String::new(), |t| format!(", valid until {t}"));
            let limited = match &scope {
                Scope::All => String::new(),
                limited => format!(" limited to {limited}"),
            };
            eprintln!(
                "Created {role} token `{name}`{limited}{until}. It is shown once; keep it safe:"
            );
            println!("{token}");
            Ok(())
        }
        TokenCmd::List { json, db } => {
            let tokens = open(&db).await?.list_tokens().await?;
            if json {
                for t in &tokens {
                    let line = serde_json::json!({
                        "name": t.name,
                        "role": t.access.as_str(),
                        "created_at": t.created_at.to_string(),
                        "expires_at": t.expires_at.map(|e| e.to_string()),
                        "teams": t.scope.team_list(),
                        "expired": t.expires_at.is_some_and(|e| e <= now),
                    });
                    println!("{line}");
                }
                return Ok(());
            }
            let rows: Vec<Vec<String>> = tokens
                .iter()
                .map(|t| {
                    let expires = match t.expires_at {
                        None => "never".to_string(),
                        Some(e) if e <= now => format!("{e} (expired)"),
                        Some(e) => e.to_string(),
                    };
                    let teams = t
                        .scope
                        .team_list()
                        .map_or_else(|| "all".to_string(), |t| t.join(","));
                    vec![
                        t.name.clone(),
                        t.access.to_string(),
                        teams,
                        t.created_at.to_string(),
                        expires,
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::table::render(&["NAME", "ROLE", "TEAMS", "CREATED", "EXPIRES"], &rows)
            );
            Ok(())
        }
        TokenCmd::Revoke { name, db } => {
            if open(&db).await?.revoke_token(name.trim(), now).await? {
                println!("Revoked token `{}`.", name.trim());
                Ok(())
            } else {
                bail!(
                    "no token named `{}` (or it is already revoked)",
                    name.trim()
                )
            }
        }
    }
}
