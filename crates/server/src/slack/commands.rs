//! `POST /slack/commands`: the slash command (`/muster` unless configured otherwise).
//!
//! Refusals that need no work — a stranger, a usage error, a command that needs an incident
//! run outside an incident's channel — are answered at once, ephemeral, and change nothing.
//! Everything else is acknowledged within three seconds and its result posted to the
//! command's `response_url` through the outbox.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use muster_core::{Command, IncidentNumber, Severity, Status};
use serde_json::{Value, json};

use super::refusal;
use super::text::{escape, unescape};
use super::{clock_header, ephemeral, form, incident_of_channel, person_of, respond_later};
use crate::AppState;
use crate::effect::{Effect, Message, Origin};
use crate::reactions::{self, commit::Declaration};
use muster_core::engine::{Action, PageTarget};

/// What the command's text asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum SlashCommand {
    /// Without a title, opens the declare modal.
    Declare {
        severity: Option<Severity>,
        title: String,
    },
    Ack,
    Severity(Severity),
    Role {
        role: String,
        /// `<@U123|name>`, `@person` or `person`.
        who: String,
    },
    Milestone(String),
    Status(Status),
    Update(String),
    Brief,
    Resolve,
    Oncall(String),
    Page {
        target: String,
        message: Option<String>,
    },
    /// `drill start <scenario> [xN|step] [role=person …]`: a live drill, its participants told
    /// through the inbox.
    DrillStart {
        scenario: String,
        speed: Option<f64>,
        step: bool,
        participants: Vec<(String, String)>,
    },
    Help,
}

impl SlashCommand {
    /// Whether it acts on the incident of the channel it is run in.
    pub fn needs_incident(&self) -> bool {
        !matches!(
            self,
            SlashCommand::Declare { .. }
                | SlashCommand::Oncall(_)
                | SlashCommand::Page { .. }
                | SlashCommand::DrillStart { .. }
                | SlashCommand::Help
        )
    }
}

/// The usage text (`command` is the configured slash command).
pub fn usage(command: &str) -> String {
    [
        format!("Usage: {command} <subcommand>"),
        format!("{command} declare [sev1-4] <title> — declare (services named in the title are affected; no title opens a form)"),
        format!("{command} ack — acknowledge this channel's incident"),
        format!("{command} sev <1-4> — change its severity"),
        format!("{command} role <ic|ops|comms|scribe|role> @user — give someone a role"),
        format!("{command} milestone <name> — e.g. blast_radius_validated"),
        format!("{command} status <triage|investigating|identified|mitigated|resolved>"),
        format!("{command} update <text> — post a status update"),
        format!("{command} brief — where the incident stands"),
        format!("{command} resolve"),
        format!("{command} oncall <schedule> — who is on call"),
        format!("{command} page <schedule|person> [message]"),
        format!("{command} drill start <scenario> [x60|step] [role=person …] — a live drill (nothing leaves it)"),
        format!("{command} help"),
    ]
    .join("\n")
}

fn severity(word: &str) -> Option<Severity> {
    let n = word
        .strip_prefix("sev")
        .or_else(|| word.strip_prefix("SEV"))
        .unwrap_or(word);
    format!("SEV{n}").parse().ok()
}

fn role(word: &str) -> String {
    match word {
        "ic" | "commander" => "incident_commander".into(),
        "ops" => "ops_lead".into(),
        "comms" => "comms_lead".into(),
        other => other.to_string(),
    }
}

/// Parses the command's text; `Err` is what is wrong, for the usage answer.
pub fn parse(text: &str) -> Result<SlashCommand, String> {
    let text = text.trim();
    let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let rest = rest.trim();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let one = |what: &str| match words.as_slice() {
        [w] => Ok(*w),
        _ => Err(format!("`{verb}` takes one {what}")),
    };
    let none = || {
        if words.is_empty() {
            Ok(())
        } else {
            Err(format!("`{verb}` takes no arguments"))
        }
    };
    Ok(match verb.to_ascii_lowercase().as_str() {
        "" | "help" => SlashCommand::Help,
        // Slack sends `& < >` escaped; the title is stored as typed (escaped again on the
        // way out, `slack::text`).
        "declare" => match words.first().and_then(|w| severity(w)) {
            Some(sev) => SlashCommand::Declare {
                severity: Some(sev),
                title: unescape(&words[1..].join(" ")),
            },
            None => SlashCommand::Declare {
                severity: None,
                title: unescape(rest),
            },
        },
        "ack" => none().map(|_| SlashCommand::Ack)?,
        "sev" | "severity" => {
            let w = one("severity (1-4)")?;
            SlashCommand::Severity(
                severity(w).ok_or_else(|| format!("unknown severity `{w}` (1, 2, 3 or 4)"))?,
            )
        }
        "role" => match words.as_slice() {
            [r, who] => SlashCommand::Role {
                role: role(r),
                who: who.to_string(),
            },
            _ => return Err("`role` takes a role and a person: role ic @alice".into()),
        },
        "milestone" => SlashCommand::Milestone(one("milestone")?.to_string()),
        "status" => {
            let w = one("status")?;
            SlashCommand::Status(
                w.parse()
                    .map_err(|e: muster_core::DomainError| e.to_string())?,
            )
        }
        "update" if !rest.is_empty() => SlashCommand::Update(unescape(rest)),
        "update" => return Err("`update` needs the text of the update".into()),
        "brief" => none().map(|_| SlashCommand::Brief)?,
        "resolve" => none().map(|_| SlashCommand::Resolve)?,
        "oncall" => SlashCommand::Oncall(one("schedule")?.to_string()),
        "page" => match words.split_first() {
            Some((target, msg)) => SlashCommand::Page {
                target: target.trim_start_matches('@').to_string(),
                message: (!msg.is_empty()).then(|| unescape(&msg.join(" "))),
            },
            None => return Err("`page` needs a schedule or a person".into()),
        },
        "drill" => drill(&words)?,
        other => return Err(format!("unknown subcommand `{other}`")),
    })
}

/// `drill start <scenario> [xN|step] [role=person …]`.
fn drill(words: &[&str]) -> Result<SlashCommand, String> {
    let ["start", scenario, rest @ ..] = words else {
        return Err("`drill` needs `start <scenario>`".into());
    };
    let (mut speed, mut step, mut participants) = (None, false, Vec::new());
    for w in rest {
        if *w == "step" {
            step = true;
        } else if let Some(n) = w.strip_prefix('x').and_then(|n| n.parse::<f64>().ok()) {
            speed = Some(n);
        } else if let Some((role, who)) = w.split_once('=') {
            participants.push((role.to_string(), who.trim_start_matches('@').to_string()));
        } else {
            return Err(format!("`{w}`: expected x<speed>, step or role=person"));
        }
    }
    Ok(SlashCommand::DrillStart {
        scenario: scenario.to_string(),
        speed,
        step,
        participants,
    })
}

/// `<@U123|alice>` or `<@U123>` → `U123`.
pub fn mentioned_user(who: &str) -> Option<&str> {
    let inner = who.strip_prefix("<@")?.strip_suffix('>')?;
    Some(inner.split('|').next().unwrap_or(inner))
}

/// The request, after verification and the checks that need no work.
struct Invocation {
    person: String,
    command: SlashCommand,
    incident: Option<IncidentNumber>,
    response_url: Option<String>,
    trigger_id: Option<String>,
}

pub async fn slash_command(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = std::time::Instant::now();
    if let Some(refused) = super::refused(&state, &headers, &body).await {
        return refused;
    }
    let fields = form(&body);
    let cfg = state.config();
    let name = cfg
        .config
        .slack
        .as_ref()
        .map(|s| s.command.clone())
        .unwrap_or_else(|| "/muster".into());
    let field = |k: &str| fields.get(k).cloned().filter(|v| !v.is_empty());
    let user = field("user_id").unwrap_or_default();
    let Some(person) = person_of(&state, &user).await else {
        return ephemeral(format!(
            "Muster does not know you (Slack user {user}). Ask an admin to add your Slack id or email to your person in the configuration."
        ));
    };
    let command = match parse(&field("text").unwrap_or_default()) {
        Ok(c) => c,
        Err(problem) => return ephemeral(format!("{problem}.\n{}", usage(&name))),
    };
    let incident = match field("channel_id") {
        Some(c) => match incident_of_channel(&state, &c).await {
            Ok(i) => i,
            Err(e) => return crate::error::ApiError::from(e).into_response(),
        },
        None => None,
    };
    if command.needs_incident() && incident.is_none() {
        return ephemeral(format!(
            "This is not an incident's channel: run `{name} {}` in the channel of the incident (or `{name} declare …` to start one).",
            field("text").unwrap_or_default()
        ));
    }
    if command == SlashCommand::Help {
        return ephemeral(usage(&name));
    }
    let call = Invocation {
        person,
        command,
        incident,
        response_url: field("response_url"),
        trigger_id: field("trigger_id"),
    };
    let worker = state.clone();
    super::within_deadline(arrived, async move { run(&worker, call).await }).await;
    ephemeral("On it…")
}

/// Does the work and answers through `response_url`.
async fn run(state: &AppState, call: Invocation) {
    let (visible, text) = match execute(state, &call).await {
        Ok(Some(done)) => done,
        Ok(None) => return,
        Err(problem) => (false, format!(":warning: {problem}")),
    };
    let kind = if visible { "in_channel" } else { "ephemeral" };
    respond_later(
        state,
        call.incident,
        call.response_url.as_deref(),
        json!({"response_type": kind, "text": text}),
    )
    .await;
}

type Outcome = Result<Option<(bool, String)>, String>;

async fn execute(state: &AppState, call: &Invocation) -> Outcome {
    let me = call.person.as_str();
    let on = |c: Command| act(state, me, call.incident, c);
    match &call.command {
        SlashCommand::Declare { severity, title } if title.is_empty() => {
            open_declare_modal(state, call.trigger_id.as_deref(), *severity).await;
            Ok(None)
        }
        SlashCommand::Declare { severity, title } => declare(state, me, *severity, title).await,
        SlashCommand::Ack => on(Command::Acknowledge).await,
        SlashCommand::Severity(s) => on(update(Some(*s), None)).await,
        SlashCommand::Status(s) => on(update(None, Some(*s))).await,
        SlashCommand::Resolve => on(Command::Resolve).await,
        SlashCommand::Milestone(m) => on(milestone(m)).await,
        SlashCommand::Role { role, who } => {
            let person = person_named(state, who).await?;
            on(Command::AssignRole {
                role: role.clone(),
                person,
            })
            .await
        }
        SlashCommand::Update(text) => post_update(state, me, call.incident, text).await,
        SlashCommand::Brief => brief(state, call.incident).await,
        SlashCommand::Oncall(schedule) => oncall(state, schedule).await,
        SlashCommand::Page { target, message } => {
            page(state, me, call.incident, target, message.as_deref()).await
        }
        SlashCommand::DrillStart {
            scenario,
            speed,
            step,
            participants,
        } => drill_start(state, me, scenario, *speed, *step, participants).await,
        SlashCommand::Help => Ok(None),
    }
}

/// Starts a live drill with the caller as facilitator; Slack people are named by id or mention.
async fn drill_start(
    state: &AppState,
    me: &str,
    scenario: &str,
    speed: Option<f64>,
    step: bool,
    participants: &[(String, String)],
) -> Outcome {
    let mut players = std::collections::BTreeMap::new();
    for (role, who) in participants {
        players.insert(role.clone(), person_named(state, who).await?);
    }
    let pace = match (step, speed) {
        (true, _) => crate::drills::Pace::Stepped,
        (false, s) => match muster_core::drill::check_speed(s.unwrap_or(1.0)) {
            Ok(s) => crate::drills::Pace::Speed(s),
            Err(why) => return Err(why),
        },
    };
    let incident = crate::drills::start(state, scenario, pace, &players, me)
        .await
        .map_err(refusal)?;
    Ok(Some((
        true,
        format!(
            "{me} started drill `{scenario}` as {} (an exercise: its messages reach the participants' inboxes only).",
            incident.id
        ),
    )))
}

fn update(severity: Option<Severity>, status: Option<Status>) -> Command {
    Command::Update {
        title: None,
        severity,
        status,
        services: None,
    }
}

/// `acknowledged` is the acknowledgement (it stops escalations); other names are milestones.
pub fn milestone(name: &str) -> Command {
    match name {
        "acknowledged" => Command::Acknowledge,
        m => Command::ReachMilestone {
            milestone: m.replace('-', "_"),
        },
    }
}

/// Runs a command on the incident and says what happened, for everybody in the channel.
pub(crate) async fn act(
    state: &AppState,
    person: &str,
    incident: Option<IncidentNumber>,
    command: Command,
) -> Outcome {
    let id = incident.ok_or("no incident here")?;
    let what = describe(&command);
    // Slack knows people, not tokens: nobody there is an admin, so `comms_lead` (who approves
    // public updates) is assigned, or claimed, only by the incident commander.
    let assigned = match &command {
        Command::AssignRole { role, .. } => Some(role.clone()),
        _ => None,
    };
    let cfg = state.config();
    reactions::apply_guarded(state, person, id, command, |inc| {
        super::may_change(&cfg, person, inc)?;
        match &assigned {
            Some(role) => muster_core::incident::check_assigner(inc, role, person),
            None => Ok(()),
        }
    })
    .await
    .map_err(refusal)?;
    Ok(Some((true, format!("{person} {what} on {id}."))))
}

fn describe(c: &Command) -> String {
    match c {
        Command::Acknowledge => "acknowledged".into(),
        Command::Resolve => "resolved it".into(),
        Command::ReachMilestone { milestone } => format!("marked {milestone}"),
        Command::AssignRole { role, person } => format!("made {person} {role}"),
        Command::Update {
            severity: Some(s), ..
        } => format!("set severity {s}"),
        Command::Update {
            status: Some(s), ..
        } => format!("set status {s}"),
        Command::AcknowledgeNudge { .. } => "snoozed a reminder".into(),
        Command::AddNote { .. } => "added a note".into(),
        _ => "made a change".into(),
    }
}

/// `<@U123>` (a Slack user), `@alice` or `alice` (a person id) → the person.
async fn person_named(state: &AppState, who: &str) -> Result<String, String> {
    if let Some(user) = mentioned_user(who) {
        return person_of(state, user)
            .await
            .ok_or_else(|| format!("{who} is not a person Muster knows"));
    }
    let id = who.trim_start_matches('@');
    if state.config().config.people.contains_key(id) {
        Ok(id.to_string())
    } else {
        Err(format!("unknown person `{id}`"))
    }
}

/// Services the title names (`checkout errors` affects `checkout`).
pub fn services_in(title: &str, known: &std::collections::BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in title.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        let word = word.to_ascii_lowercase();
        if known.contains(&word) && !out.contains(&word) {
            out.push(word);
        }
    }
    out
}

/// Severity when the command names none.
pub const DEFAULT_SEVERITY: Severity = Severity::Sev3;

pub(crate) async fn declare(
    state: &AppState,
    person: &str,
    severity: Option<Severity>,
    title: &str,
) -> Outcome {
    let cfg = state.config();
    let services = services_in(title, &cfg.vocab.services);
    super::may_declare(&cfg, person, &services)?;
    let declaration = Declaration {
        title,
        severity: severity.unwrap_or(DEFAULT_SEVERITY),
        services: &services,
        incident_type: None,
    };
    let incident = reactions::declare(state, person, declaration)
        .await
        .map_err(refusal)?;
    let mut text = format!(
        "{person} declared {} {} {}",
        incident.id,
        incident.severity,
        escape(&incident.title)
    );
    if cfg.config.slack.is_some() {
        let channel = crate::reactions::slack::channel_name(incident.id, &incident.title);
        text.push_str(&format!(" — join #{channel}"));
    }
    Ok(Some((true, text)))
}

async fn post_update(
    state: &AppState,
    person: &str,
    incident: Option<IncidentNumber>,
    text: &str,
) -> Outcome {
    let id = incident.ok_or("no incident here")?;
    let note = Command::AddNote {
        text: format!("Status update: {text}"),
    };
    let cfg = state.config();
    reactions::apply_guarded(state, person, id, note, |inc| {
        super::may_change(&cfg, person, inc)
    })
    .await
    .map_err(refusal)?;
    // The cadence policies wait for this milestone; reaching it again may be refused.
    let posted = Command::ReachMilestone {
        milestone: "status_update_posted".into(),
    };
    let _ = reactions::apply(state, person, id, posted).await;
    Ok(Some((
        true,
        format!("Status update on {id} from {person}: {text}"),
    )))
}

/// "Brief me" from the core summariser, the same as `GET …/brief`.
async fn brief(state: &AppState, incident: Option<IncidentNumber>) -> Outcome {
    let id = incident.ok_or("no incident here")?;
    let text = clock_header::slack_brief(state, id).await?;
    Ok(Some((false, clock_header::section_text(&text))))
}

async fn oncall(state: &AppState, schedule: &str) -> Outcome {
    let who = on_call_now(state, schedule).await?;
    Ok(Some((
        false,
        match who.as_slice() {
            [] => format!("Nobody is on call for {schedule} now."),
            people => format!("On call for {schedule} now: {}", people.join(", ")),
        },
    )))
}

/// Who is on call for `schedule` now, run-time overrides included.
async fn on_call_now(state: &AppState, schedule: &str) -> Result<Vec<String>, String> {
    let cfg = state.config();
    if !cfg.config.schedules.contains_key(schedule) {
        let known: Vec<&str> = cfg.config.schedules.keys().map(String::as_str).collect();
        return Err(format!(
            "unknown schedule `{schedule}`; known: {}",
            known.join(", ")
        ));
    }
    let overrides = crate::oncall::runtime_overrides(&state.store)
        .await
        .map_err(|e| e.to_string())?;
    let now = state.clock.now();
    Ok(crate::oncall::on_call(
        &cfg.config,
        &overrides,
        schedule,
        now,
    ))
}

/// Pages a schedule's on-call or a person through the deliverer (notification rules,
/// fallbacks and retries included).
async fn page(
    state: &AppState,
    person: &str,
    incident: Option<IncidentNumber>,
    target: &str,
    message: Option<&str>,
) -> Outcome {
    let cfg = state.config();
    let to: Vec<String> = if cfg.config.people.contains_key(target) {
        vec![target.to_string()]
    } else if cfg.config.schedules.contains_key(target) {
        on_call_now(state, target).await?
    } else {
        return Err(format!("`{target}` is neither a person nor a schedule"));
    };
    if to.is_empty() {
        return Err(format!("nobody is on call for {target} now"));
    }
    let now = state.clock.now();
    let reason = match message {
        Some(m) => format!("{person} paged from Slack: {m}"),
        None => format!("{person} paged from Slack"),
    };
    let key = format!(
        "{}/slack:page:{target}:{}",
        incident
            .map(|i| i.to_string())
            .unwrap_or_else(|| "none".into()),
        now.as_millisecond()
    );
    let target = if cfg.config.people.contains_key(target) {
        PageTarget::Person(target.into())
    } else {
        PageTarget::Schedule(target.into())
    };
    let page = Effect::Page(Message {
        incident: incident.map(|i| i.to_string()),
        to: to.clone(),
        exercise: false,
        origin: Origin::Policy {
            policy: "slack:page".into(),
            reason,
            action: Some(Action::Page { target }),
            depth: 0,
            playbook: None,
        },
    });
    let item = page.item(key, incident);
    let effects = muster_store::Effects {
        timers: Vec::new(),
        outbox: vec![item],
        ..Default::default()
    };
    state
        .store
        .apply_effects(now, &effects)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Some((true, format!("{person} paged {}.", to.join(", ")))))
}

/// The declare modal: title, severity, services.
pub fn declare_view(severity: Option<Severity>) -> Value {
    let option = |s: Severity| json!({"text": {"type": "plain_text", "text": s.as_str()}, "value": s.as_str()});
    let mut sev = json!({
        "type": "static_select", "action_id": "value",
        "options": Severity::ALL.iter().map(|s| option(*s)).collect::<Vec<_>>(),
    });
    if let Some(s) = severity {
        sev["initial_option"] = option(s);
    }
    json!({
        "type": "modal",
        "callback_id": "muster_declare",
        "title": {"type": "plain_text", "text": "Declare an incident"},
        "submit": {"type": "plain_text", "text": "Declare"},
        "blocks": [
            {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "Title"},
             "element": {"type": "plain_text_input", "action_id": "value"}},
            {"type": "input", "block_id": "severity", "label": {"type": "plain_text", "text": "Severity"},
             "element": sev},
            {"type": "input", "block_id": "services", "optional": true,
             "label": {"type": "plain_text", "text": "Services (ids, comma-separated)"},
             "element": {"type": "plain_text_input", "action_id": "value"}},
        ],
    })
}

pub(crate) async fn open_view(state: &AppState, trigger_id: Option<&str>, view: Value) {
    let Some(trigger) = trigger_id else { return };
    let digest = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(trigger.as_bytes())[..12])
    };
    let view = Effect::SlackView(json!({"trigger_id": trigger, "view": view}));
    let item = view.item(format!("slack/view:{digest}"), None);
    let effects = muster_store::Effects {
        timers: Vec::new(),
        outbox: vec![item],
        ..Default::default()
    };
    if let Err(e) = state.store.apply_effects(state.clock.now(), &effects).await {
        tracing::warn!(error = %e, "queueing a slack modal failed");
    }
}

async fn open_declare_modal(
    state: &AppState,
    trigger_id: Option<&str>,
    severity: Option<Severity>,
) {
    open_view(state, trigger_id, declare_view(severity)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subcommands() {
        assert_eq!(
            parse("declare sev1 checkout errors"),
            Ok(SlashCommand::Declare {
                severity: Some(Severity::Sev1),
                title: "checkout errors".into()
            })
        );
        assert_eq!(
            parse("declare checkout errors"),
            Ok(SlashCommand::Declare {
                severity: None,
                title: "checkout errors".into()
            })
        );
        assert_eq!(parse("sev 2"), Ok(SlashCommand::Severity(Severity::Sev2)));
        assert_eq!(
            parse("role ic <@U0BOB|bob>"),
            Ok(SlashCommand::Role {
                role: "incident_commander".into(),
                who: "<@U0BOB|bob>".into()
            })
        );
        assert_eq!(
            parse("status mitigated"),
            Ok(SlashCommand::Status(Status::Mitigated))
        );
        assert_eq!(
            parse("page platform-primary  db is on fire"),
            Ok(SlashCommand::Page {
                target: "platform-primary".into(),
                message: Some("db is on fire".into())
            })
        );
        assert_eq!(
            parse("drill start pr-four-hours-late x60 comms_lead=@carol"),
            Ok(SlashCommand::DrillStart {
                scenario: "pr-four-hours-late".into(),
                speed: Some(60.0),
                step: false,
                participants: vec![("comms_lead".into(), "carol".into())],
            })
        );
        assert_eq!(
            parse("drill start x step fast"),
            Err("`fast`: expected x<speed>, step or role=person".into())
        );
        assert_eq!(parse(""), Ok(SlashCommand::Help));
        assert_eq!(mentioned_user("<@U0BOB|bob>"), Some("U0BOB"));
        assert_eq!(mentioned_user("<@U0BOB>"), Some("U0BOB"));
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(parse("dance"), Err("unknown subcommand `dance`".into()));
        assert!(parse("sev 9").unwrap_err().contains("unknown severity `9`"));
        assert!(parse("ack now").unwrap_err().contains("takes no arguments"));
        assert!(parse("role ic").is_err());
        assert!(
            parse("status sleeping")
                .unwrap_err()
                .contains("unknown status")
        );
        assert!(parse("update").is_err());
    }

    #[test]
    fn services_named_in_a_title() {
        let known = ["checkout".to_string(), "payments".to_string()].into();
        assert_eq!(services_in("Checkout errors", &known), vec!["checkout"]);
        assert!(services_in("login slow", &known).is_empty());
    }
}
