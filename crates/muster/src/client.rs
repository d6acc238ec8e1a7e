//! `muster incident …`: a thin client of the HTTP API.

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::table;

#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Server base URL.
    #[arg(
        long,
        env = "MUSTER_SERVER",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// API token (prefer the MUSTER_TOKEN environment variable).
    #[arg(long, env = "MUSTER_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// Print the server's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum IncidentCmd {
    /// Declare a new incident.
    Declare {
        #[arg(long)]
        title: String,
        /// SEV1 … SEV4.
        #[arg(long)]
        severity: String,
        /// Affected service (repeat for several).
        #[arg(long = "service")]
        services: Vec<String>,
        /// Kind of incident (e.g. security, data-exposure) for policies and playbooks.
        #[arg(long = "type")]
        incident_type: Option<String>,
    },
    /// List incidents, newest first.
    List {
        /// Comma-separated statuses.
        #[arg(long)]
        status: Option<String>,
        /// Comma-separated severities.
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        service: Option<String>,
        /// Only unresolved incidents.
        #[arg(long)]
        open: bool,
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show one incident with its timeline.
    Show { id: String },
    /// Acknowledge an incident.
    Ack { id: String },
    /// Acknowledge a notification you received (KEY as on the timeline's notification_queued,
    /// e.g. sev1-tell-legal:event:1:0); admins may name the --person who did.
    AckNotification {
        id: String,
        key: String,
        #[arg(long)]
        person: Option<String>,
    },
    /// Mark a milestone, e.g. blast_radius_validated.
    Milestone { id: String, milestone: String },
    /// Assign a role to a person (or release it with --release).
    Role {
        id: String,
        role: String,
        person: Option<String>,
        #[arg(long, conflicts_with = "person")]
        release: bool,
    },
    /// Change status, severity or title.
    Update {
        id: String,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        severity: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// Add a task.
    Task {
        id: String,
        title: String,
        #[arg(long)]
        assignee: Option<String>,
    },
    /// Add a note to the timeline.
    Note { id: String, text: String },
    /// PERSON starts working the incident.
    Join { id: String, person: String },
    /// PERSON stops working the incident.
    Leave { id: String, person: String },
    /// Resolve an incident.
    Resolve { id: String },
    /// Reopen a resolved incident.
    Reopen {
        id: String,
        #[arg(long, default_value = "investigating")]
        status: String,
    },
    /// Brief me: what happened since --since (RFC 3339), or since you last asked; 12 lines.
    Brief {
        id: String,
        #[arg(long)]
        since: Option<String>,
    },
    /// Draft a status update: CAN form, or plain words with --audience customer.
    Draft {
        id: String,
        #[arg(long, default_value = "internal")]
        audience: String,
    },
    /// The post-incident review draft (Markdown).
    Review { id: String },
    /// Hand-off summary for a role (default: the role that changed hands last).
    Handoff {
        id: String,
        #[arg(long)]
        role: Option<String>,
    },
    /// Executive summary: impact, severity, duration, status, next update.
    Exec { id: String },
}

pub(crate) struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    pub(crate) fn new(conn: &Connection) -> anyhow::Result<Api> {
        let token = conn
            .token
            .clone()
            .ok_or_else(|| anyhow!("no API token: set MUSTER_TOKEN (see `muster token create`)"))?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Api {
            http,
            base: conn.server.trim_end_matches('/').to_string(),
            token,
        })
    }

    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .pointer("/error/message")
            .and_then(Value::as_str)
            .map_or_else(|| value.to_string(), str::to_string);
        if status == StatusCode::UNAUTHORIZED {
            bail!("{message} (check MUSTER_TOKEN)");
        }
        bail!("{message} ({status})")
    }
}

pub(crate) fn s(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn incident_rows(list: &[Value]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|i| {
            let services = i["services"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                s(i, "id"),
                s(i, "severity"),
                s(i, "status"),
                s(i, "declared_at"),
                services,
                s(i, "title"),
            ]
        })
        .collect();
    table::render(
        &["ID", "SEV", "STATUS", "DECLARED", "SERVICES", "TITLE"],
        &rows,
    )
}

fn describe(i: &Value, timeline: &[Value], clock: &Value) -> String {
    let mut out = format!(
        "{}  {}  {}\n{}\ndeclared {} by {}\n",
        s(i, "id"),
        s(i, "severity"),
        s(i, "status"),
        s(i, "title"),
        s(i, "declared_at"),
        s(i, "declared_by")
    );
    if let Some(services) = i["services"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<&str> = services.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!("services: {}\n", names.join(", ")));
    }
    if let Some(roles) = i["roles"].as_object().filter(|r| !r.is_empty()) {
        out.push_str("\nROLES\n");
        for (role, h) in roles {
            out.push_str(&format!("  {role}: {}\n", s(h, "person")));
        }
    }
    if let Some(tasks) = i["tasks"].as_array().filter(|t| !t.is_empty()) {
        out.push_str("\nTASKS\n");
        for t in tasks {
            let mark = if t["done"] == json!(true) { "x" } else { " " };
            out.push_str(&format!("  [{mark}] {}. {}\n", s(t, "id"), s(t, "title")));
        }
    }
    out.push_str(&clock_section(clock));
    out.push_str("\nTIMELINE\n");
    let rows: Vec<Vec<String>> = timeline
        .iter()
        .map(|e| {
            vec![
                s(e, "seq"),
                s(e, "at"),
                s(e, "actor"),
                s(e, "kind"),
                summary(e),
            ]
        })
        .collect();
    out.push_str(&table::render(
        &["SEQ", "AT", "ACTOR", "KIND", "WHAT"],
        &rows,
    ));
    out
}

/// One timeline event in plain words; unknown kinds fall back to their JSON data.
fn summary(e: &Value) -> String {
    let d = &e["data"];
    match e["kind"].as_str().unwrap_or("") {
        "declared" => format!(
            "{} \"{}\" ({})",
            s(d, "severity"),
            s(d, "title"),
            join(&d["services"])
        ),
        "status_changed" | "severity_changed" | "title_changed" => {
            format!("{} -> {}", s(d, "from"), s(d, "to"))
        }
        "reopened" => format!("reopened as {}", s(d, "to")),
        "milestone_reached" => s(d, "milestone"),
        "role_assigned" => match d.get("previous").and_then(Value::as_str) {
            Some(prev) => format!("{}: {} (was {prev})", s(d, "role"), s(d, "person")),
            None => format!("{}: {}", s(d, "role"), s(d, "person")),
        },
        "role_released" => format!("{} released by {}", s(d, "role"), s(d, "person")),
        "task_added" => format!("#{} {}", s(d, "task_id"), s(d, "title")),
        "task_completed" | "task_reopened" => format!("#{}", s(d, "task_id")),
        "services_changed" => format!("+[{}] -[{}]", join(&d["added"]), join(&d["removed"])),
        "note_added" => s(d, "text"),
        "responder_joined" => format!("{} joined", s(d, "person")),
        "responder_left" => format!("{} left", s(d, "person")),
        "nudge_acknowledged" => format!("nudge {} acknowledged", s(d, "key")),
        "notification_acknowledged" => format!(
            "{} acknowledged notification {} to {} after {}",
            s(d, "by"),
            s(d, "key"),
            s(d, "audience"),
            muster_core::words::duration_secs(d["delay_secs"].as_i64().unwrap_or_default())
        ),
        "policy_fired" => policy_fired(d),
        "deadline_outcome" => deadline_outcome(d),
        "policy_cancelled" => format!("{} cancelled: {}", s(d, "policy"), s(d, "reason")),
        "policy_error" => format!("{} error: {}", s(d, "policy"), s(d, "message")),
        "escalation_step" => format!(
            "{} step {} (pass {}) paged {}: {}{}",
            s(d, "escalation_policy"),
            d["step"].as_u64().unwrap_or(0) + 1,
            d["pass"].as_u64().unwrap_or(0) + 1,
            or_nobody(join(&d["paged"])),
            s(d, "reason"),
            late(d)
        ),
        "notification_queued" => format!("notifying {}", or_nobody(join(&d["to"]))),
        "notification_sent" => format!(
            "sent to {} by {} in {} ms",
            s(d, "to"),
            s(d, "channel"),
            d["latency_ms"].as_i64().unwrap_or(0)
        ),
        "notification_failed" => notification_failed(d),
        "escalation_stopped" => {
            format!("{} stopped: {}", s(d, "escalation_policy"), s(d, "reason"))
        }
        _ => d.to_string(),
    }
}

/// `blast-radius-20m fired: 20 min since declared at 03:12 UTC; … → page
/// platform-secondary (dave), notify comms-leads`.
fn policy_fired(d: &Value) -> String {
    let actions: Vec<String> = d["actions"]
        .as_array()
        .map(|a| a.iter().map(action_words).collect())
        .unwrap_or_default();
    let to = join(&d["recipients"]);
    let to = if to.is_empty() {
        String::new()
    } else {
        format!(" (reaches {to})")
    };
    format!(
        "{} fired: {} → {}{to}{}",
        s(d, "policy"),
        s(d, "reason"),
        or_nobody(actions.join(", ")),
        late(d)
    )
}

/// An engine action (`{"page":{"target":{"schedule":"x"}}}`) in a few words.
fn action_words(a: &Value) -> String {
    let Some((kind, body)) = a.as_object().and_then(|o| o.iter().next()) else {
        return a.to_string();
    };
    let first = |v: &Value| -> String {
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    match kind.as_str() {
        "page" => format!("page {}", first(&body["target"])),
        "notify" => format!("notify {}", s(body, "alias")),
        "nudge" => format!("nudge {}", s(body, "role")),
        "assign_role" => format!("assign {} from {}", s(body, "role"), first(&body["to"])),
        "create_task" => format!("create task \"{}\"", s(body, "title")),
        "draft_status_update" => "draft a status update".into(),
        other => other.replace('_', " "),
    }
}

fn deadline_outcome(d: &Value) -> String {
    let expect = s(d, "expect").replace('_', " ");
    let margin = d["margin_secs"].as_i64().unwrap_or(0);
    let by = d["by"]
        .as_str()
        .map(|b| format!(" by {b}"))
        .unwrap_or_default();
    if d["met"] == json!(true) {
        return format!(
            "{} met: {expect}{by}, {} to spare",
            s(d, "policy"),
            muster_core::words::duration_secs(margin)
        );
    }
    if d["by"].is_string() {
        format!(
            "{} missed: {expect}{by}, {} late",
            s(d, "policy"),
            muster_core::words::duration_secs(-margin)
        )
    } else {
        format!(
            "{} missed: {expect} not reached by {}",
            s(d, "policy"),
            s(d, "due_at")
        )
    }
}

/// ` (late by 42 s)` when the record says the timer fired late.
fn late(d: &Value) -> String {
    d["late_by_ms"]
        .as_i64()
        .map(|ms| {
            format!(
                " (late by {})",
                muster_core::words::duration_secs(ms / 1000)
            )
        })
        .unwrap_or_default()
}

fn or_nobody(list: String) -> String {
    if list.is_empty() {
        "nobody".into()
    } else {
        list
    }
}

/// The CLOCK section: what the policies wait for and how long is left.
fn clock_section(clock: &Value) -> String {
    let timers = clock["timers"].as_array().map_or(&[][..], |v| v);
    let steps = clock["escalations"].as_array().map_or(&[][..], |v| v);
    if timers.is_empty() && steps.is_empty() {
        return String::new();
    }
    let mut rows: Vec<Vec<String>> = timers
        .iter()
        .map(|t| {
            let what = match t["expect"].as_str() {
                Some(e) => format!("{} ({})", s(t, "kind"), e.replace('_', " ")),
                None => s(t, "kind"),
            };
            vec![s(t, "policy"), what, s(t, "due_at"), remaining(t)]
        })
        .collect();
    rows.extend(steps.iter().map(|e| {
        vec![
            s(e, "escalation_policy"),
            format!(
                "escalation step {} → {}",
                e["step"].as_u64().unwrap_or(0) + 1,
                join(&e["targets"])
            ),
            s(e, "due_at"),
            remaining(e),
        ]
    }));
    format!(
        "\nCLOCK\n{}",
        table::render(&["POLICY", "WAITING FOR", "DUE", "REMAINING"], &rows)
    )
}

fn remaining(v: &Value) -> String {
    match v["seconds_remaining"].as_i64() {
        Some(n) if n < 0 => format!("overdue {}", muster_core::words::duration_secs(n)),
        Some(n) => muster_core::words::duration_secs(n),
        None => String::new(),
    }
}

fn join(list: &Value) -> String {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn path(id: &str, rest: &str) -> String {
    format!("/api/v1/incidents/{}{rest}", id.trim())
}

pub async fn incident(conn: Connection, cmd: IncidentCmd) -> anyhow::Result<()> {
    let api = Api::new(&conn)?;
    let (incident, id) = match cmd {
        IncidentCmd::List {
            status,
            severity,
            service,
            open,
            limit,
        } => {
            let mut q: Vec<(&str, String)> = Vec::new();
            let optional = [
                ("status", status),
                ("severity", severity),
                ("service", service),
                ("limit", limit.map(|n| n.to_string())),
            ];
            for (key, value) in optional {
                if let Some(v) = value {
                    q.push((key, v));
                }
            }
            if open {
                q.push(("open", "true".into()));
            }
            let query = q
                .iter()
                .map(|(k, v)| format!("{k}={}", urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            let list = api
                .call(Method::GET, &format!("/api/v1/incidents?{query}"), None)
                .await?;
            if conn.json {
                println!("{list}");
            } else {
                print!("{}", incident_rows(list.as_array().map_or(&[], |v| v)));
            }
            return Ok(());
        }
        IncidentCmd::Show { id } => {
            let inc = api.call(Method::GET, &path(&id, ""), None).await?;
            (inc, id)
        }
        IncidentCmd::Declare {
            title,
            severity,
            services,
            incident_type,
        } => {
            let body = json!({
                "title": title, "severity": severity.to_uppercase(), "services": services,
                "incident_type": incident_type,
            });
            let inc = api
                .call(Method::POST, "/api/v1/incidents", Some(body))
                .await?;
            let id = s(&inc, "id");
            (inc, id)
        }
        IncidentCmd::Ack { id } => {
            let body = json!({ "milestone": "acknowledged" });
            (
                api.call(Method::POST, &path(&id, "/milestones"), Some(body))
                    .await?,
                id,
            )
        }
        IncidentCmd::AckNotification { id, key, person } => {
            let body = json!({ "person": person });
            let rest = format!("/notifications/{}/ack", urlencode(&key));
            let ack = api
                .call(Method::POST, &path(&id, &rest), Some(body))
                .await?;
            if conn.json {
                println!("{ack}");
            } else {
                println!("{}", acknowledged(&ack));
            }
            return Ok(());
        }
        IncidentCmd::Milestone { id, milestone } => {
            let body = json!({ "milestone": milestone });
            (
                api.call(Method::POST, &path(&id, "/milestones"), Some(body))
                    .await?,
                id,
            )
        }
        IncidentCmd::Role {
            id,
            role,
            person,
            release,
        } => {
            let inc = if release {
                api.call(Method::DELETE, &path(&id, &format!("/roles/{role}")), None)
                    .await?
            } else {
                let person = person.ok_or_else(|| anyhow!("name a PERSON, or pass --release"))?;
                let body = json!({ "role": role, "person": person });
                api.call(Method::POST, &path(&id, "/roles"), Some(body))
                    .await?
            };
            (inc, id)
        }
        IncidentCmd::Update {
            id,
            status,
            severity,
            title,
        } => {
            let mut body = serde_json::Map::new();
            let fields = [
                ("status", status),
                ("severity", severity.map(|v| v.to_uppercase())),
                ("title", title),
            ];
            for (key, value) in fields {
                if let Some(v) = value {
                    body.insert(key.into(), json!(v));
                }
            }
            (
                api.call(Method::PATCH, &path(&id, ""), Some(Value::Object(body)))
                    .await?,
                id,
            )
        }
        IncidentCmd::Task {
            id,
            title,
            assignee,
        } => {
            let body = json!({ "title": title, "assignee": assignee });
            (
                api.call(Method::POST, &path(&id, "/tasks"), Some(body))
                    .await?,
                id,
            )
        }
        IncidentCmd::Join { id, person } => {
            let body = json!({ "person": person });
            let inc = api
                .call(Method::POST, &path(&id, "/responders"), Some(body))
                .await?;
            (inc, id)
        }
        IncidentCmd::Leave { id, person } => {
            let rest = format!("/responders/{person}");
            (api.call(Method::DELETE, &path(&id, &rest), None).await?, id)
        }
        IncidentCmd::Note { id, text } => {
            let body = json!({ "text": text });
            (
                api.call(Method::POST, &path(&id, "/notes"), Some(body))
                    .await?,
                id,
            )
        }
        IncidentCmd::Resolve { id } => {
            let body = json!({ "status": "resolved" });
            (
                api.call(Method::PATCH, &path(&id, ""), Some(body)).await?,
                id,
            )
        }
        IncidentCmd::Reopen { id, status } => {
            let body = json!({ "status": status });
            (
                api.call(Method::PATCH, &path(&id, ""), Some(body)).await?,
                id,
            )
        }
        briefing @ (IncidentCmd::Brief { .. }
        | IncidentCmd::Draft { .. }
        | IncidentCmd::Review { .. }
        | IncidentCmd::Handoff { .. }
        | IncidentCmd::Exec { .. }) => {
            return crate::briefing::run(&api, conn.json, &briefing).await;
        }
    };
    if conn.json {
        println!("{incident}");
        return Ok(());
    }
    let timeline = api.call(Method::GET, &path(&id, "/timeline"), None).await?;
    // A server without the clock endpoint still shows the rest.
    let clock = api
        .call(Method::GET, &path(&id, "/clock"), None)
        .await
        .unwrap_or(Value::Null);
    print!(
        "{}",
        describe(&incident, timeline.as_array().map_or(&[], |v| v), &clock)
    );
    Ok(())
}

/// Percent-encodes a query value (the few characters our values can contain).
pub(crate) fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `ken acknowledged sev1-tell-legal:event:1:0 (alias:legal) after 10 min`, or that it had been.
fn acknowledged(a: &Value) -> String {
    let delay = muster_core::words::duration_secs(a["delay_secs"].as_i64().unwrap_or_default());
    let what = format!("{} ({}) after {delay}", s(a, "key"), s(a, "audience"));
    if a["recorded"] == Value::Bool(false) {
        format!("already acknowledged: {} acknowledged {what}", s(a, "by"))
    } else {
        format!("{} acknowledged {what}", s(a, "by"))
    }
}

fn notification_failed(d: &Value) -> String {
    let head = format!(
        "{} to {} failed: {}",
        s(d, "channel"),
        s(d, "to"),
        s(d, "error")
    );
    match (d["fallback"].as_str(), d["retry_in_ms"].as_i64()) {
        (Some(f), _) => format!("{head}; fell back to {f}"),
        (None, Some(ms)) => format!("{head}; retrying in {} s", ms / 1000),
        (None, None) => format!("{head}; gave up"),
    }
}
