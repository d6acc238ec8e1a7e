//! The configuration as pages: services (owner team, escalation policy, experts,
//! dependencies and dependents), people (teams, time zone, on call now by the server's
//! on-call rule, run-time overrides included) and escalation policies (steps, targets,
//! repeat). Read-only: the configuration is changed in its files.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use muster_config::Target;
use muster_server::{AppState, oncall};

use crate::page::{Layout, PageError, render};
use crate::session::Session;

pub struct ServiceRow {
    pub id: String,
    pub name: String,
    pub description: String,
    pub owner: String,
    pub escalation: String,
    pub experts: Vec<String>,
    pub depends_on: Vec<String>,
    pub dependents: Vec<String>,
}

#[derive(Template)]
#[template(path = "services.html")]
struct ServicesPage {
    layout: Layout,
    services: Vec<ServiceRow>,
}

pub async fn services(State(state): State<AppState>, session: Session) -> Response {
    let cfg = state.config();
    let config = &cfg.config;
    let services = config
        .services
        .values()
        .map(|s| ServiceRow {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone().unwrap_or_default(),
            owner: s.owner_team.clone().unwrap_or_default(),
            escalation: s.escalation_policy.clone().unwrap_or_default(),
            experts: s.experts.clone(),
            depends_on: s.depends_on.clone(),
            dependents: config
                .services
                .values()
                .filter(|d| d.depends_on.contains(&s.id))
                .map(|d| d.id.clone())
                .collect(),
        })
        .collect();
    render(&ServicesPage {
        layout: Layout::new("Services", "services", &session, "/services"),
        services,
    })
}

pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub teams: Vec<String>,
    /// Names of the schedules they are on call for now.
    pub on_call: Vec<String>,
}

#[derive(Template)]
#[template(path = "people.html")]
struct PeoplePage {
    layout: Layout,
    people: Vec<PersonRow>,
}

pub async fn people(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, PageError> {
    let cfg = state.config();
    let config = &cfg.config;
    let overrides = oncall::runtime_overrides(&state.store).await?;
    let now = state.clock.now();
    let on_call: Vec<(String, Vec<String>)> = config
        .schedules
        .values()
        .map(|s| {
            (
                s.name.clone(),
                oncall::on_call(config, &overrides, &s.id, now),
            )
        })
        .collect();
    let people = config
        .people
        .values()
        .map(|p| PersonRow {
            id: p.id.clone(),
            name: p.name.clone(),
            zone: p.time_zone.clone(),
            teams: config
                .teams
                .values()
                .filter(|t| t.members.contains(&p.id))
                .map(|t| t.name.clone())
                .collect(),
            on_call: on_call
                .iter()
                .filter(|(_, who)| who.contains(&p.id))
                .map(|(name, _)| name.clone())
                .collect(),
        })
        .collect();
    Ok(render(&PeoplePage {
        layout: Layout::new("People", "people", &session, "/people"),
        people,
    }))
}

pub struct StepRow {
    pub after: String,
    pub targets: Vec<String>,
}

pub struct EscalationView {
    pub id: String,
    pub name: String,
    pub description: String,
    pub steps: Vec<StepRow>,
    pub repeat: u32,
    pub services: Vec<String>,
}

#[derive(Template)]
#[template(path = "escalation.html")]
struct EscalationPage {
    layout: Layout,
    policies: Vec<EscalationView>,
}

fn target_words(t: &Target) -> String {
    match t {
        Target::Schedule(s) => format!("whoever is on call for schedule {s}"),
        Target::Person(p) => format!("person {p}"),
        Target::Alias(a) => format!("alias {a}"),
        Target::SlackChannel(c) => format!("Slack channel {c}"),
    }
}

pub async fn escalation(State(state): State<AppState>, session: Session) -> Response {
    let cfg = state.config();
    let config = &cfg.config;
    let policies = config
        .escalation_policies
        .values()
        .map(|e| {
            let mut at = jiff::SignedDuration::ZERO;
            let steps = e
                .steps
                .iter()
                .map(|s| {
                    let row = StepRow {
                        after: if at.is_zero() {
                            "at once".into()
                        } else {
                            format!("after {}", muster_core::words::duration(at))
                        },
                        targets: s.targets.iter().map(target_words).collect(),
                    };
                    at += s.delay.to_signed();
                    row
                })
                .collect();
            EscalationView {
                id: e.id.clone(),
                name: e.name.clone(),
                description: e.description.clone().unwrap_or_default(),
                steps,
                repeat: e.repeat,
                services: config
                    .services
                    .values()
                    .filter(|s| s.escalation_policy.as_deref() == Some(e.id.as_str()))
                    .map(|s| s.id.clone())
                    .collect(),
            }
        })
        .collect();
    render(&EscalationPage {
        layout: Layout::new("Escalation policies", "escalation", &session, "/escalation"),
        policies,
    })
}
