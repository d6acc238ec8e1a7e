//! Home: my active incidents, all active ones, who is on call now for my teams and the next
//! hand-offs (the server's on-call rule, run-time overrides included).

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use muster_core::Incident;
use muster_server::{AppState, oncall};
use muster_store::IncidentFilter;

use crate::incidents::{IncidentRow, IncidentTable};
use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::Session;

/// How far ahead the next hand-offs are looked for.
const HANDOFF_WINDOW: SignedDuration = SignedDuration::from_hours(14 * 24);
/// Hand-offs shown per schedule.
const HANDOFFS_SHOWN: usize = 2;

pub struct OnCallRow {
    pub schedule: String,
    pub name: String,
    pub team: String,
    /// Empty in a gap.
    pub now: Vec<String>,
    pub handoffs: Vec<Handoff>,
}

pub struct Handoff {
    pub at: Time,
    pub to: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    mine: IncidentTable,
    active: IncidentTable,
    oncall: Vec<OnCallRow>,
    teams: Vec<String>,
}

/// Whether `person` works `incident`: declared it, responds or holds a role.
fn works_on(incident: &Incident, person: &str) -> bool {
    incident.declared_by == person
        || incident.responders.iter().any(|r| r == person)
        || incident.roles.values().any(|h| h.person == person)
}

pub async fn home(State(state): State<AppState>, session: Session) -> Result<Response, PageError> {
    let open = state
        .store
        .list_incidents(&IncidentFilter {
            open_only: true,
            limit: Some(100),
            ..IncidentFilter::default()
        })
        .await?;
    let now = state.clock.now();
    let zone = &session.zone;
    let mine = IncidentTable {
        rows: open
            .iter()
            .filter(|i| works_on(i, &session.name))
            .map(|i| IncidentRow::of(i, zone))
            .collect(),
    };
    let active = IncidentTable {
        rows: open.iter().map(|i| IncidentRow::of(i, zone)).collect(),
    };
    let (teams, oncall) = on_call_for(&state, &session.name, now, zone).await?;
    let page = HomePage {
        layout: Layout::new("Home", "home", &session, "/"),
        mine,
        active,
        oncall,
        teams,
    };
    Ok(render(&page))
}

/// The schedules of `person`'s teams (every schedule when they are in no team) with who is
/// on call now and the next hand-offs.
async fn on_call_for(
    state: &AppState,
    person: &str,
    now: Timestamp,
    zone: &Zone,
) -> Result<(Vec<String>, Vec<OnCallRow>), PageError> {
    let cfg = state.config();
    let config = &cfg.config;
    let teams: Vec<String> = config
        .teams
        .values()
        .filter(|t| t.members.iter().any(|m| m == person))
        .map(|t| t.id.clone())
        .collect();
    let overrides = oncall::runtime_overrides(&state.store).await?;
    let until = now + HANDOFF_WINDOW;
    let rows = config
        .schedules
        .values()
        .filter(|s| teams.is_empty() || s.team.as_ref().is_some_and(|t| teams.contains(t)))
        .map(|s| {
            let on_now = oncall::on_call(config, &overrides, &s.id, now);
            let handoffs = oncall::effective_schedule(config, &overrides, &s.id)
                .map(|sched| {
                    let resolution = muster_core::schedule::shifts(&sched, now, until);
                    let mut out: Vec<Handoff> = Vec::new();
                    for shift in resolution.shifts.iter().filter(|sh| sh.start > now) {
                        if out.len() >= HANDOFFS_SHOWN {
                            break;
                        }
                        out.push(Handoff {
                            at: Time::new(shift.start, zone),
                            to: shift.person.clone(),
                        });
                    }
                    out
                })
                .unwrap_or_default();
            OnCallRow {
                schedule: s.id.clone(),
                name: s.name.clone(),
                team: s.team.clone().unwrap_or_default(),
                now: on_now,
                handoffs,
            }
        })
        .collect();
    Ok((teams, rows))
}
