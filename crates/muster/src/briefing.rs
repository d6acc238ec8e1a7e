//! `muster incident brief|draft|review|handoff|exec`: briefings from a running server, printed
//! as Markdown (or the server's JSON with `--json`).

use reqwest::Method;

use crate::client::{Api, IncidentCmd, urlencode};

/// The API path of a briefing command, `None` for other incident commands.
fn path(cmd: &IncidentCmd) -> Option<String> {
    let q = |v: &str| urlencode(v);
    Some(match cmd {
        // Without --since: since this token last asked (the server records each brief).
        IncidentCmd::Brief { id, since: None } => {
            format!("/api/v1/incidents/{}/brief?reader=me", q(id))
        }
        IncidentCmd::Brief { id, since: Some(t) } => {
            format!("/api/v1/incidents/{}/brief?since={}", q(id), q(t))
        }
        IncidentCmd::Draft { id, audience } => format!(
            "/api/v1/incidents/{}/status-update-draft?audience={}",
            q(id),
            q(audience)
        ),
        IncidentCmd::Review { id } => format!("/api/v1/incidents/{}/review-draft", q(id)),
        IncidentCmd::Handoff { id, role: None } => format!("/api/v1/incidents/{}/handoff", q(id)),
        IncidentCmd::Handoff { id, role: Some(r) } => {
            format!("/api/v1/incidents/{}/handoff?role={}", q(id), q(r))
        }
        IncidentCmd::Exec { id } => format!("/api/v1/incidents/{}/exec-summary", q(id)),
        _ => return None,
    })
}

/// Fetches and prints one briefing.
pub(crate) async fn run(api: &Api, json: bool, cmd: &IncidentCmd) -> anyhow::Result<()> {
    let path = path(cmd).ok_or_else(|| anyhow::anyhow!("not a briefing command"))?;
    let v = api.call(Method::GET, &path, None).await?;
    if json {
        println!("{v}");
        return Ok(());
    }
    print!("{}", v["markdown"].as_str().unwrap_or_default());
    if v["generated_by"] == "language_model" {
        eprintln!(
            "(rewritten by the language model {})",
            v["model"].as_str().unwrap_or("?")
        );
    }
    Ok(())
}
