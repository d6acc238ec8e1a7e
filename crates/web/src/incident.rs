//! The incident page: header (severity, status, roles, services, exercise banner), the live
//! clock (the server's `ClockView`: every pending deadline with its countdown, marked once
//! its warning is due), the actions, the timeline in pages (newest first, each event in the
//! core's plain words, a policy's firing with its reason), tasks, linked alerts and similar
//! incidents. The brief and drafts have their own page: they read the whole timeline.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use muster_core::brief::{self, Audience};
use muster_core::engine::Trigger;
use muster_core::{Incident, IncidentNumber, Status};
use muster_server::api::briefs::check_handoff_role;
use muster_server::views::brief::Loaded;
use muster_server::views::clock::{ClockView, clock_view};
use muster_server::{AppState, LoadedConfig};
use muster_store::{AlertFilter, MAX_TIMELINE_LIMIT};
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::Session;

/// Timeline events per page.
pub const TIMELINE_PAGE: i64 = 100;
/// Linked alerts shown on the page.
const ALERTS_SHOWN: u32 = 20;
/// Similar incidents shown.
const SIMILAR_SHOWN: u32 = 3;

pub struct Header {
    pub id: String,
    pub title: String,
    pub severity: String,
    pub status: String,
    pub resolved: bool,
    pub services: Vec<String>,
    pub roles: Vec<(String, String)>,
    pub responders: Vec<String>,
    pub exercise: bool,
    pub incident_type: String,
    pub declared: Time,
    pub declared_by: String,
}

/// One entry of the live clock.
pub struct ClockEntry {
    /// `deadline`, `cadence`, `escalation`, …
    pub kind: String,
    pub what: String,
    pub policy: String,
    pub due: Time,
    /// When the deadline's warning is due (RFC 3339), for the script; empty when none.
    pub warn_iso: String,
    /// The warning is due now.
    pub warning: bool,
    pub overdue: bool,
    /// `due in 12 min` as of the page's rendering (the script keeps it ticking).
    pub left: String,
}

pub struct EventRow {
    pub seq: i64,
    pub at: Time,
    pub actor: String,
    pub kind: String,
    pub text: String,
    /// A policy's own record (firing, outcome): styled apart.
    pub policy: bool,
}

pub struct TaskRow {
    pub id: u32,
    pub title: String,
    pub assignee: String,
    pub done: bool,
}

pub struct AlertRow {
    pub id: i64,
    pub summary: String,
    pub service: String,
    pub status: String,
    pub count: i64,
    pub last_seen: Time,
}

pub struct SimilarRow {
    pub id: String,
    pub title: String,
    pub experts: String,
}

/// What the forms offer.
pub struct Choices {
    pub milestones: Vec<(String, String)>,
    pub roles: Vec<(String, String)>,
    pub people: Vec<String>,
    pub statuses: Vec<String>,
    pub severities: Vec<String>,
    pub acknowledged: bool,
}

/// The part of the page that live updates replace.
pub struct Live {
    pub header: Header,
    pub clock: Vec<ClockEntry>,
    pub events: Vec<EventRow>,
    pub tasks: Vec<TaskRow>,
    /// `?before=` of the older page, if any.
    pub older: Option<i64>,
    /// `?before=` of the newer page, if this is not the newest.
    pub newer: Option<i64>,
    /// This is the newest page (the one live updates refresh).
    pub newest: bool,
    /// Delivery bookkeeping (queued and sent notifications) left out of this page.
    pub hidden: usize,
    pub can_act: bool,
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentPage {
    layout: Layout,
    live: Live,
    choices: Choices,
    alerts: Vec<AlertRow>,
    similar: Vec<SimilarRow>,
}

#[derive(Template)]
#[template(path = "incident_live.html")]
struct LivePart {
    live: Live,
}

#[derive(Debug, Default, Deserialize)]
pub struct PageParams {
    before: Option<i64>,
}

pub fn parse_id(raw: &str) -> Result<IncidentNumber, PageError> {
    raw.parse::<IncidentNumber>()
        .map_err(|_| PageError::not_found(format!("There is no incident {raw}.")))
}

/// The incident, or the 404 page.
pub async fn load(state: &AppState, raw: &str) -> Result<Incident, PageError> {
    let id = parse_id(raw)?;
    state
        .store
        .incident(id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no incident {id}.")))
}

fn header(i: &Incident, zone: &Zone) -> Header {
    Header {
        id: i.id.to_string(),
        title: i.title.clone(),
        severity: i.severity.to_string(),
        status: i.status.to_string(),
        resolved: i.status == Status::Resolved,
        services: i.services.clone(),
        roles: i
            .roles
            .iter()
            .map(|(r, h)| (brief::text::words(r), h.person.clone()))
            .collect(),
        responders: i.responders.clone(),
        exercise: i.exercise,
        incident_type: i.incident_type.clone().unwrap_or_default(),
        declared: Time::new(i.declared_at, zone),
        declared_by: i.declared_by.clone(),
    }
}

/// The warning lead of a deadline policy, if it has one.
fn warn_before(cfg: &LoadedConfig, policy: &str) -> Option<SignedDuration> {
    cfg.policies
        .iter()
        .find(|p| p.id == policy)
        .and_then(|p| match &p.trigger {
            Trigger::Deadline { warn_before, .. } => *warn_before,
            _ => None,
        })
}

/// The clock's entries: every pending timer but the warnings themselves (a deadline shows
/// its warning), then the escalation steps, earliest first.
pub fn clock_entries(cfg: &LoadedConfig, clock: &ClockView, zone: &Zone) -> Vec<ClockEntry> {
    let now = clock.now;
    let mut out: Vec<ClockEntry> = clock
        .timers
        .iter()
        .filter(|t| t.kind != "deadline_warning")
        .map(|t| {
            let warn_at = (t.kind == "deadline")
                .then(|| warn_before(cfg, &t.policy).map(|w| t.due_at - w))
                .flatten();
            let what = match (&t.expect, t.kind.as_str()) {
                (Some(e), _) => brief::text::expectation(e),
                (None, "cadence") => "the next status update".to_string(),
                (None, "cadence_escalation") => "a status update, or it escalates".to_string(),
                (None, "solo_responder") => "a second responder".to_string(),
                (None, other) => brief::text::words(other),
            };
            ClockEntry {
                kind: t.kind.replace('_', " "),
                what,
                policy: t.policy.clone(),
                due: Time::short(t.due_at, zone),
                warn_iso: warn_at.map(|w| w.to_string()).unwrap_or_default(),
                warning: warn_at.is_some_and(|w| now >= w),
                overdue: t.due_at <= now,
                left: brief::text::due_in(t.seconds_remaining),
            }
        })
        .collect();
    out.extend(clock.escalations.iter().map(|e| ClockEntry {
        kind: "escalation".into(),
        what: format!("step {} pages {}", e.step + 1, e.targets.join(", ")),
        policy: e.escalation_policy.clone(),
        due: Time::short(e.due_at, zone),
        warn_iso: String::new(),
        warning: false,
        overdue: e.due_at <= now,
        left: brief::text::due_in(e.seconds_remaining),
    }));
    out.sort_by(|a, b| a.due.iso.cmp(&b.due.iso));
    out
}

/// One page of the timeline, newest first: events with `seq < before`, in the core's plain
/// words; delivery bookkeeping (which the brief counts instead) is left out and counted.
struct TimelinePage {
    rows: Vec<EventRow>,
    hidden: usize,
    older: Option<i64>,
    newer: Option<i64>,
    newest: bool,
}

async fn timeline_page(
    state: &AppState,
    incident: &Incident,
    before: Option<i64>,
    zone: &Zone,
) -> Result<TimelinePage, PageError> {
    let last = incident.last_seq;
    let before = before.filter(|b| *b >= 1 && *b <= last).unwrap_or(last + 1);
    let from = (before - TIMELINE_PAGE).max(1);
    let limit = u32::try_from(before - from)
        .unwrap_or(0)
        .min(MAX_TIMELINE_LIMIT);
    let events = state.store.timeline(incident.id, from - 1, limit).await?;
    let mut hidden = 0;
    let rows = events
        .iter()
        .rev()
        .filter_map(|e| {
            let Some(text) = brief::describe(&e.change) else {
                hidden += 1;
                return None;
            };
            let kind = e.change.kind().to_string();
            Some(EventRow {
                seq: e.seq,
                at: Time::compact(e.at, zone),
                actor: e.actor.clone(),
                policy: matches!(
                    kind.as_str(),
                    "policy_fired" | "deadline_outcome" | "policy_cancelled" | "policy_error"
                ),
                kind,
                text,
            })
        })
        .collect();
    let newest = before > last;
    Ok(TimelinePage {
        rows,
        hidden,
        older: (from > 1).then_some(from),
        newer: (!newest).then_some(before + TIMELINE_PAGE),
        newest,
    })
}

async fn live(
    state: &AppState,
    session: &Session,
    incident: &Incident,
    before: Option<i64>,
) -> Result<Live, PageError> {
    let cfg = state.config();
    let clock = clock_view(state, incident.id).await?;
    let page = timeline_page(state, incident, before, &session.zone).await?;
    Ok(Live {
        header: header(incident, &session.zone),
        clock: clock_entries(&cfg, &clock, &session.zone),
        events: page.rows,
        tasks: incident
            .tasks
            .iter()
            .map(|t| TaskRow {
                id: t.id,
                title: t.title.clone(),
                assignee: t.assignee.clone().unwrap_or_default(),
                done: t.done,
            })
            .collect(),
        older: page.older,
        newer: page.newer,
        newest: page.newest,
        hidden: page.hidden,
        can_act: session.access.allows(muster_core::Access::Responder),
        csrf: session.csrf.clone(),
    })
}

fn choices(cfg: &LoadedConfig, incident: &Incident) -> Choices {
    let reached = |m: &str| incident.milestones.iter().any(|r| r.milestone == m);
    Choices {
        milestones: cfg
            .vocab
            .milestones
            .iter()
            // Acknowledging, resolving and status updates have their own forms.
            .filter(|m| {
                !matches!(
                    m.as_str(),
                    "declared" | "acknowledged" | "resolved" | "status_update_posted"
                ) && !reached(m)
            })
            .map(|m| (m.clone(), sentence(&brief::text::words(m))))
            .collect(),
        roles: cfg
            .vocab
            .roles
            .iter()
            .map(|r| (r.clone(), brief::text::words(r)))
            .collect(),
        people: cfg.vocab.people.iter().cloned().collect(),
        statuses: muster_core::Status::ALL
            .iter()
            .map(ToString::to_string)
            .collect(),
        severities: muster_core::Severity::ALL
            .iter()
            .map(ToString::to_string)
            .collect(),
        acknowledged: reached("acknowledged"),
    }
}

/// `blast radius validated` → `Blast radius validated`.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Response, PageError> {
    let incident = load(&state, &raw).await?;
    let cfg = state.config();
    let live = live(&state, &session, &incident, p.before).await?;
    let alerts = state
        .store
        .alerts(&AlertFilter {
            incident: Some(incident.id),
            limit: Some(ALERTS_SHOWN),
            ..AlertFilter::default()
        })
        .await?
        .into_iter()
        .map(|a| AlertRow {
            id: a.id,
            summary: a.summary,
            service: a.service,
            status: a.status.as_str().to_string(),
            count: a.count,
            last_seen: Time::new(a.last_seen, &session.zone),
        })
        .collect();
    let similar = match state
        .store
        .similar_incidents(incident.id, SIMILAR_SHOWN)
        .await
    {
        Ok(found) => found
            .into_iter()
            .map(|s| SimilarRow {
                id: s.incident.id.to_string(),
                title: s.incident.title,
                experts: s
                    .experts
                    .into_iter()
                    .map(|e| e.person)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, incident = %incident.id, "similar incidents left out");
            Vec::new()
        }
    };
    let here = format!("/incidents/{}", incident.id);
    let page = IncidentPage {
        layout: Layout::new(
            format!("{} {}", incident.id, incident.title),
            "incidents",
            &session,
            &here,
        ),
        choices: choices(&cfg, &incident),
        live,
        alerts,
        similar,
    };
    Ok(render(&page))
}

/// The live part alone: what the page swaps in when a change is announced.
pub async fn live_part(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Response, PageError> {
    let incident = load(&state, &raw).await?;
    let live = live(&state, &session, &incident, p.before).await?;
    Ok(render(&LivePart { live }))
}

#[derive(Template)]
#[template(path = "brief.html")]
struct BriefPage {
    layout: Layout,
    id: String,
    title: String,
    brief: String,
    internal: String,
    customer: String,
    handoff: String,
    /// The role of the hand-off (empty: the role that changed hands last), and the choices.
    role: String,
    roles: Vec<(String, String)>,
    executive: String,
    review: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct BriefParams {
    /// The hand-off's role, as `…/handoff?role=` takes it.
    #[serde(default)]
    role: String,
}

/// "Brief me", the status-update drafts (internal, customer), the hand-off, the executive
/// summary and, once resolved, the review draft: the core's deterministic text, as the API
/// answers it.
pub async fn brief_page(
    State(state): State<AppState>,
    session: Session,
    Path(raw): Path<String>,
    Query(p): Query<BriefParams>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw)?;
    let role = crate::util::given(&p.role);
    check_handoff_role(&state, role.as_deref()).map_err(crate::util::api_error)?;
    let loaded = Loaded::load(&state, id)
        .await?
        .ok_or_else(|| PageError::not_found(format!("There is no incident {id}.")))?;
    let facts = loaded.facts();
    let since: Timestamp = loaded.incident.declared_at;
    let roles = state
        .config()
        .vocab
        .roles
        .iter()
        .map(|r| (r.clone(), brief::text::words(r)))
        .collect();
    let page = BriefPage {
        layout: Layout::new(
            format!("Brief of {id}"),
            "incidents",
            &session,
            &format!("/incidents/{id}/brief"),
        ),
        id: id.to_string(),
        title: loaded.incident.title.clone(),
        brief: brief::brief(&facts, since).markdown(),
        internal: brief::status_update_draft(&facts, Audience::Internal).markdown(),
        customer: brief::status_update_draft(&facts, Audience::Customer).markdown(),
        handoff: brief::handoff(&facts, role.as_deref()).markdown(),
        role: role.unwrap_or_default(),
        roles,
        executive: brief::exec_summary(&facts).markdown(),
        review: (loaded.incident.status == Status::Resolved)
            .then(|| brief::review_draft(&facts).markdown()),
    };
    Ok(render(&page))
}
