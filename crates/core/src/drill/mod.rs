//! Drills: exercises on the real policies, played by people in other people's shoes. Pure.
//!
//! A [`Scenario`] (written as `drills/*.yaml`, checked by the config crate) opens an incident,
//! plays [`Inject`]s at offsets and names the roles and [`Persona`]s participants play and the
//! [`Target`]s they are scored against. A [`Profile`] scripts the participants for a headless
//! run ([`run`]): the engine on a simulated clock, so a six-hour drill takes microseconds.
//! [`score`] turns what happened ([`Played`]) into per-policy verdicts and target times;
//! [`report`] writes the after-action report (Markdown, and an SVG timeline chart).
//!
//! # Semantics (decided here; tests pin them)
//! - **Time**: a headless drill starts at [`DRILL_DATE`] at the scenario's local `starts_at`
//!   in its time zone (a SEV1 "at 3 a.m." is 3 a.m. where the responders are). Offsets are
//!   from that start.
//! - **Order at one instant**: the scenario's injects first, then the participants' steps,
//!   then the timers due at that instant (so a milestone reached exactly at a deadline is met).
//! - **Conditions**: an inject with `unless: { milestone: M, before: D }` is skipped when M
//!   was reached at or before T+D. `D` never exceeds the inject's own offset (checked), so a
//!   condition only looks at the past.
//! - **Who plays what**: every role or persona in [`Scenario::play`] is played by a
//!   participant. A policy assigning such a role hands it to its player; one assigning any
//!   other role from a schedule is recorded, never sent to the real rotation. Pages and
//!   notifications reach the drill's inbox only; nudges to a played role reach its player.
//! - **Unreachable**: after `unreachable: { role: R }`, R's player does nothing more (their
//!   remaining steps are recorded as not taken), and what is sent to them goes unanswered.
//! - **Verdicts**: a deadline instance is *met* (expected milestone in time), *late* (it came
//!   after the deadline), or *missed* (never came); a deadline policy that never armed is *not
//!   applied*. A cadence is *kept* when no reminder had to fire. Targets: a milestone, or a
//!   role's player joining, within a time — met, late or missed likewise.

mod chart;
pub(crate) use chart::esc;
mod clock;
mod report;
mod run;
mod score;
#[cfg(test)]
mod tests;

use jiff::SignedDuration;
use serde::{Deserialize, Serialize};

use crate::incident::{Severity, Status};

pub use chart::svg;
pub use clock::{DrillClock, SPEEDS, STEP_SPEED, check_speed};
pub use report::{Report, markdown, timeline_lines};
pub use run::{InjectLog, Message, MessageKind, Played, RoleLog, run, start_of};
pub use score::{PolicyScore, Score, TargetScore, Totals, Verdict, score};

/// The day every headless drill starts on (a Thursday), so runs are reproducible.
pub const DRILL_DATE: &str = "2026-01-01";

/// An exercise, as written in `drills/<id>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    pub briefing: String,
    /// Local wall-clock time the incident opens at, in `time_zone`.
    pub starts_at: jiff::civil::Time,
    /// IANA zone name (checked by the config crate).
    pub time_zone: String,
    /// `time_zone` resolved by whoever builds the scenario (the config crate): the core never
    /// reads the time-zone database itself.
    #[serde(skip, default = "utc")]
    pub zone: jiff::tz::TimeZone,
    /// How long the exercise lasts.
    pub length: SignedDuration,
    pub incident: Opening,
    pub personas: Vec<Persona>,
    /// Roles and persona ids the participants play.
    pub play: Vec<String>,
    /// Who plays a role or persona unless the facilitator says otherwise (person ids).
    pub players: std::collections::BTreeMap<String, String>,
    pub injects: Vec<Inject>,
    pub targets: Vec<Target>,
}

fn utc() -> jiff::tz::TimeZone {
    jiff::tz::TimeZone::UTC
}

/// How the drill's incident opens at T+0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub title: String,
    pub severity: Severity,
    pub services: Vec<String>,
    pub incident_type: Option<String>,
    /// Opened by an alert with this summary rather than declared by a person.
    pub alert: Option<String>,
}

/// Somebody outside the response whose messages reach the participant playing them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub kind: PersonaKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonaKind {
    Pr,
    Legal,
    Executive,
    CustomerSupport,
    VipCustomer,
    Customer,
}

impl PersonaKind {
    pub const ALL: [(&'static str, PersonaKind); 6] = [
        ("pr", PersonaKind::Pr),
        ("legal", PersonaKind::Legal),
        ("executive", PersonaKind::Executive),
        ("customer_support", PersonaKind::CustomerSupport),
        ("vip_customer", PersonaKind::VipCustomer),
        ("customer", PersonaKind::Customer),
    ];
}

/// Something the scenario makes happen at `at`, unless `unless` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inject {
    pub at: SignedDuration,
    pub what: InjectKind,
    pub unless: Option<Condition>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectKind {
    /// Another alert fires on a service (attached to the drill's incident).
    AlertFires {
        service: String,
        summary: String,
    },
    AlertResolves {
        service: String,
        summary: String,
    },
    /// A persona's message reaches whoever plays `to` (a role or a persona).
    Message {
        from: String,
        to: String,
        text: String,
    },
    /// The participant playing `role` is brought in (joins and holds the role).
    BringIn {
        role: String,
    },
    /// A service recovers on its own.
    Recovers {
        service: String,
    },
    /// The participant playing `role` stops answering.
    Unreachable {
        role: String,
    },
    /// The incident's severity changes (somebody upstream re-rates it).
    Severity {
        to: Severity,
    },
}

impl InjectKind {
    pub fn kind(&self) -> &'static str {
        match self {
            InjectKind::AlertFires { .. } => "alert",
            InjectKind::AlertResolves { .. } => "alert_resolves",
            InjectKind::Message { .. } => "message",
            InjectKind::BringIn { .. } => "bring_in",
            InjectKind::Recovers { .. } => "recovers",
            InjectKind::Unreachable { .. } => "unreachable",
            InjectKind::Severity { .. } => "severity",
        }
    }

    /// One line for the timeline and the report.
    pub fn describe(&self) -> String {
        match self {
            InjectKind::AlertFires { service, summary } => {
                format!("alert fires on {service}: {summary}")
            }
            InjectKind::AlertResolves { service, summary } => {
                format!("alert resolves on {service}: {summary}")
            }
            InjectKind::Message { from, to, text } => format!("{from} to {to}: \"{text}\""),
            InjectKind::BringIn { role } => format!("{role} is brought in"),
            InjectKind::Recovers { service } => format!("{service} recovers"),
            InjectKind::Unreachable { role } => format!("{role} becomes unreachable"),
            InjectKind::Severity { to } => format!("severity re-rated to {to}"),
        }
    }
}

/// Who an inject's message reaches in a live drill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressee<'a> {
    /// Every participant.
    Everyone,
    /// The participant playing this role or persona.
    Part(&'a str),
}

impl Addressee<'_> {
    /// Whether the participant playing `part` is told.
    pub fn reaches(&self, part: &str) -> bool {
        match self {
            Addressee::Everyone => true,
            Addressee::Part(p) => *p == part,
        }
    }
}

/// What the player of an unreachable role is told.
pub const UNREACHABLE_TEXT: &str =
    "You are unreachable from now on: answer nothing until the drill ends.";

impl Scenario {
    /// The message inject `what` sends the participants of a live drill, and to whom, in the
    /// words they read (a persona's message under the persona's name); `None` when it sends
    /// none (it changes the incident instead).
    pub fn message_of<'a>(&'a self, what: &'a InjectKind) -> Option<(Addressee<'a>, String)> {
        match what {
            InjectKind::Message { from, to, text } => {
                let name = self
                    .personas
                    .iter()
                    .find(|p| p.id == *from)
                    .map_or(from.as_str(), |p| p.name.as_str());
                Some((Addressee::Part(to), format!("{name}: {text}")))
            }
            InjectKind::AlertFires { .. }
            | InjectKind::AlertResolves { .. }
            | InjectKind::Recovers { .. } => Some((Addressee::Everyone, what.describe())),
            InjectKind::Unreachable { role } => {
                Some((Addressee::Part(role), UNREACHABLE_TEXT.to_string()))
            }
            InjectKind::BringIn { .. } | InjectKind::Severity { .. } => None,
        }
    }
}

/// `unless: { milestone, before }`: skip the inject if the milestone came by T+`before`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    pub milestone: String,
    pub before: SignedDuration,
}

/// What the participants are scored against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Milestone {
        milestone: String,
        within: SignedDuration,
    },
    /// The role's player has joined within the time.
    Role {
        role: String,
        within: SignedDuration,
    },
}

impl Target {
    /// The milestone or role the target is about.
    pub fn subject(&self) -> &str {
        match self {
            Target::Milestone { milestone, .. } => milestone,
            Target::Role { role, .. } => role,
        }
    }

    pub fn within(&self) -> SignedDuration {
        match self {
            Target::Milestone { within, .. } | Target::Role { within, .. } => *within,
        }
    }
}

/// Scripted participants: what each role's player does, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub description: String,
    /// The scenario this profile was written for, if any.
    pub scenario: Option<String>,
    pub steps: Vec<Step>,
    /// Expected verdicts (a profile with expectations is a test).
    pub expect: Option<Expected>,
}

/// One scripted action of the participant playing `by`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at: SignedDuration,
    /// The role (or persona) whose player acts.
    pub by: String,
    pub act: Act,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Act {
    /// Acknowledges the page and joins.
    Acknowledge,
    /// Joins the incident in the role.
    Join,
    Milestone(String),
    StatusUpdate,
    Status(Status),
    Severity(Severity),
    /// Posts in the incident (keeps a solo responder's clock honest).
    Message,
}

impl Act {
    pub fn describe(&self) -> String {
        match self {
            Act::Acknowledge => "acknowledges".into(),
            Act::Join => "joins".into(),
            Act::Milestone(m) => format!("reaches {}", crate::brief::text::words(m)),
            Act::StatusUpdate => "posts a status update".into(),
            Act::Status(s) => format!("sets the status to {s}"),
            Act::Severity(s) => format!("re-rates to {s}"),
            Act::Message => "posts a message".into(),
        }
    }
}

/// A profile's expected verdicts, by policy id and by target subject.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub policies: Vec<(String, Verdict)>,
    pub targets: Vec<(String, Verdict)>,
    /// The expected score in percent.
    pub score: Option<u32>,
}

impl Expected {
    /// Every difference between these expectations and `score`, one sentence each.
    pub fn differences(&self, score: &Score) -> Vec<String> {
        let mut out = Vec::new();
        for (policy, want) in &self.policies {
            let got = score.policy_verdict(policy);
            if got != Some(*want) {
                out.push(format!(
                    "policy {policy}: expected {want}, got {}",
                    got.map_or("nothing".to_string(), |v| v.to_string())
                ));
            }
        }
        for (subject, want) in &self.targets {
            let got = score
                .targets
                .iter()
                .find(|t| t.subject == *subject)
                .map(|t| t.verdict);
            if got != Some(*want) {
                out.push(format!(
                    "target {subject}: expected {want}, got {}",
                    got.map_or("nothing".to_string(), |v| v.to_string())
                ));
            }
        }
        if let Some(want) = self.score
            && want != score.totals.percent
        {
            out.push(format!(
                "score: expected {want}%, got {}%",
                score.totals.percent
            ));
        }
        out
    }
}

/// A headless drill from start to report: [`run`], [`score`], [`Report::new`].
pub fn headless(
    scenario: &Scenario,
    profile: Option<&Profile>,
    policies: &[crate::engine::Policy],
    vocab: &crate::incident::Vocabulary,
    players: &std::collections::BTreeMap<String, String>,
) -> Report {
    let played = run(scenario, profile, policies, vocab, players);
    let score = score(scenario, policies, &played);
    Report::new(scenario, played, score)
}
