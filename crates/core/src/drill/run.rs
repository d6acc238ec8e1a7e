//! The headless run: a scenario, its injects and a profile's scripted participants through the
//! policy engine on a simulated clock. Offsets in [`Played`] are seconds from the start.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::{Act, DRILL_DATE, Inject, InjectKind, Profile, Scenario, Step};
use crate::engine::{
    Action, Event, PageTarget, PlannedAction, Policy, Simulation, Simulator, event_of, follow_up,
};
use crate::incident::{Command, Incident, IncidentNumber, Vocabulary, decide, declare_typed};
use crate::timeline::{Change, TimelineEvent};

/// Everything a drill did, in the order it happened: what scoring and the report read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Played {
    pub scenario: String,
    pub profile: Option<String>,
    pub start: Timestamp,
    pub length_s: i64,
    /// Each milestone's first arrival: (milestone, offset, who).
    pub milestones: Vec<(String, i64, String)>,
    pub roles: Vec<RoleLog>,
    pub injects: Vec<InjectLog>,
    pub messages: Vec<Message>,
    /// Every step of the profile, taken or not (the player was unreachable).
    pub steps: Vec<(i64, String, String, bool)>,
    /// Commands the incident's rules refused (resolving twice, …): offset and why.
    pub refusals: Vec<(i64, String)>,
    #[serde(skip)]
    pub simulation: Simulation,
}

impl Played {
    /// Keeps a role's first hand-over (`joined`: its player's first join) at `at_s`.
    pub fn note_role(&mut self, role: &str, person: &str, at_s: i64, joined: bool) {
        let i = match self.roles.iter().position(|r| r.role == role) {
            Some(i) => i,
            None => {
                self.roles.push(RoleLog {
                    role: role.to_string(),
                    player: person.to_string(),
                    assigned_s: None,
                    joined_s: None,
                });
                self.roles.len() - 1
            }
        };
        let log = &mut self.roles[i];
        let slot = if joined {
            &mut log.joined_s
        } else {
            &mut log.assigned_s
        };
        slot.get_or_insert(at_s);
    }
}

/// When a played role was handed to its player and when they joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoleLog {
    pub role: String,
    pub player: String,
    pub assigned_s: Option<i64>,
    pub joined_s: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InjectLog {
    pub at_s: i64,
    pub kind: &'static str,
    pub what: String,
    pub fired: bool,
    /// Why it was skipped.
    pub note: Option<String>,
}

/// Something that reached a participant or the drill's inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub at_s: i64,
    /// The player it reached, or `inbox` (pages and notifications never leave the drill).
    pub to: String,
    pub from: String,
    pub kind: MessageKind,
    pub text: String,
    /// False when its recipient had become unreachable.
    pub answered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Page,
    Notify,
    Nudge,
    Persona,
    Alert,
}

/// The instant a headless run of `scenario` starts: [`DRILL_DATE`] at its local `starts_at`
/// in its zone.
pub fn start_of(scenario: &Scenario) -> Timestamp {
    DRILL_DATE
        .parse::<jiff::civil::Date>()
        .map(|d| {
            crate::schedule::local_to_timestamp(&scenario.zone, d.to_datetime(scenario.starts_at))
        })
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Who plays each role or persona: `participant:<role>` unless `players` names a person.
fn player_of(scenario: &Scenario, players: &BTreeMap<String, String>, role: &str) -> String {
    players
        .get(role)
        .cloned()
        .filter(|_| scenario.play.iter().any(|p| p == role))
        .unwrap_or_else(|| format!("participant:{role}"))
}

/// Run `scenario` with the participants scripted by `profile` (none: nobody does anything)
/// under `policies`, from [`start_of`] to the end of its length. Every participant's act
/// and inject goes through the incident's own rules ([`decide`]) and reaches the engine as
/// the changes it makes ([`event_of`]), as in a live incident.
pub fn run(
    scenario: &Scenario,
    profile: Option<&Profile>,
    policies: &[Policy],
    vocab: &Vocabulary,
    players: &BTreeMap<String, String>,
) -> Played {
    let start = start_of(scenario);
    let mut vocab = vocab.clone();
    vocab.people.extend(
        scenario
            .play
            .iter()
            .map(|r| player_of(scenario, players, r)),
    );
    let mut drill = Drill {
        scenario,
        players,
        start,
        vocab,
        incident: None,
        sim: Simulator::new(policies),
        played: Played {
            scenario: scenario.id.clone(),
            profile: profile.map(|p| p.id.clone()),
            start,
            length_s: scenario.length.as_secs(),
            milestones: Vec::new(),
            roles: Vec::new(),
            injects: Vec::new(),
            messages: Vec::new(),
            steps: Vec::new(),
            refusals: Vec::new(),
            simulation: Simulation::default(),
        },
        unreachable: BTreeSet::new(),
        seen_actions: 0,
    };
    drill.open();
    let steps: &[Step] = profile.map_or(&[], |p| &p.steps);
    for item in agenda(&scenario.injects, steps) {
        match item {
            Item::Inject(inject) => drill.inject(inject),
            Item::Step(step) => drill.step(step),
        }
    }
    let end = at(start, scenario.length);
    drill.advance(end, true);
    let mut played = drill.played;
    played.simulation = drill.sim.finish();
    played
}

enum Item<'a> {
    Inject(&'a Inject),
    Step(&'a Step),
}

/// Injects and steps by offset; at one offset injects first, each list keeping its order.
fn agenda<'a>(injects: &'a [Inject], steps: &'a [Step]) -> Vec<Item<'a>> {
    let mut items: Vec<(SignedDuration, u8, usize, Item<'a>)> = injects
        .iter()
        .enumerate()
        .map(|(i, x)| (x.at, 0, i, Item::Inject(x)))
        .chain(
            steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.at, 1, i, Item::Step(s))),
        )
        .collect();
    items.sort_by_key(|(at, kind, i, _)| (*at, *kind, *i));
    items.into_iter().map(|(.., item)| item).collect()
}

fn at(start: Timestamp, offset: SignedDuration) -> Timestamp {
    start.checked_add(offset).unwrap_or(start)
}

struct Drill<'a> {
    scenario: &'a Scenario,
    players: &'a BTreeMap<String, String>,
    start: Timestamp,
    sim: Simulator<'a>,
    vocab: Vocabulary,
    /// The drill's incident, folded from the changes it went through (`None` until opened).
    incident: Option<Incident>,
    played: Played,
    unreachable: BTreeSet<String>,
    /// How many of the simulation's actions have been turned into messages.
    seen_actions: usize,
}

impl Drill<'_> {
    fn offset(&self, t: Timestamp) -> i64 {
        t.duration_since(self.start).as_secs()
    }

    fn player(&self, role: &str) -> String {
        player_of(self.scenario, self.players, role)
    }

    fn plays(&self, role: &str) -> bool {
        self.scenario.play.iter().any(|p| p == role)
    }

    fn open(&mut self) {
        let o = &self.scenario.incident;
        if let Some(summary) = &o.alert {
            self.played.messages.push(Message {
                at_s: 0,
                to: "inbox".into(),
                from: "alert".into(),
                kind: MessageKind::Alert,
                text: summary.clone(),
                answered: true,
            });
        }
        let opener = if o.alert.is_some() {
            "alert"
        } else {
            "scenario"
        };
        let declared = declare_typed(
            &o.title,
            o.severity,
            &o.services,
            o.incident_type.as_deref(),
            &self.vocab,
        );
        match declared {
            Ok(changes) => {
                for change in changes {
                    self.record(change, opener, self.start, true);
                }
            }
            Err(e) => self.played.refusals.push((0, format!("declaring: {e}"))),
        }
    }

    /// Ask the incident's rules; carry out the changes they allow, note a refusal.
    fn command(&mut self, command: Command, actor: &str, t: Timestamp) {
        let Some(incident) = &self.incident else {
            return;
        };
        match decide(incident, &command, &self.vocab) {
            Ok(changes) => {
                for change in changes {
                    self.record(change, actor, t, true);
                }
            }
            Err(e) => {
                let at_s = self.offset(t);
                self.played.refusals.push((at_s, format!("{actor}: {e}")));
            }
        }
    }

    /// Fold one change into the incident, log what scoring reads, and (when `feed`) tell
    /// the engine.
    fn record(&mut self, change: Change, actor: &str, t: Timestamp, feed: bool) {
        let event = event_of(&change, actor);
        let at_s = self.offset(t);
        match &change {
            Change::MilestoneReached { milestone } => self.reach(milestone, at_s, actor),
            Change::RoleAssigned { role, person, .. } => self.note_role(role, person, at_s, false),
            Change::ResponderJoined { person } => {
                let roles: Vec<String> = self
                    .scenario
                    .play
                    .iter()
                    .filter(|r| self.player(r) == *person)
                    .cloned()
                    .collect();
                for role in roles {
                    self.note_role(&role, person, at_s, true);
                }
            }
            _ => {}
        }
        let seq = self.incident.as_ref().map_or(1, |i| i.last_seq + 1);
        let stamped = TimelineEvent {
            seq,
            at: t,
            actor: actor.to_string(),
            change,
        };
        match &mut self.incident {
            Some(incident) => incident.apply(&stamped),
            None => self.incident = Incident::from_declared(IncidentNumber(0), &stamped),
        }
        if feed && let Some(event) = event {
            self.feed(event, t);
        }
    }

    /// Let the simulated clock run to `limit`, delivering what the policies did meanwhile.
    fn advance(&mut self, limit: Timestamp, inclusive: bool) {
        let follow = self.follow();
        self.sim.advance(limit, inclusive, &follow);
        self.deliver();
    }

    fn feed(&mut self, event: Event, t: Timestamp) {
        let follow = self.follow();
        self.sim.feed(&event, t, &follow);
        self.deliver();
    }

    /// A policy assigning a played role hands it to its player; other assignments follow the
    /// engine's rule (a person gets it; a schedule is left to the real rotation, which a drill
    /// never reaches).
    fn follow(&self) -> impl Fn(&PlannedAction) -> Option<Event> + use<> {
        let played: BTreeMap<String, String> = self
            .scenario
            .play
            .iter()
            .map(|r| (r.clone(), self.player(r)))
            .collect();
        move |action: &PlannedAction| match &action.action {
            Action::AssignRole { role, .. } if played.contains_key(role) => {
                Some(Event::RoleAssigned {
                    role: role.clone(),
                    person: played[role].clone(),
                })
            }
            _ => follow_up(action),
        }
    }

    fn inject(&mut self, inject: &Inject) {
        let t = at(self.start, inject.at);
        self.advance(t, false);
        let at_s = inject.at.as_secs();
        let skipped = inject.unless.as_ref().and_then(|c| {
            let (_, when, _) = self
                .played
                .milestones
                .iter()
                .find(|(m, ..)| *m == c.milestone)?;
            (*when <= c.before.as_secs()).then(|| {
                format!(
                    "skipped: {} reached at T+{}",
                    crate::brief::text::words(&c.milestone),
                    crate::words::duration_secs(*when)
                )
            })
        });
        self.played.injects.push(InjectLog {
            at_s,
            kind: inject.what.kind(),
            what: inject.what.describe(),
            fired: skipped.is_none(),
            note: skipped.clone(),
        });
        if skipped.is_some() {
            return;
        }
        match &inject.what {
            InjectKind::AlertFires { service, summary } => {
                self.message_at(
                    t,
                    "inbox",
                    &format!("alert:{service}"),
                    MessageKind::Alert,
                    summary,
                );
                self.feed(Event::AlertAttached {}, t);
            }
            InjectKind::AlertResolves { service, summary } => {
                let text = format!("resolved: {summary}");
                self.message_at(
                    t,
                    "inbox",
                    &format!("alert:{service}"),
                    MessageKind::Alert,
                    &text,
                );
            }
            InjectKind::Message { from, to, text } => {
                let player = self.player(to);
                self.message_at(t, &player, from, MessageKind::Persona, text);
            }
            InjectKind::BringIn { role } => self.join(role, t),
            InjectKind::Recovers { service } => {
                let text = format!("{service} recovered");
                self.message_at(t, "inbox", "scenario", MessageKind::Alert, &text);
            }
            InjectKind::Unreachable { role } => {
                self.unreachable.insert(self.player(role));
            }
            InjectKind::Severity { to } => self.command(update_severity(*to), "scenario", t),
        }
    }

    fn step(&mut self, step: &Step) {
        let t = at(self.start, step.at);
        self.advance(t, false);
        let player = self.player(&step.by);
        let taken = !self.unreachable.contains(&player);
        self.played.steps.push((
            step.at.as_secs(),
            step.by.clone(),
            step.act.describe(),
            taken,
        ));
        if !taken {
            return;
        }
        match &step.act {
            Act::Acknowledge => {
                self.join(&step.by, t);
                self.command(Command::Acknowledge, &player, t);
            }
            Act::Join => self.join(&step.by, t),
            Act::Milestone(m) => {
                let milestone = m.clone();
                self.command(Command::ReachMilestone { milestone }, &player, t);
            }
            Act::StatusUpdate => {
                let milestone = "status_update_posted".to_string();
                self.command(Command::ReachMilestone { milestone }, &player, t);
            }
            Act::Status(to) => {
                let update = Command::Update {
                    title: None,
                    severity: None,
                    status: Some(*to),
                    services: None,
                };
                self.command(update, &player, t);
            }
            Act::Severity(to) => self.command(update_severity(*to), &player, t),
            Act::Message => {
                let text = "(drill) an update in the incident".to_string();
                self.command(Command::AddNote { text }, &player, t);
            }
        }
    }

    /// The player of `role` joins and, if nobody holds the role yet, takes it.
    fn join(&mut self, role: &str, t: Timestamp) {
        let player = self.player(role);
        let person = player.clone();
        self.command(Command::Join { person }, &player, t);
        let held = self
            .incident
            .as_ref()
            .is_some_and(|i| i.roles.contains_key(role));
        if self.plays(role) && !held {
            let command = Command::AssignRole {
                role: role.to_string(),
                person: player.clone(),
            };
            self.command(command, &player, t);
        }
    }

    fn reach(&mut self, milestone: &str, at_s: i64, by: &str) {
        if !self.played.milestones.iter().any(|(m, ..)| m == milestone) {
            self.played
                .milestones
                .push((milestone.to_string(), at_s, by.to_string()));
        }
    }

    /// Keep a played role's first assignment and first join.
    fn note_role(&mut self, role: &str, person: &str, at_s: i64, joined: bool) {
        if self.plays(role) {
            self.played.note_role(role, person, at_s, joined);
        }
    }

    /// Turn the policies' new actions into messages: nudges to the played role's player, pages
    /// and notifications to the drill's inbox. Role hand-overs made by policies are noted too.
    fn deliver(&mut self) {
        let actions = &self.sim.simulation().actions;
        let fresh: Vec<(Timestamp, PlannedAction)> = actions[self.seen_actions..].to_vec();
        self.seen_actions = actions.len();
        for (t, a) in fresh {
            let from = format!("policy:{}", a.policy);
            match &a.action {
                Action::Nudge { role, .. } => {
                    let to = if self.plays(role) {
                        self.player(role)
                    } else {
                        "inbox".into()
                    };
                    self.message_at(t, &to, &from, MessageKind::Nudge, &a.reason);
                }
                Action::Page { target } => {
                    let text = format!("page {}: {}", target_words(target), a.reason);
                    self.message_at(t, "inbox", &from, MessageKind::Page, &text);
                }
                Action::Notify { alias, .. } => {
                    let text = format!("notify {alias}: {}", a.reason);
                    self.message_at(t, "inbox", &from, MessageKind::Notify, &text);
                }
                Action::AssignRole { .. }
                | Action::CreateTask { .. }
                | Action::DraftStatusUpdate { .. } => {}
            }
            // The engine already has the hand-over (`follow`); the incident records it.
            if let Action::AssignRole { role, .. } = &a.action
                && self.plays(role)
                && let Some(incident) = &self.incident
            {
                let command = Command::AssignRole {
                    role: role.clone(),
                    person: self.player(role),
                };
                if let Ok(changes) = decide(incident, &command, &self.vocab) {
                    for change in changes {
                        self.record(change, &from, t, false);
                    }
                }
            }
        }
    }

    fn message_at(&mut self, t: Timestamp, to: &str, from: &str, kind: MessageKind, text: &str) {
        let answered = !self.unreachable.contains(to);
        self.played.messages.push(Message {
            at_s: self.offset(t),
            to: to.to_string(),
            from: from.to_string(),
            kind,
            text: text.to_string(),
            answered,
        });
    }
}

fn target_words(target: &PageTarget) -> String {
    match target {
        PageTarget::Schedule(s) => format!("schedule {s}"),
        PageTarget::EscalationPolicy(e) => format!("escalation policy {e}"),
        PageTarget::Person(p) => format!("person {p}"),
        PageTarget::Alias(a) => format!("alias {a}"),
    }
}

fn update_severity(to: crate::incident::Severity) -> Command {
    Command::Update {
        title: None,
        severity: Some(to),
        status: None,
        services: None,
    }
}
