//! Drills: `/drills` lists them and starts one (a form per configured scenario, through
//! `api::drills::start_as`, the API's checks); `/drills/{id}` is the facilitator's view (the
//! drill's clock, its injects, the buttons of `api::drills::facilitate_as`, the live score
//! from `server::drills::report`, the after-action report once ended); `/drills/{id}/as/{part}`
//! is what the participant playing a role or persona receives. A drill's id is its incident's;
//! its pages refresh on the incident's server-sent events, as the incident page does.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use muster_core::brief::text::words;
use muster_core::drill::{self as core_drill, Report, Scenario, TargetScore, Verdict};
use muster_core::words::duration_secs;
use muster_core::{Access, Incident, IncidentNumber};
use muster_server::AppState;
use muster_server::api::drills::{
    DrillView, StartDrill, facilitate_as, resume_at, start_as, step_by, view,
};
use muster_server::drills::{self, Facilitate};
use muster_server::policy_state::DrillState;
use muster_server::views::clock::clock_view;
use muster_store::{InboxFilter, StoreError};
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::{Posted, Session};
use crate::util::{api_error, given};

/// Drills the list shows.
const LISTED: i64 = 50;
/// Inbox entries a participant's view shows.
const INBOX_SHOWN: u32 = 100;

/// `T+12 min`: an offset from the drill's start, as a debrief says it.
fn offset(secs: i64) -> String {
    format!("T+{}", duration_secs(secs))
}

fn drill_id(raw: &str) -> Result<IncidentNumber, PageError> {
    raw.parse::<IncidentNumber>()
        .map_err(|_| PageError::not_found(format!("There is no drill {raw}.")))
}

/// A drill and its state, or the 404 page (an ordinary incident is no drill).
async fn load(state: &AppState, id: IncidentNumber) -> Result<(Incident, DrillState), PageError> {
    drills::load(state, id).await.map_err(|e| match e {
        StoreError::NotFound(_) => PageError::not_found(format!("There is no drill {id}.")),
        other => other.into(),
    })
}

/// One drill in the list.
pub struct DrillRow {
    pub id: String,
    pub title: String,
    pub scenario: String,
    pub state: String,
    pub elapsed: String,
    pub facilitator: String,
}

/// A role or persona a scenario's participants play, with its default player.
pub struct PartChoice {
    pub part: String,
    pub label: String,
    pub default: String,
}

/// A scenario's start form.
pub struct ScenarioForm {
    pub id: String,
    pub title: String,
    pub briefing: String,
    pub length: String,
    pub parts: Vec<PartChoice>,
}

#[derive(Template)]
#[template(path = "drills.html")]
struct DrillsPage {
    layout: Layout,
    drills: Vec<DrillRow>,
    scenarios: Vec<ScenarioForm>,
    people: Vec<String>,
}

/// What a role or persona is called on the pages: a persona by its name and kind.
fn part_label(s: &Scenario, part: &str) -> String {
    match s.personas.iter().find(|p| p.id == part) {
        Some(p) => {
            let kind = core_drill::PersonaKind::ALL
                .iter()
                .find(|(_, k)| *k == p.kind)
                .map_or("persona", |(n, _)| n);
            format!("{} ({})", p.name, words(kind))
        }
        None => words(part),
    }
}

fn row(state: &AppState, incident: Incident, d: DrillState) -> DrillRow {
    let title = incident.title.clone();
    let v = view(state, incident, d);
    DrillRow {
        id: v.id,
        title,
        scenario: v.scenario,
        state: v.state,
        elapsed: offset(v.elapsed_s),
        facilitator: v.facilitator,
    }
}

pub async fn list(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let drills = drills::list(&state, LISTED)
        .await?
        .into_iter()
        .map(|(i, d)| row(&state, i, d))
        .collect();
    let cfg = state.config();
    let scenarios = cfg
        .config
        .drills
        .values()
        .map(|s| ScenarioForm {
            id: s.id.clone(),
            title: s.title.clone(),
            briefing: s.briefing.clone(),
            length: duration_secs(s.length.as_secs()),
            parts: s
                .play
                .iter()
                .map(|part| PartChoice {
                    part: part.clone(),
                    label: part_label(s, part),
                    default: s.players.get(part).cloned().unwrap_or_default(),
                })
                .collect(),
        })
        .collect();
    let page = DrillsPage {
        layout: Layout::new("Drills", "drills", &session, "/drills"),
        drills,
        scenarios,
        people: cfg.config.people.keys().cloned().collect(),
    };
    Ok(render(&page))
}

/// The field naming who plays `part`: `player:incident_commander`.
const PLAYER_PREFIX: &str = "player:";

/// The start form as the API's request: `pace` is `speed` (with `speed`) or `step`; each
/// `player:ROLE` chosen is a participant.
fn start_request(fields: &[(String, String)]) -> Result<StartDrill, PageError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| given(v))
    };
    let scenario =
        field("scenario").ok_or_else(|| PageError::invalid("scenario: choose a scenario"))?;
    let step = match field("pace").as_deref() {
        Some("step") => true,
        Some("speed") | None => false,
        Some(other) => {
            return Err(PageError::invalid(format!(
                "pace: `{other}` is not one of speed, step"
            )));
        }
    };
    let speed = match field("speed") {
        Some(raw) if !step => Some(raw.parse::<f64>().map_err(|_| {
            PageError::invalid(format!("speed: `{raw}` is not a number (1 = real time)"))
        })?),
        _ => None,
    };
    let participants: BTreeMap<String, String> = fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PLAYER_PREFIX)?.to_string(), given(v)?)))
        .collect();
    Ok(StartDrill {
        scenario,
        speed,
        step,
        participants,
    })
}

pub async fn start(
    State(state): State<AppState>,
    p: Posted<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    let req = start_request(&form)?;
    let started = start_as(&state, &session.name, &req)
        .await
        .map_err(api_error)?;
    tracing::info!(drill = %started.id, scenario = %started.scenario, actor = %session.name, "drill started from the web UI");
    Ok(Redirect::to(&format!("/drills/{}", started.id)).into_response())
}

pub struct InjectRow {
    pub index: usize,
    pub at: String,
    pub what: String,
    pub status: String,
    pub pending: bool,
}

pub struct PartRow {
    pub part: String,
    pub label: String,
    pub person: String,
}

pub struct PolicyRow {
    pub policy: String,
    pub kind: String,
    /// `met`, `late`, `missed`, `pending`, `not applied`, …
    pub verdict: String,
    /// The verdict as a CSS class: `not-applied`.
    pub class: String,
    pub due: String,
    pub came: String,
    pub margin: String,
}

pub struct TargetRow {
    pub kind: String,
    pub subject: String,
    pub within: String,
    pub verdict: String,
    pub class: String,
    pub came: String,
    pub margin: String,
}

/// The facilitator's view, the part live updates replace.
pub struct DrillLive {
    pub id: String,
    pub title: String,
    pub scenario: String,
    pub briefing: String,
    pub state: String,
    pub ended: bool,
    pub paused: bool,
    /// Waiting for a step (or stepped at all: steps are offered).
    pub stepped: bool,
    pub speed: String,
    pub drill_time: Time,
    pub elapsed: String,
    pub length: String,
    pub facilitator: String,
    pub parts: Vec<PartRow>,
    pub injects: Vec<InjectRow>,
    pub any_pending: bool,
    pub percent: u32,
    pub met: usize,
    pub scored: usize,
    pub policies: Vec<PolicyRow>,
    pub targets: Vec<TargetRow>,
    /// The after-action report in Markdown, once ended.
    pub report: String,
    pub can_act: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "drill.html")]
struct DrillPage {
    layout: Layout,
    d: DrillLive,
}

#[derive(Template)]
#[template(path = "drill_live.html")]
struct DrillLivePart {
    d: DrillLive,
}

fn margin(m: Option<i64>) -> String {
    match m {
        Some(m) if m >= 0 => format!("{} to spare", duration_secs(m)),
        Some(m) => format!("{} late", duration_secs(m)),
        None => String::new(),
    }
}

fn verdict_word(v: Verdict) -> String {
    v.to_string().replace('_', " ")
}

/// The score so far: a target not reached whose time is not up, and a deadline still
/// armed (`pending`: policy → its due, drill seconds from the start), show as pending.
fn score_rows(
    r: &Report,
    elapsed_s: i64,
    ended: bool,
    pending: &BTreeMap<String, i64>,
) -> (Vec<PolicyRow>, Vec<TargetRow>) {
    let shown = |t: &TargetScore| {
        if !ended && t.open_at(elapsed_s) {
            "pending".to_string()
        } else {
            verdict_word(t.verdict)
        }
    };
    let policies = r
        .score
        .policies
        .iter()
        .map(|p| {
            let armed = pending
                .get(&p.policy)
                .filter(|_| !ended && p.verdict == Verdict::NotApplied);
            let verdict = match armed {
                Some(_) => "pending".to_string(),
                None => verdict_word(p.verdict),
            };
            PolicyRow {
                policy: p.policy.clone(),
                kind: words(p.kind),
                class: verdict.replace(' ', "-"),
                verdict,
                due: p.due_s.or(armed.copied()).map(offset).unwrap_or_default(),
                came: p.at_s.map(offset).unwrap_or_default(),
                margin: margin(p.margin_s),
            }
        })
        .collect();
    let targets = r
        .score
        .targets
        .iter()
        .map(|t| TargetRow {
            kind: t.kind.to_string(),
            subject: words(&t.subject),
            within: duration_secs(t.within_s),
            verdict: shown(t),
            class: shown(t).replace(' ', "-"),
            came: t.at_s.map(offset).unwrap_or_default(),
            margin: margin(t.margin_s),
        })
        .collect();
    (policies, targets)
}

async fn facilitator_view(
    state: &AppState,
    session: &Session,
    id: IncidentNumber,
) -> Result<DrillLive, PageError> {
    let (incident, d) = load(state, id).await?;
    let report = drills::report(state, id).await?;
    let cfg = state.config();
    let scenario = cfg.config.drills.get(&d.scenario);
    let paused = d.clock.paused;
    let title = incident.title.clone();
    let v: DrillView = view(state, incident, d);
    let ended = v.state == "ended";
    // Deadlines still armed, in drill seconds from the start (the clock is in drill time).
    let start = report.played.start;
    let mut pending: BTreeMap<String, i64> = BTreeMap::new();
    for t in clock_view(state, id).await?.timers {
        if t.kind == "deadline" {
            let due = t.due_at.duration_since(start).as_secs();
            pending.entry(t.policy).or_insert(due);
        }
    }
    let (policies, targets) = score_rows(&report, v.elapsed_s, ended, &pending);
    let injects: Vec<InjectRow> = v
        .injects
        .iter()
        .map(|i| InjectRow {
            index: i.index,
            at: offset(i.at_s),
            what: i.what.clone(),
            status: i.status.clone(),
            pending: i.status == "pending",
        })
        .collect();
    let totals = if ended {
        report.score.totals
    } else {
        report.score.so_far(v.elapsed_s)
    };
    Ok(DrillLive {
        id: v.id.clone(),
        title,
        scenario: v.scenario.clone(),
        briefing: scenario.map(|s| s.briefing.clone()).unwrap_or_default(),
        ended,
        paused,
        stepped: v.speed.is_none(),
        speed: v
            .speed
            .map_or_else(|| "stepped".to_string(), |s| format!("×{s}")),
        drill_time: Time::new(v.drill_time, &session.zone),
        elapsed: offset(v.elapsed_s),
        length: scenario
            .map(|s| duration_secs(s.length.as_secs()))
            .unwrap_or_default(),
        facilitator: v.facilitator.clone(),
        parts: v
            .participants
            .iter()
            .map(|(part, person)| PartRow {
                part: part.clone(),
                label: scenario.map_or_else(|| words(part), |s| part_label(s, part)),
                person: person.clone(),
            })
            .collect(),
        any_pending: injects.iter().any(|i| i.pending),
        injects,
        percent: totals.percent,
        met: totals.met,
        scored: totals.met + totals.not_met,
        policies,
        targets,
        report: if ended {
            core_drill::markdown(&report)
        } else {
            String::new()
        },
        state: v.state,
        can_act: session.access.allows(Access::Responder),
        csrf: session.csrf.clone(),
    })
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = drill_id(&raw)?;
    let d = facilitator_view(&state, &session, id).await?;
    let here = format!("/drills/{id}");
    let page = DrillPage {
        layout: Layout::new(format!("Drill {id}"), "drills", &session, &here),
        d,
    };
    Ok(render(&page))
}

/// `GET /drills/{id}/live`: the part live updates fetch again.
pub async fn live_part(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = drill_id(&raw)?;
    let d = facilitator_view(&state, &session, id).await?;
    Ok(render(&DrillLivePart { d }))
}

/// `GET /drills/{id}/chart.svg`: the report's timeline chart (the core escapes its text).
pub async fn chart(
    State(state): State<AppState>,
    _session: Session,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = drill_id(&raw)?;
    load(&state, id).await?;
    let report = drills::report(&state, id).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        core_drill::svg(&report),
    )
        .into_response())
}

/// A facilitator's button: optional `index` (inject, skip), `speed` (resume), `by` (step).
#[derive(Debug, Default, Deserialize)]
pub struct CommandForm {
    #[serde(default)]
    index: String,
    #[serde(default)]
    speed: String,
    #[serde(default)]
    by: String,
}

fn index_of(raw: &str) -> Result<Option<usize>, PageError> {
    given(raw)
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| PageError::invalid(format!("index: `{s}` is not an inject number")))
        })
        .transpose()
}

/// The command a button posts to `/drills/{id}/{command}`.
fn command_of(name: &str, form: &CommandForm) -> Result<Facilitate, PageError> {
    Ok(match name {
        "inject" => Facilitate::Inject(index_of(&form.index)?),
        "skip" => Facilitate::Skip(
            index_of(&form.index)?.ok_or_else(|| PageError::invalid("index: which inject?"))?,
        ),
        "pause" => Facilitate::Pause,
        "resume" => {
            let speed = given(&form.speed)
                .map(|s| {
                    s.parse::<f64>().map_err(|_| {
                        PageError::invalid(format!("speed: `{s}` is not a number (1 = real time)"))
                    })
                })
                .transpose()?;
            resume_at(speed).map_err(api_error)?
        }
        "step" => step_by(form.by.trim()).map_err(api_error)?,
        "end" => Facilitate::End,
        other => {
            return Err(PageError::not_found(format!(
                "There is no drill command {other}."
            )));
        }
    })
}

pub async fn command(
    State(state): State<AppState>,
    Path((raw, name)): Path<(String, String)>,
    p: Posted<CommandForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Responder)?;
    let id = drill_id(&raw)?;
    load(&state, id).await?;
    let command = command_of(&name, &form)?;
    facilitate_as(&state, &session.name, id, command)
        .await
        .map_err(api_error)?;
    tracing::info!(drill = %id, command = %name, actor = %session.name, "drill facilitated from the web UI");
    Ok(Redirect::to(&format!("/drills/{id}")).into_response())
}

pub struct Received {
    pub at: String,
    pub text: String,
}

pub struct InboxRow {
    pub at: Time,
    pub subject: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "drill_part.html")]
struct PartPage {
    layout: Layout,
    id: String,
    title: String,
    state: String,
    part: String,
    label: String,
    person: String,
    /// Who holds the role in the drill's incident, when the part is a role.
    holder: String,
    is_role: bool,
    received: Vec<Received>,
    inbox: Vec<InboxRow>,
    others: Vec<PartRow>,
}

/// The messages the scenario's played injects sent the participant playing `part`, in
/// the order they came (only those played: a participant learns nothing ahead).
fn received(s: &Scenario, d: &DrillState, part: &str) -> Vec<Received> {
    let mut out: Vec<(i64, String)> = s
        .injects
        .iter()
        .enumerate()
        .filter(|(n, _)| d.injects.get(n).is_some_and(|x| x == "played"))
        .filter_map(|(_, inject)| {
            let (to, text) = s.message_of(&inject.what)?;
            to.reaches(part).then(|| (inject.at.as_secs(), text))
        })
        .collect();
    out.sort_by_key(|(at, _)| *at);
    out.into_iter()
        .map(|(at, text)| Received {
            at: offset(at),
            text,
        })
        .collect()
}

async fn inbox_rows(
    state: &AppState,
    id: IncidentNumber,
    person: &str,
    zone: &Zone,
) -> Result<Vec<InboxRow>, PageError> {
    if person.is_empty() {
        return Ok(Vec::new());
    }
    let filter = InboxFilter {
        person: Some(person.to_string()),
        incident: Some(id),
        limit: Some(INBOX_SHOWN),
    };
    Ok(state
        .store
        .inbox(&filter)
        .await?
        .into_iter()
        .map(|e| InboxRow {
            at: Time::new(e.created_at, zone),
            subject: e.subject,
            text: e.text,
        })
        .collect())
}

/// `GET /drills/{id}/as/{part}`: what the participant playing a role or persona receives.
pub async fn participant(
    State(state): State<AppState>,
    session: Session,
    Path((raw, part)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = drill_id(&raw)?;
    let (incident, d) = load(&state, id).await?;
    let cfg = state.config();
    let s = cfg.config.drills.get(&d.scenario).ok_or_else(|| {
        PageError::not_found(format!("Scenario {} is no longer configured.", d.scenario))
    })?;
    if !s.play.contains(&part) {
        return Err(PageError::not_found(format!(
            "Nobody plays {part} in drill {id}."
        )));
    }
    let person = d.players.get(&part).cloned().unwrap_or_default();
    let inbox = inbox_rows(&state, id, &person, &session.zone).await?;
    let is_role = !s.personas.iter().any(|p| p.id == part);
    let page = PartPage {
        layout: Layout::new(
            format!("{} in drill {id}", words(&part)),
            "drills",
            &session,
            &format!("/drills/{id}/as/{part}"),
        ),
        id: id.to_string(),
        title: incident.title.clone(),
        state: view(&state, incident.clone(), d.clone()).state,
        label: part_label(s, &part),
        holder: incident
            .roles
            .get(&part)
            .map(|h| h.person.clone())
            .unwrap_or_default(),
        is_role,
        received: received(s, &d, &part),
        inbox,
        others: s
            .play
            .iter()
            .filter(|p| **p != part)
            .map(|p| PartRow {
                part: p.clone(),
                label: part_label(s, p),
                person: d.players.get(p).cloned().unwrap_or_default(),
            })
            .collect(),
        part,
        person,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_start_form_reads_as_the_apis_request() {
        let req = start_request(&fields(&[
            ("csrf", "x"),
            ("scenario", "exec-vip-call"),
            ("pace", "speed"),
            ("speed", "60"),
            ("player:executive", "carol"),
            ("player:comms_lead", ""),
        ]))
        .unwrap();
        assert_eq!(req.scenario, "exec-vip-call");
        assert_eq!(req.speed, Some(60.0));
        assert!(!req.step);
        assert_eq!(
            req.participants,
            BTreeMap::from([("executive".to_string(), "carol".to_string())])
        );
        let stepped = start_request(&fields(&[
            ("scenario", "s"),
            ("pace", "step"),
            ("speed", "60"),
        ]))
        .unwrap();
        assert!(stepped.step && stepped.speed.is_none());
        let bad = start_request(&fields(&[("scenario", "s"), ("speed", "fast")]));
        assert_eq!(
            bad.err().map(|e| e.message),
            Some("speed: `fast` is not a number (1 = real time)".to_string())
        );
    }
}
