//! A drill's incident in the reactions: it lives in drill time, it reaches nobody outside the
//! drill, and its injects play on its own clock.
//!
//! - **Time**: everything about the incident (timeline, policy deadlines) is in drill time;
//!   the timers table alone needs real instants. [`on_clock`] turns a drill-time due into the
//!   real instant the drill's clock reaches it, or parks the timer far ahead while the clock
//!   cannot (paused, or beyond a step); the drill time stays in the payload, so [`retime`]
//!   can place every pending timer again when the clock changes.
//! - **Containment**: the policy carrier sends pages to a stand-in name ([`stand_in`]) instead
//!   of a rotation, hands roles to their players, marks every message `exercise` (the
//!   deliverer then uses the inbox only), and no Slack effect is made for the incident.
//! - **Injects**: one timer per inject and one for the end (`INC-7/drill:inject:<n>`,
//!   `INC-7/drill:end`); [`on_drill_timer`] plays them.

use jiff::Timestamp;
use muster_core::drill::{Addressee, InjectKind, Scenario};
use muster_core::engine::PageTarget;
use muster_core::{Change, Command, Incident, IncidentNumber, decide};
use muster_store::{ClaimedTimer, TimerChange, TimerSpec};
use serde_json::{Value, json};

use super::{Followup, Reactions};
use crate::effect::{Effect, Message, Origin};
use crate::policy_state::{DrillState, PolicyState};

/// Where a timer waits while its drill cannot reach it (far beyond any real instant).
fn parked() -> Timestamp {
    Timestamp::from_second(253_370_764_800).unwrap_or(Timestamp::MAX)
}

/// `spec`, due in drill time, as the timers table needs it (see the module docs). Timers of
/// other incidents pass through unchanged.
pub fn on_clock(drill: Option<&DrillState>, mut spec: TimerSpec) -> TimerSpec {
    let Some(drill) = drill else {
        return spec;
    };
    let due = spec.due_at;
    if let Value::Object(m) = &mut spec.payload {
        m.insert("drill_due".into(), json!(due));
    }
    spec.due_at = drill.clock.real_of(due).unwrap_or_else(parked);
    spec
}

/// The drill time a drill's timer is due at.
pub fn drill_due(payload: &Value) -> Option<Timestamp> {
    serde_json::from_value(payload.get("drill_due")?.clone()).ok()
}

/// The name a drill's page lands under in its inbox: never a real rotation's people.
pub fn stand_in(target: &PageTarget) -> String {
    match target {
        PageTarget::Schedule(s) => format!("schedule:{s}"),
        PageTarget::EscalationPolicy(e) => format!("escalation:{e}"),
        PageTarget::Person(p) => format!("person:{p}"),
        PageTarget::Alias(a) => format!("alias:{a}"),
    }
}

/// The drill's time at the real instant `real`, when `state` is a drill's.
pub fn drill_now(state: &Value, real: Timestamp) -> Option<Timestamp> {
    let drill: DrillState = serde_json::from_value(state.get("drill")?.clone()).ok()?;
    Some(drill.clock.now(real))
}

/// The instant a timer fires at for its incident: a drill's timer at its drill-time due
/// (the drill's clock placed it there), any other timer of a drill's incident at the drill's
/// time, everything else at the real instant.
pub fn fired_at(timer: &ClaimedTimer, state: &Value, real: Timestamp) -> Timestamp {
    match (drill_due(&timer.payload), drill_now(state, real)) {
        (Some(due), Some(_)) => due,
        (None, Some(now)) => now,
        _ => real,
    }
}

fn inject_key(incident: IncidentNumber, n: usize) -> String {
    format!("{incident}/drill:inject:{n}")
}

fn end_key(incident: IncidentNumber) -> String {
    format!("{incident}/drill:end")
}

/// The drill's own timers still to come (injects not yet played, the end), on its clock.
pub fn drill_timers(
    incident: IncidentNumber,
    drill: &DrillState,
    s: &Scenario,
) -> Vec<TimerChange> {
    if drill.ended.is_some() {
        return Vec::new();
    }
    let at = |offset| drill.start.checked_add(offset).unwrap_or(drill.start);
    let mut out: Vec<TimerChange> = s
        .injects
        .iter()
        .enumerate()
        .filter(|(n, _)| !drill.injects.contains_key(n))
        .map(|(n, inject)| {
            TimerChange::Set(on_clock(
                Some(drill),
                TimerSpec {
                    key: inject_key(incident, n),
                    incident: Some(incident),
                    due_at: at(inject.at),
                    payload: json!({ "drill": "inject", "index": n }),
                },
            ))
        })
        .collect();
    out.push(TimerChange::Set(on_clock(
        Some(drill),
        TimerSpec {
            key: end_key(incident),
            incident: Some(incident),
            due_at: at(s.length),
            payload: json!({ "drill": "end" }),
        },
    )));
    out
}

/// Every pending timer of a drill's incident placed again on its (changed) clock: the
/// policies' timers and the drill's own.
pub fn retime(incident: IncidentNumber, st: &PolicyState, s: &Scenario) -> Vec<TimerChange> {
    let Some(drill) = &st.drill else {
        return Vec::new();
    };
    let mut out: Vec<TimerChange> = st
        .engine
        .pending_timers()
        .map(|t| {
            TimerChange::Set(on_clock(
                Some(drill),
                TimerSpec {
                    key: format!("{incident}/{}", t.key),
                    incident: Some(incident),
                    due_at: t.due_at,
                    payload: json!({ "engine": t.key }),
                },
            ))
        })
        .collect();
    out.extend(drill_timers(incident, drill, s));
    out
}

/// What a drill timer coming due does (`None`: not a drill timer).
pub fn on_drill_timer(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    timer: &ClaimedTimer,
) -> Option<Followup> {
    let kind = timer.payload.get("drill")?.as_str()?;
    let mut st = PolicyState::decode(state).ok()?;
    let drill = st.drill.clone()?;
    let mut out = Followup::default();
    let actor = format!("drill:{}", drill.scenario);
    let Some(scenario) = ctx.cfg.config.drills.get(&drill.scenario) else {
        let what = format!("scenario `{}` is no longer configured", drill.scenario);
        out.push(Some(actor), Change::DrillEvent { what });
        return Some(out);
    };
    if drill.ended.is_some() {
        return Some(out);
    }
    match kind {
        "end" => {
            out.extend(end(
                ctx,
                incident,
                &mut st,
                scenario,
                &actor,
                "its time is up",
            ));
            *state = st.encode();
        }
        _ => {
            let n = timer.payload.get("index")?.as_u64()? as usize;
            let inject = scenario.injects.get(n)?;
            let skipped = inject.unless.as_ref().and_then(|c| {
                let m = incident.milestone(&c.milestone)?;
                let by = drill.start.checked_add(c.before).ok()?;
                (m.at <= by).then(|| format!("skipped: {} was reached in time", c.milestone))
            });
            let what = inject.what.describe();
            let note = skipped.clone().unwrap_or_else(|| "played".into());
            if let Some(d) = &mut st.drill {
                d.injects.insert(n, note.clone());
            }
            *state = st.encode();
            out.push(
                Some(actor.clone()),
                Change::DrillEvent {
                    what: format!("inject {n} {note}: {what}"),
                },
            );
            if skipped.is_none() {
                out.extend(play(ctx, incident, state, &drill, scenario, n, &actor));
            }
        }
    }
    Some(out)
}

/// One inject's effect on the incident and the participants.
fn play(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    drill: &DrillState,
    s: &Scenario,
    n: usize,
    actor: &str,
) -> Followup {
    let Some(inject) = s.injects.get(n) else {
        return Followup::default();
    };
    let player = |role: &str| drill.players.get(role).cloned();
    let everyone: Vec<String> = {
        let mut p: Vec<String> = drill.players.values().cloned().collect();
        p.sort();
        p.dedup();
        p
    };
    let tell = |to: Vec<String>, text: String| {
        let message = Message {
            incident: Some(incident.id.to_string()),
            to,
            exercise: true,
            origin: Origin::Policy {
                policy: format!("drill:{}", s.id),
                reason: text,
                action: None,
                depth: 0,
                playbook: None,
            },
        };
        Effect::Notify(message).item(
            format!("{}/drill:inject:{n}", incident.id),
            Some(incident.id),
        )
    };
    let mut out = Followup::default();
    if let Some((to, text)) = s.message_of(&inject.what) {
        let to = match to {
            Addressee::Everyone => everyone,
            Addressee::Part(part) => player(part).into_iter().collect(),
        };
        out.outbox(tell(to, text));
    }
    let command = match &inject.what {
        InjectKind::Message { .. }
        | InjectKind::AlertFires { .. }
        | InjectKind::AlertResolves { .. }
        | InjectKind::Recovers { .. }
        | InjectKind::Unreachable { .. } => None,
        InjectKind::BringIn { role } => player(role).map(|person| {
            vec![
                Command::Join {
                    person: person.clone(),
                },
                Command::AssignRole {
                    role: role.clone(),
                    person,
                },
            ]
        }),
        InjectKind::Severity { to } => Some(vec![Command::Update {
            title: None,
            severity: Some(*to),
            status: None,
            services: None,
        }]),
    };
    for c in command.unwrap_or_default() {
        out.extend(decided(ctx, incident, state, &c, actor));
    }
    out
}

/// A command the scenario gives, with what follows it. Refused commands (the role is already
/// held by that person, …) do nothing.
fn decided(
    ctx: &Reactions<'_>,
    incident: &Incident,
    state: &mut Value,
    command: &Command,
    actor: &str,
) -> Followup {
    let Ok(changes) = decide(incident, command, &ctx.cfg.vocab) else {
        return Followup::default();
    };
    let follow = ctx.changed(incident, state, &changes, actor);
    let mut out = Followup::default();
    for c in changes {
        out.push(Some(actor.to_string()), c);
    }
    out.extend(follow);
    out
}

/// Ends the drill: its clock stops, every pending timer is cancelled, the incident resolved.
pub fn end(
    ctx: &Reactions<'_>,
    incident: &Incident,
    st: &mut PolicyState,
    s: &Scenario,
    actor: &str,
    why: &str,
) -> Followup {
    let mut out = Followup::default();
    let Some(drill) = &mut st.drill else {
        return out;
    };
    drill.ended = Some(ctx.now);
    drill.clock = drill.clock.pause(ctx.now);
    // The engine keeps them as pending; the incident is resolved below, so nothing re-arms.
    for t in st.engine.pending_timers() {
        out.timer(TimerChange::Cancel {
            key: format!("{}/{}", incident.id, t.key),
        });
    }
    for n in (0..s.injects.len()).filter(|n| !drill.injects.contains_key(n)) {
        out.timer(TimerChange::Cancel {
            key: inject_key(incident.id, n),
        });
    }
    out.timer(TimerChange::Cancel {
        key: end_key(incident.id),
    });
    out.push(
        Some(actor.to_string()),
        Change::DrillEvent {
            what: format!("ended: {why}"),
        },
    );
    for c in decide(incident, &Command::Resolve, &ctx.cfg.vocab).unwrap_or_default() {
        out.push(Some(actor.to_string()), c);
    }
    out
}
