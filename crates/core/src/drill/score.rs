//! Scoring a played drill: each policy's verdict with its margin, each target's time, who was
//! brought in when. The same rules serve headless runs and (later) live drills: they read only
//! [`Played`].

use std::fmt;

use serde::Serialize;

use super::run::Played;
use super::{Scenario, Target};
use crate::engine::{Policy, TimerLog, TimerOp, Trigger};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Late,
    Missed,
    /// The policy's trigger never applied in this drill (not scored).
    NotApplied,
    /// An on-event or solo-responder policy fired (not scored).
    Fired,
    /// A cadence needed no reminder.
    Kept,
    NotKept,
}

impl Verdict {
    pub const ALL: [(&'static str, Verdict); 7] = [
        ("met", Verdict::Met),
        ("late", Verdict::Late),
        ("missed", Verdict::Missed),
        ("not_applied", Verdict::NotApplied),
        ("fired", Verdict::Fired),
        ("kept", Verdict::Kept),
        ("not_kept", Verdict::NotKept),
    ];

    /// Counted in the score: met and kept are good, late, missed and not kept are not.
    fn scored(self) -> Option<bool> {
        match self {
            Verdict::Met | Verdict::Kept => Some(true),
            Verdict::Late | Verdict::Missed | Verdict::NotKept => Some(false),
            Verdict::NotApplied | Verdict::Fired => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Verdict::ALL
            .iter()
            .find(|(_, v)| v == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

/// One policy (one row per deadline instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyScore {
    pub policy: String,
    /// `deadline`, `cadence`, `on_event` or `solo_responder`.
    pub kind: &'static str,
    pub verdict: Verdict,
    pub due_s: Option<i64>,
    /// When the expected milestone came (deadlines).
    pub at_s: Option<i64>,
    /// Time to spare (negative: how late).
    pub margin_s: Option<i64>,
    pub by: Option<String>,
    /// How many actions the policy took.
    pub fired: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetScore {
    /// `milestone` or `role` (its player joining).
    pub kind: &'static str,
    pub subject: String,
    pub within_s: i64,
    pub at_s: Option<i64>,
    pub verdict: Verdict,
    pub margin_s: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub met: usize,
    pub not_met: usize,
    /// `met / (met + not_met)`, rounded down; 100 when nothing was scored.
    pub percent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Score {
    pub policies: Vec<PolicyScore>,
    pub targets: Vec<TargetScore>,
    pub totals: Totals,
}

impl TargetScore {
    /// Still open in a live drill at `elapsed_s`: not reached, and its time not yet up.
    pub fn open_at(&self, elapsed_s: i64) -> bool {
        self.at_s.is_none() && elapsed_s < self.within_s
    }
}

impl Score {
    /// The totals of a live drill at `elapsed_s`: targets still open are not counted yet.
    pub fn so_far(&self, elapsed_s: i64) -> Totals {
        let targets = self.targets.iter().filter(|t| !t.open_at(elapsed_s));
        totals(
            self.policies
                .iter()
                .map(|p| p.verdict)
                .chain(targets.map(|t| t.verdict)),
        )
    }

    /// A policy's verdict (its last deadline instance's).
    pub fn policy_verdict(&self, policy: &str) -> Option<Verdict> {
        self.policies
            .iter()
            .rev()
            .find(|p| p.policy == policy)
            .map(|p| p.verdict)
    }
}

/// Score `played` against the scenario's targets and every policy.
pub fn score(scenario: &Scenario, policies: &[Policy], played: &Played) -> Score {
    let rows: Vec<PolicyScore> = policies
        .iter()
        .flat_map(|p| policy_rows(p, played))
        .collect();
    let targets: Vec<TargetScore> = scenario
        .targets
        .iter()
        .map(|t| target_row(t, played))
        .collect();
    let verdicts = rows
        .iter()
        .map(|r| r.verdict)
        .chain(targets.iter().map(|t| t.verdict));
    let totals = totals(verdicts);
    Score {
        policies: rows,
        targets,
        totals,
    }
}

fn totals(verdicts: impl Iterator<Item = Verdict>) -> Totals {
    let (mut met, mut not_met) = (0usize, 0usize);
    for good in verdicts.filter_map(Verdict::scored) {
        if good {
            met += 1;
        } else {
            not_met += 1;
        }
    }
    let percent = (met * 100)
        .checked_div(met + not_met)
        .map_or(100, |p| p as u32);
    Totals {
        met,
        not_met,
        percent,
    }
}

fn policy_rows(policy: &Policy, played: &Played) -> Vec<PolicyScore> {
    let sim = &played.simulation;
    let offset = |t: jiff::Timestamp| t.duration_since(played.start).as_secs();
    let actions = sim
        .actions
        .iter()
        .filter(|(_, a)| a.policy == policy.id)
        .count();
    let row = |kind, verdict| PolicyScore {
        policy: policy.id.clone(),
        kind,
        verdict,
        due_s: None,
        at_s: None,
        margin_s: None,
        by: None,
        fired: actions,
    };
    match &policy.trigger {
        Trigger::Deadline { .. } => {
            let rows: Vec<PolicyScore> = sim
                .outcomes
                .iter()
                .filter(|o| o.policy == policy.id)
                .map(|o| {
                    let verdict = match (o.met, &o.by) {
                        (true, _) => Verdict::Met,
                        (false, Some(_)) => Verdict::Late,
                        (false, None) => Verdict::Missed,
                    };
                    let came = verdict != Verdict::Missed;
                    PolicyScore {
                        due_s: Some(offset(o.due_at)),
                        at_s: came.then(|| offset(o.at)),
                        margin_s: came.then(|| o.margin.as_secs()),
                        by: o.by.clone(),
                        ..row("deadline", verdict)
                    }
                })
                .collect();
            if rows.is_empty() {
                vec![row("deadline", Verdict::NotApplied)]
            } else {
                rows
            }
        }
        Trigger::Cadence { .. } => {
            let prefix = format!("cadence:{}:", policy.id);
            let armed = sim.timer_log.iter().any(|(_, l)| {
                matches!(l, TimerLog::Op(TimerOp::Set { key, .. }) if key.starts_with(&prefix))
            });
            let verdict = match (armed, actions) {
                (false, _) => Verdict::NotApplied,
                (true, 0) => Verdict::Kept,
                (true, _) => Verdict::NotKept,
            };
            vec![row("cadence", verdict)]
        }
        Trigger::OnEvent(_) | Trigger::SoloResponder { .. } => {
            let kind = if matches!(policy.trigger, Trigger::OnEvent(_)) {
                "on_event"
            } else {
                "solo_responder"
            };
            let verdict = if actions > 0 {
                Verdict::Fired
            } else {
                Verdict::NotApplied
            };
            vec![row(kind, verdict)]
        }
    }
}

fn target_row(target: &Target, played: &Played) -> TargetScore {
    let (kind, at_s) = match target {
        Target::Milestone { milestone, .. } => (
            "milestone",
            played
                .milestones
                .iter()
                .find(|(m, ..)| m == milestone)
                .map(|(_, at, _)| *at),
        ),
        Target::Role { role, .. } => (
            "role",
            played
                .roles
                .iter()
                .find(|r| r.role == *role)
                .and_then(|r| r.joined_s),
        ),
    };
    let within_s = target.within().as_secs();
    let verdict = match at_s {
        Some(at) if at <= within_s => Verdict::Met,
        Some(_) => Verdict::Late,
        None => Verdict::Missed,
    };
    TargetScore {
        kind,
        subject: target.subject().to_string(),
        within_s,
        at_s,
        verdict,
        margin_s: at_s.map(|at| within_s - at),
    }
}
