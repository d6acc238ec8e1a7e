//! Live drills: a scenario's incident declared as an exercise on its own clock, the
//! facilitator's commands (inject now, skip, pause, resume, step, end), and the after-action
//! report read back from the incident's timeline. Everything goes through the reactions path
//! (`reactions::drill` keeps the incident in drill time and inside the drill).

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use muster_core::drill::{self, DrillClock, InjectLog, Played, Report, Scenario};
use muster_core::engine::{Outcome, PlannedAction, Simulation};
use muster_core::{Change, DomainError, Incident, IncidentNumber, TimelineEvent, declare_typed};
use muster_store::{StoreError, TimerChange, TimerSpec};
use serde_json::json;

use crate::AppState;
use crate::policy_state::{DrillState, PolicyState};
use crate::reactions::{Opener, drill as contain};

/// How a drill's time runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Drill seconds per real second.
    Speed(f64),
    /// Only when the facilitator steps it.
    Stepped,
}

/// What a facilitator can do to a running drill.
#[derive(Debug, Clone, PartialEq)]
pub enum Facilitate {
    /// Play the next pending inject (or this one) now.
    Inject(Option<usize>),
    /// Leave an inject out.
    Skip(usize),
    Pause,
    /// Run again (at this speed, or the drill's own).
    Resume(Option<f64>),
    Step(SignedDuration),
    End,
}

impl Facilitate {
    fn describe(&self) -> String {
        match self {
            Facilitate::Inject(Some(n)) => format!("inject {n} played now"),
            Facilitate::Inject(None) => "next inject played now".into(),
            Facilitate::Skip(n) => format!("inject {n} skipped"),
            Facilitate::Pause => "paused".into(),
            Facilitate::Resume(_) => "resumed".into(),
            Facilitate::Step(by) => format!("stepped {}", muster_core::words::duration(*by)),
            Facilitate::End => "ended".into(),
        }
    }
}

fn scenario_of<'c>(cfg: &'c crate::LoadedConfig, id: &str) -> Result<&'c Scenario, StoreError> {
    cfg.config.drills.get(id).ok_or_else(|| {
        StoreError::Domain(DomainError::invalid(
            "scenario",
            format!(
                "no drill scenario `{id}` (scenarios: {})",
                cfg.config
                    .drills
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ))
    })
}

/// The scenario's default players with the facilitator's over them; every role must be one
/// the drill plays and every person must exist (a 422 naming all that do not).
fn players(
    cfg: &crate::LoadedConfig,
    s: &Scenario,
    participants: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut players = s.players.clone();
    let mut wrong = Vec::new();
    for (role, person) in participants {
        if !s.play.contains(role) {
            wrong.push(format!("`{role}` is not played in this drill"));
        } else if !cfg.config.people.contains_key(person) {
            wrong.push(format!("no person `{person}` (for {role})"));
        } else {
            players.insert(role.clone(), person.clone());
        }
    }
    if wrong.is_empty() {
        Ok(players)
    } else {
        Err(StoreError::Domain(DomainError::invalid(
            "participants",
            wrong.join("; "),
        )))
    }
}

/// Starts scenario `id`: its incident is declared, marked `exercise`, by the facilitator,
/// and its injects and end are armed on the drill's clock.
pub async fn start(
    state: &AppState,
    id: &str,
    pace: Pace,
    participants: &BTreeMap<String, String>,
    facilitator: &str,
) -> Result<Incident, StoreError> {
    let cfg = state.config();
    let s = scenario_of(&cfg, id)?;
    let players = players(&cfg, s, participants)?;
    // Whole milliseconds, as the timeline stores them, so offsets come out whole.
    let real = state.clock.now();
    let real = Timestamp::from_millisecond(real.as_millisecond()).unwrap_or(real);
    let o = &s.incident;
    let title = format!("[drill] {}", o.title);
    let mut changes = declare_typed(
        &title,
        o.severity,
        &o.services,
        o.incident_type.as_deref(),
        &cfg.vocab,
    )
    .map_err(StoreError::Domain)?;
    if let Some(Change::Declared { exercise, .. }) = changes.first_mut() {
        *exercise = true;
    }
    let drill_state = DrillState {
        scenario: s.id.clone(),
        clock: match pace {
            Pace::Speed(speed) => DrillClock::running(real, real, speed),
            Pace::Stepped => DrillClock::stepped(real, real),
        },
        speed: match pace {
            Pace::Speed(speed) => Some(speed),
            Pace::Stepped => None,
        },
        players,
        facilitator: facilitator.to_string(),
        start: real,
        injects: BTreeMap::new(),
        ended: None,
    };
    let overrides = crate::oncall::runtime_overrides(&state.store).await?;
    let ctx = crate::reactions::Reactions {
        cfg: &cfg,
        overrides: &overrides,
        now: real,
    };
    let declared = changes.clone();
    let (incident, _) = state
        .store
        .declare_with_policy(facilitator, real, changes, |inc, policy_state| {
            *policy_state = PolicyState {
                drill: Some(drill_state.clone()),
                ..PolicyState::default()
            }
            .encode();
            let mut out = ctx.declared(inc, policy_state, &declared, facilitator, Opener::Person);
            for timer in contain::drill_timers(inc.id, &drill_state, s) {
                out.timer(timer);
            }
            out.into_parts()
        })
        .await?;
    tracing::info!(incident = %incident.id, scenario = %s.id, %facilitator, "drill started");
    Ok(incident)
}

/// A drill's incident and state (`NotFound` when the incident is no drill), read as of one
/// instant: the two are written together, so a read in between (the incident unchanged
/// around the state's read) is retried.
pub async fn load(
    state: &AppState,
    id: IncidentNumber,
) -> Result<(Incident, DrillState), StoreError> {
    let read = || async {
        state
            .store
            .incident(id)
            .await?
            .filter(|i| i.exercise)
            .ok_or(StoreError::NotFound(id))
    };
    let mut before = read().await?;
    for _ in 0..5 {
        let st = PolicyState::decode(&state.store.policy_state(id).await?)
            .map_err(StoreError::Internal)?;
        let after = read().await?;
        if after.last_seq == before.last_seq {
            let drill = st.drill.ok_or(StoreError::NotFound(id))?;
            return Ok((after, drill));
        }
        before = after;
    }
    Err(StoreError::Unavailable(format!(
        "drill {id} kept changing while being read"
    )))
}

/// The newest drills, newest first.
pub async fn list(state: &AppState, limit: i64) -> Result<Vec<(Incident, DrillState)>, StoreError> {
    let mut out = Vec::new();
    for id in state.store.exercises(limit).await? {
        out.push(load(state, id).await?);
    }
    Ok(out)
}

/// A facilitator's command on drill `id`, under the incident's lock: 409 once it ended.
pub async fn facilitate(
    state: &AppState,
    id: IncidentNumber,
    actor: &str,
    command: Facilitate,
) -> Result<Incident, StoreError> {
    let cfg = state.config();
    let overrides = crate::oncall::runtime_overrides(&state.store).await?;
    let real = state.clock.now();
    let (incident, _) = state
        .store
        .update_with_policy(id, actor, real, |inc, policy_state| {
            let mut st = PolicyState::decode(policy_state).map_err(DomainError::Conflict)?;
            let Some(drill) = st.drill.clone() else {
                return Err(DomainError::Conflict(format!("{} is not a drill", inc.id)));
            };
            if drill.ended.is_some() {
                return Err(DomainError::Conflict(format!(
                    "the drill on {} has ended",
                    inc.id
                )));
            }
            let s = cfg.config.drills.get(&drill.scenario).ok_or_else(|| {
                DomainError::Conflict(format!(
                    "scenario `{}` is no longer configured",
                    drill.scenario
                ))
            })?;
            let now = drill.clock.now(real);
            let ctx = crate::reactions::Reactions {
                cfg: &cfg,
                overrides: &overrides,
                now,
            };
            let mut out = crate::reactions::Followup::default();
            out.push(
                Some(actor.to_string()),
                Change::DrillEvent {
                    what: command.describe(),
                },
            );
            let clock = &drill.clock;
            let next = match &command {
                Facilitate::Pause if clock.paused => {
                    return Err(DomainError::Conflict("the drill is already paused".into()));
                }
                Facilitate::Pause => Some(clock.pause(real)),
                Facilitate::Resume(speed) => {
                    Some(clock.resume(real, speed.or(drill.speed).unwrap_or(1.0)))
                }
                Facilitate::Step(by) => Some(clock.step(real, *by)),
                Facilitate::Skip(n) => {
                    if *n >= s.injects.len() || drill.injects.contains_key(n) {
                        return Err(DomainError::Conflict(format!("inject {n} is not pending")));
                    }
                    if let Some(d) = &mut st.drill {
                        d.injects.insert(*n, "skipped by the facilitator".into());
                    }
                    out.timer(TimerChange::Cancel {
                        key: format!("{}/drill:inject:{n}", inc.id),
                    });
                    None
                }
                Facilitate::Inject(which) => {
                    let n = which
                        .or_else(|| (0..s.injects.len()).find(|n| !drill.injects.contains_key(n)))
                        .filter(|n| *n < s.injects.len() && !drill.injects.contains_key(n))
                        .ok_or_else(|| DomainError::Conflict("no pending inject to play".into()))?;
                    // Due now in drill time and in real time, whatever the clock is doing.
                    out.timer(TimerChange::Set(TimerSpec {
                        key: format!("{}/drill:inject:{n}", inc.id),
                        incident: Some(inc.id),
                        due_at: real,
                        payload: json!({ "drill": "inject", "index": n, "drill_due": now }),
                    }));
                    None
                }
                Facilitate::End => {
                    out.extend(contain::end(
                        &ctx,
                        inc,
                        &mut st,
                        s,
                        actor,
                        "by the facilitator",
                    ));
                    None
                }
            };
            if let (Some(clock), Some(d)) = (next, &mut st.drill) {
                d.clock = clock;
                for timer in contain::retime(inc.id, &st, s) {
                    out.timer(timer);
                }
            }
            *policy_state = st.encode();
            let (changes, mut effects) = out.into_parts();
            effects.at = Some(now);
            Ok((changes, effects))
        })
        .await?;
    Ok(incident)
}

/// The after-action report of drill `id`, read from its incident's timeline, scored like a
/// headless run.
pub async fn report(state: &AppState, id: IncidentNumber) -> Result<Report, StoreError> {
    let (incident, drill) = load(state, id).await?;
    let cfg = state.config();
    let s = scenario_of(&cfg, &drill.scenario)?;
    let timeline = state.store.timeline_since(id, None).await?;
    let played = played(s, &cfg.policies, &drill, &incident, &timeline);
    let score = drill::score(s, &cfg.policies, &played);
    Ok(Report::new(s, played, score))
}

/// What happened in a live drill, as scoring reads it, from its timeline (in drill time).
fn played(
    s: &Scenario,
    policies: &[muster_core::engine::Policy],
    drill: &DrillState,
    incident: &Incident,
    timeline: &[TimelineEvent],
) -> Played {
    let offset = |t: Timestamp| t.duration_since(drill.start).as_secs();
    let mut played = Played {
        scenario: s.id.clone(),
        profile: None,
        start: drill.start,
        length_s: s.length.as_secs(),
        milestones: Vec::new(),
        roles: Vec::new(),
        injects: s
            .injects
            .iter()
            .enumerate()
            .map(|(n, inject)| InjectLog {
                at_s: inject.at.as_secs(),
                kind: inject.what.kind(),
                what: inject.what.describe(),
                fired: drill.injects.get(&n).is_some_and(|x| x == "played"),
                note: drill.injects.get(&n).filter(|x| *x != "played").cloned(),
            })
            .collect(),
        messages: Vec::new(),
        steps: Vec::new(),
        refusals: Vec::new(),
        simulation: Simulation::default(),
    };
    let role_of = |person: &str| -> Vec<String> {
        drill
            .players
            .iter()
            .filter(|(_, p)| *p == person)
            .map(|(r, _)| r.clone())
            .collect()
    };
    for e in timeline {
        let at_s = offset(e.at);
        match &e.change {
            Change::MilestoneReached { milestone } => {
                if !played.milestones.iter().any(|(m, ..)| m == milestone) {
                    played
                        .milestones
                        .push((milestone.clone(), at_s, e.actor.clone()));
                }
                let by_people = !e.actor.starts_with("policy:") && !e.actor.starts_with("drill:");
                if by_people && milestone != "declared" {
                    let act = format!("reaches {}", muster_core::brief::text::words(milestone));
                    played.steps.push((at_s, e.actor.clone(), act, true));
                }
            }
            Change::RoleAssigned { role, person, .. } if s.play.contains(role) => {
                played.note_role(role, person, at_s, false);
            }
            Change::ResponderJoined { person } => {
                for role in role_of(person) {
                    played.note_role(&role, person, at_s, true);
                }
            }
            Change::DeadlineOutcome {
                policy,
                instance,
                met,
                at,
                due_at,
                margin_secs,
                by,
                ..
            } => {
                let outcome = Outcome {
                    policy: policy.clone(),
                    instance: *instance,
                    met: *met,
                    at: *at,
                    due_at: *due_at,
                    margin: SignedDuration::from_secs(*margin_secs),
                    by: by.clone(),
                };
                let sim = &mut played.simulation;
                match sim
                    .outcomes
                    .iter_mut()
                    .find(|o| o.policy == *policy && o.instance == *instance)
                {
                    Some(o) => *o = outcome,
                    None => sim.outcomes.push(outcome),
                }
            }
            Change::PolicyFired {
                policy,
                reason,
                actions,
                ..
            } => {
                for (i, action) in actions.iter().enumerate() {
                    played.simulation.actions.push((
                        e.at,
                        PlannedAction {
                            policy: policy.clone(),
                            action: action.clone(),
                            idempotency_key: format!("{policy}:{}:{i}", e.seq),
                            reason: reason.clone(),
                            depth: 0,
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    // A cadence that applied to the incident's severity was armed; scoring reads it so.
    for p in policies {
        if let muster_core::engine::Trigger::Cadence { .. } = p.trigger
            && (p.when.severity.is_empty() || p.when.severity.contains(&incident.severity))
        {
            let key = format!("cadence:{}:1", p.id);
            let op = muster_core::engine::TimerOp::Set {
                key,
                due_at: drill.start,
            };
            played
                .simulation
                .timer_log
                .push((drill.start, muster_core::engine::TimerLog::Op(op)));
        }
    }
    // A late milestone is read from the milestone itself, as everywhere else.
    for o in &mut played.simulation.outcomes {
        if o.met || o.by.is_some() {
            continue;
        }
        if let Some(m) = incident.milestones.iter().find(|m| {
            m.at > o.due_at && Some(m.milestone.as_str()) == expected(timeline, &o.policy)
        }) {
            o.late_arrival(m.at, &m.actor);
        }
    }
    played
}

/// The milestone a deadline outcome on this timeline expected.
fn expected<'t>(timeline: &'t [TimelineEvent], policy: &str) -> Option<&'t str> {
    timeline.iter().find_map(|e| match &e.change {
        Change::DeadlineOutcome {
            policy: p, expect, ..
        } if p == policy => Some(expect.as_str()),
        _ => None,
    })
}
