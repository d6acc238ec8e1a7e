//! The after-action report of a drill: [`Report`] (serialized as the JSON report) and its
//! Markdown rendering. Times are offsets from the drill's start (`T+25 min`), as a facilitator
//! talks about them in a debrief.

use serde::Serialize;

use super::Scenario;
use super::run::{MessageKind, Played};
use super::score::{Score, Verdict};
use crate::brief::text::{md, words};
use crate::words::duration_secs;

/// Everything the debrief needs, in one value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub title: String,
    pub time_zone: String,
    /// The start as a local date and time in the scenario's zone (`2026-01-01 03:00`).
    #[serde(skip)]
    pub local_start: String,
    /// Always true: a drill's incident is an exercise.
    pub exercise: bool,
    #[serde(flatten)]
    pub played: Played,
    pub score: Score,
}

impl Report {
    pub fn new(scenario: &Scenario, played: Played, score: Score) -> Self {
        let dt = scenario.zone.to_datetime(played.start);
        Report {
            title: scenario.title.clone(),
            time_zone: scenario.time_zone.clone(),
            local_start: format!("{} {:02}:{:02}", dt.date(), dt.hour(), dt.minute()),
            exercise: true,
            played,
            score,
        }
    }
}

fn t(at_s: i64) -> String {
    format!("T+{}", duration_secs(at_s))
}

fn margin(margin_s: Option<i64>) -> String {
    match margin_s {
        Some(m) if m >= 0 => format!("{} to spare", duration_secs(m)),
        Some(m) => format!("{} late", duration_secs(m)),
        None => "—".into(),
    }
}

/// The report in Markdown: score, policies, targets, who was brought in, injects, timeline.
pub fn markdown(r: &Report) -> String {
    let p = &r.played;
    let local = &r.local_start;
    let mut out = format!("# Drill report: {}\n\n", md(&r.title));
    out += &format!(
        "Exercise `{}`{} · started {local} ({}) · {} long\n\n",
        p.scenario,
        p.profile
            .as_ref()
            .map(|x| format!(" · profile `{x}`"))
            .unwrap_or_default(),
        r.time_zone,
        duration_secs(p.length_s),
    );
    let s = &r.score;
    out += &format!(
        "**Score: {} %** ({} of {} met)\n\n",
        s.totals.percent,
        s.totals.met,
        s.totals.met + s.totals.not_met
    );
    out += "## Policies\n\n| Policy | Kind | Verdict | Due | Came | Margin | Actions |\n|---|---|---|---|---|---|---|\n";
    for row in &s.policies {
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            row.policy,
            words(row.kind),
            verdict_cell(row.verdict),
            row.due_s.map(t).unwrap_or_else(|| "—".into()),
            row.at_s.map(t).unwrap_or_else(|| "—".into()),
            margin(row.margin_s),
            row.fired
        );
    }
    if !s.targets.is_empty() {
        out += "\n## Targets\n\n| Target | Within | Reached | Verdict | Margin |\n|---|---|---|---|---|\n";
        for row in &s.targets {
            let what = match row.kind {
                "role" => format!("{} joins", words(&row.subject)),
                _ => words(&row.subject),
            };
            out += &format!(
                "| {what} | {} | {} | {} | {} |\n",
                duration_secs(row.within_s),
                row.at_s.map(t).unwrap_or_else(|| "never".into()),
                verdict_cell(row.verdict),
                margin(row.margin_s)
            );
        }
    }
    if !p.roles.is_empty() {
        out += "\n## Who was brought in\n\n| Role | Played by | Held from | Joined |\n|---|---|---|---|\n";
        for role in &p.roles {
            out += &format!(
                "| {} | {} | {} | {} |\n",
                words(&role.role),
                md(&role.player),
                role.assigned_s.map(t).unwrap_or_else(|| "—".into()),
                role.joined_s.map(t).unwrap_or_else(|| "never".into()),
            );
        }
    }
    out += "\n## Timeline\n\n";
    for (at_s, line) in timeline(p, s) {
        out += &format!("- {} — {}\n", t(at_s), line);
    }
    out
}

fn verdict_cell(v: Verdict) -> String {
    match v {
        Verdict::Met | Verdict::Kept => format!("✅ {v}"),
        Verdict::Late | Verdict::NotKept => format!("⚠️ {}", words(&v.to_string())),
        Verdict::Missed => format!("❌ {v}"),
        Verdict::NotApplied | Verdict::Fired => words(&v.to_string()),
    }
}

/// Everything that happened, in order: injects, participants' steps, messages, verdicts.
/// At one instant: injects, then steps, then messages, then deadline verdicts.
pub(super) fn timeline(p: &Played, s: &Score) -> Vec<(i64, String)> {
    let mut rows: Vec<(i64, u8, usize, String)> = Vec::new();
    for (i, inject) in p.injects.iter().enumerate() {
        let line = match &inject.note {
            Some(note) => format!("inject: {} ({note})", md(&inject.what)),
            None => format!("inject: {}", md(&inject.what)),
        };
        rows.push((inject.at_s, 0, i, line));
    }
    for (i, (at, by, act, taken)) in p.steps.iter().enumerate() {
        let line = if *taken {
            format!("{} {act}", words(by))
        } else {
            format!("{} would have {act}, but is unreachable", words(by))
        };
        rows.push((*at, 1, i, line));
    }
    for (i, m) in p.messages.iter().enumerate() {
        let kind = match m.kind {
            MessageKind::Page => "page",
            MessageKind::Notify => "notification",
            MessageKind::Nudge => "nudge",
            MessageKind::Persona => "message",
            MessageKind::Alert => "alert",
        };
        let unanswered = if m.answered { "" } else { " (unanswered)" };
        rows.push((
            m.at_s,
            2,
            i,
            format!(
                "{kind} from {} to {}{unanswered}: {}",
                md(&m.from),
                md(&m.to),
                md(&m.text)
            ),
        ));
    }
    for (i, (at, why)) in p.refusals.iter().enumerate() {
        rows.push((
            *at,
            2,
            p.messages.len() + i,
            format!("refused: {}", md(why)),
        ));
    }
    for (i, row) in s.policies.iter().enumerate() {
        let Some(due) = row.due_s else { continue };
        let line = match row.verdict {
            Verdict::Met => format!(
                "{} met ({} to spare)",
                row.policy,
                duration_secs(row.margin_s.unwrap_or(0))
            ),
            _ => format!("{} deadline passed ({})", row.policy, row.verdict),
        };
        let at = if row.verdict == Verdict::Met {
            row.at_s.unwrap_or(due)
        } else {
            due
        };
        rows.push((at, 3, i, line));
    }
    rows.sort_by_key(|(at, kind, i, _)| (*at, *kind, *i));
    rows.into_iter().map(|(at, _, _, l)| (at, l)).collect()
}

/// The report's timeline as (offset in seconds, line), for pacing it live.
pub fn timeline_lines(r: &Report) -> Vec<(i64, String)> {
    timeline(&r.played, &r.score)
}
