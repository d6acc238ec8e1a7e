//! `muster token create|list|revoke`: API tokens, written straight to the database (no server
//! needed). Secrets are printed once, at creation; the database keeps their SHA-256 only.

use anyhow::{Context, bail};
use clap::Subcommand;
use muster_core::{Access, Clock};
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
            let store = open(&db).await?;
            let token = store
                .create_token_expiring(name, role, now, expires_at)
                .await
                .context("cannot create the token")?;
            let until = expires_at.map_or(String::new(), |t| format!(", valid until {t}"));
            eprintln!("Created {role} token `{name}`{until}. It is shown once; keep it safe:");
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
                    vec![
                        t.name.clone(),
                        t.access.to_string(),
                        t.created_at.to_string(),
                        expires,
                    ]
                })
                .collect();
            print!(
                "{}",
                crate::table::render(&["NAME", "ROLE", "CREATED", "EXPIRES"], &rows)
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
