//! The on-call timeline: every schedule over a week, two weeks or a month in one view, in the
//! viewer's zone — the final schedule, each layer beneath it, overrides and gaps marked — and
//! the viewer's own shifts. An admin creates an override from any shift ("cover"): the same
//! checks and the same audited store call as the API's.
//!
//! Bars are SVG (positions are attributes, so the page's CSP needs no inline style), each
//! with its list of shifts as text beside it for readers that do not see the picture.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::{SignedDuration, Timestamp};
use muster_core::schedule::{Schedule, Shift, ShiftSource, layer_shifts, shifts};
use muster_core::{Access, Timestamp as Ts};
use muster_server::AppState;
use muster_server::oncall::{self, OverrideRefused};
use muster_server::scope::Owned;
use muster_store::NewOverride;
use serde::Deserialize;

use crate::page::{Layout, PageError, Time, Zone, render};
use crate::session::{Posted, Session};

/// The SVG's width in user units; bars are placed in it by time.
const WIDTH: f64 = 1000.0;
/// Colours cycle through this many person classes (`p0`…).
const PERSON_COLOURS: u64 = 8;

#[derive(Debug, Default, Deserialize)]
pub struct Window {
    /// `week` (default), `2weeks` or `month`.
    #[serde(default)]
    span: String,
    /// First day (`YYYY-MM-DD`, viewer's zone); default today.
    #[serde(default)]
    from: String,
}

pub struct Bar {
    pub x: String,
    pub w: String,
    pub class: String,
    pub label: String,
    pub title: String,
}

pub struct Row {
    pub name: String,
    pub bars: Vec<Bar>,
}

#[derive(Clone)]
pub struct ShiftLine {
    pub person: String,
    pub from: Time,
    pub to: Time,
    pub source: String,
    /// The cover form's link (admins only; empty otherwise).
    pub cover: String,
}

pub struct ScheduleView {
    pub id: String,
    pub name: String,
    pub team: String,
    pub rows: Vec<Row>,
    pub gaps: usize,
    pub overrides: usize,
    pub lines: Vec<ShiftLine>,
}

pub struct Tick {
    pub x: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "oncall.html")]
struct OnCallPage {
    layout: Layout,
    frame: Frame,
    schedules: Vec<ScheduleView>,
    mine: Vec<(String, ShiftLine)>,
    me: String,
}

fn person_class(person: &str) -> String {
    // FNV-1a: the same colour for a person on every schedule and every load.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in person.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("p{}", h % PERSON_COLOURS)
}

pub(crate) struct Scale {
    pub from: Timestamp,
    pub to: Timestamp,
}

impl Scale {
    fn x(&self, t: Timestamp) -> f64 {
        let total = (self.to - self.from).as_secs_f64().max(1.0);
        let at = (t.max(self.from).min(self.to) - self.from).as_secs_f64();
        at / total * WIDTH
    }

    fn bar(
        &self,
        start: Timestamp,
        end: Timestamp,
        class: String,
        label: &str,
        title: String,
    ) -> Bar {
        let (x0, x1) = (self.x(start), self.x(end));
        let w = (x1 - x0).max(0.5);
        // A name is written in the bar only where it fits.
        let label = if w > label.chars().count() as f64 * 7.0 + 6.0 {
            label.to_string()
        } else {
            String::new()
        };
        Bar {
            x: format!("{x0:.2}"),
            w: format!("{w:.2}"),
            class,
            label,
            title,
        }
    }
}

fn source_words(s: &ShiftSource) -> String {
    match s {
        ShiftSource::Layer { name, .. } => format!("layer {name}"),
        ShiftSource::Override { id: Some(id) } => format!("override {id}"),
        ShiftSource::Override { id: None } => "override (configuration)".into(),
    }
}

fn cover_link(schedule: &str, shift: &Shift) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("schedule", schedule)
        .append_pair("replaces", &shift.person)
        .append_pair("from", &shift.start.to_string())
        .append_pair("to", &shift.end.to_string())
        .finish();
    format!("/oncall/cover?{query}")
}

/// The window asked for: its first instant (midnight in the viewer's zone) and its length.
fn window(
    w: &Window,
    zone: &Zone,
    now: Timestamp,
) -> Result<(jiff::civil::Date, i64, &'static str), PageError> {
    let (days, span) = match w.span.as_str() {
        "" | "week" => (7, "week"),
        "2weeks" => (14, "2weeks"),
        "month" => (28, "month"),
        other => {
            return Err(PageError::invalid(format!(
                "span `{other}`: one of week, 2weeks, month"
            )));
        }
    };
    let day = if w.from.trim().is_empty() {
        now.to_zoned_datetime(zone.tz.clone()).date()
    } else {
        w.from.trim().parse().map_err(|_| {
            PageError::invalid(format!("from `{}` is not a date like 2026-03-01", w.from))
        })?
    };
    Ok((day, days, span))
}

fn midnight(day: jiff::civil::Date, zone: &Zone) -> Result<Timestamp, PageError> {
    day.to_zoned_datetime(zone.tz.clone())
        .map(|z| z.timestamp())
        .map_err(|e| PageError::invalid(format!("{day}: {e}")))
}

/// The window a timeline shows: its scale, day ticks, and the links to the windows before
/// and after it.
pub struct Frame {
    pub(crate) scale: Scale,
    /// The page the window's form and links go to.
    pub path: String,
    pub span: String,
    pub from: String,
    pub prev: String,
    pub next: String,
    pub ticks: Vec<Tick>,
}

impl Frame {
    /// The window `w` asks for, midnight to midnight in the viewer's zone; links go to `path`.
    pub fn of(w: &Window, zone: &Zone, now: Timestamp, path: &str) -> Result<Frame, PageError> {
        let (day, days, span) = window(w, zone, now)?;
        let from = midnight(day, zone)?;
        let end_day = day
            .checked_add(SignedDuration::from_hours(24 * days))
            .map_err(|e| PageError::invalid(e.to_string()))?;
        let scale = Scale {
            from,
            to: midnight(end_day, zone)?,
        };
        let mut ticks = Vec::new();
        for n in 0..days {
            let Ok(d) = day.checked_add(SignedDuration::from_hours(24 * n)) else {
                break;
            };
            ticks.push(Tick {
                x: format!("{:.2}", scale.x(midnight(d, zone)?)),
                label: d.strftime("%a %d").to_string(),
            });
        }
        let step = SignedDuration::from_hours(24 * days);
        let link = |d: Option<jiff::civil::Date>| {
            d.map(|d| format!("{path}?span={span}&from={d}"))
                .unwrap_or_default()
        };
        Ok(Frame {
            scale,
            path: path.to_string(),
            span: span.to_string(),
            from: day.to_string(),
            prev: link(day.checked_sub(step).ok()),
            next: link(day.checked_add(step).ok()),
            ticks,
        })
    }
}

/// One schedule over the scale's window: its final schedule (overrides and gaps marked), then
/// each layer, as bars, and the final schedule as a list with cover links for admins.
pub(crate) fn schedule_view(
    s: &muster_config::Schedule,
    sched: &Schedule,
    scale: &Scale,
    session: &Session,
) -> ScheduleView {
    let zone = &session.zone;
    let admin = session.access.allows(Access::Admin);
    let resolution = shifts(sched, scale.from, scale.to);
    let mut final_row: Vec<Bar> = Vec::new();
    let mut lines = Vec::new();
    let mut override_count = 0;
    for sh in &resolution.shifts {
        let is_override = matches!(sh.source, ShiftSource::Override { .. });
        override_count += usize::from(is_override);
        let class = format!(
            "{}{}",
            person_class(&sh.person),
            if is_override { " ovr" } else { "" }
        );
        let a = Time::new(sh.start, zone);
        let b = Time::new(sh.end, zone);
        let title = format!(
            "{}: {} – {} ({})",
            sh.person,
            a.local,
            b.local,
            source_words(&sh.source)
        );
        final_row.push(scale.bar(sh.start, sh.end, class, &sh.person, title));
        lines.push(ShiftLine {
            person: sh.person.clone(),
            from: a,
            to: b,
            source: source_words(&sh.source),
            cover: if admin {
                cover_link(&s.id, sh)
            } else {
                String::new()
            },
        });
    }
    for g in &resolution.gaps {
        let a = Time::new(g.start, zone);
        let b = Time::new(g.end, zone);
        final_row.push(scale.bar(
            g.start,
            g.end,
            "gap".into(),
            "gap",
            format!("Nobody on call: {} – {}", a.local, b.local),
        ));
    }
    let mut rows = vec![Row {
        name: "Final".into(),
        bars: final_row,
    }];
    for (i, layer) in sched.layers.iter().enumerate() {
        let bars = layer_shifts(sched, i, scale.from, scale.to)
            .iter()
            .map(|sh| {
                let title = format!(
                    "{}: {} – {} (layer {})",
                    sh.person,
                    Time::new(sh.start, zone).local,
                    Time::new(sh.end, zone).local,
                    layer.name
                );
                scale.bar(
                    sh.start,
                    sh.end,
                    person_class(&sh.person),
                    &sh.person,
                    title,
                )
            })
            .collect();
        rows.push(Row {
            name: format!("Layer {}", layer.name),
            bars,
        });
    }
    ScheduleView {
        id: s.id.clone(),
        name: s.name.clone(),
        team: s.team.clone().unwrap_or_default(),
        rows,
        gaps: resolution.gaps.len(),
        overrides: override_count,
        lines,
    }
}

pub async fn timeline(
    State(state): State<AppState>,
    session: Session,
    Query(w): Query<Window>,
) -> Result<Response, PageError> {
    let frame = Frame::of(&w, &session.zone, state.clock.now(), "/oncall")?;
    let cfg = state.config();
    let config = &cfg.config;
    let overrides = oncall::runtime_overrides(&state.store).await?;
    let mut schedules = Vec::new();
    let mut mine = Vec::new();
    for s in config.schedules.values() {
        let Some(sched) = oncall::effective_schedule(config, &overrides, &s.id) else {
            continue;
        };
        let view = schedule_view(s, &sched, &frame.scale, &session);
        mine.extend(
            view.lines
                .iter()
                .filter(|l| l.person == session.name)
                .map(|l| (s.name.clone(), l.clone())),
        );
        schedules.push(view);
    }
    let page = OnCallPage {
        layout: Layout::new("On call", "oncall", &session, "/oncall"),
        frame,
        schedules,
        mine,
        me: session.name.clone(),
    };
    Ok(render(&page))
}

#[derive(Debug, Default, Deserialize)]
pub struct CoverParams {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    replaces: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Template)]
#[template(path = "cover.html")]
struct CoverPage {
    layout: Layout,
    schedule: String,
    schedule_name: String,
    replaces: String,
    from_iso: String,
    to_iso: String,
    from: Time,
    to: Time,
    people: Vec<String>,
}

fn instant(field: &str, raw: &str) -> Result<Ts, PageError> {
    raw.parse::<Ts>().map_err(|_| {
        PageError::invalid(format!(
            "{field} `{raw}` is not an instant like 2026-03-01T09:00:00Z"
        ))
    })
}

/// The form to cover a shift: who takes it, and why.
pub async fn cover_form(
    State(state): State<AppState>,
    session: Session,
    Query(p): Query<CoverParams>,
) -> Result<Response, PageError> {
    session.require(Access::Admin)?;
    let cfg = state.config();
    let Some(schedule) = cfg.config.schedules.get(&p.schedule) else {
        return Err(PageError::not_found(format!(
            "There is no schedule {}.",
            p.schedule
        )));
    };
    let (from, to) = (instant("from", &p.from)?, instant("to", &p.to)?);
    let page = CoverPage {
        layout: Layout::new("Cover a shift", "oncall", &session, "/oncall"),
        schedule: schedule.id.clone(),
        schedule_name: schedule.name.clone(),
        replaces: p.replaces.clone(),
        from_iso: from.to_string(),
        to_iso: to.to_string(),
        from: Time::new(from, &session.zone),
        to: Time::new(to, &session.zone),
        people: cfg
            .config
            .people
            .keys()
            .filter(|k| **k != p.replaces)
            .cloned()
            .collect(),
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub struct CoverForm {
    #[serde(default)]
    schedule: String,
    #[serde(default)]
    person: String,
    #[serde(default)]
    replaces: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    reason: String,
}

/// Stores the override, audited, through the store call the API makes, after the API's checks.
pub async fn cover(
    State(state): State<AppState>,
    p: Posted<CoverForm>,
) -> Result<Response, PageError> {
    let Posted { session, form } = p;
    session.require(Access::Admin)?;
    session
        .require_owner(&state, Owned::Schedule(form.schedule.clone()))
        .await?;
    let new = NewOverride {
        schedule: form.schedule,
        person: form.person,
        replaces: Some(form.replaces).filter(|r| !r.is_empty()),
        from: instant("from", &form.from)?,
        to: instant("to", &form.to)?,
        reason: form.reason.trim().to_string(),
    };
    match oncall::check_override(&state.config().config, &new) {
        Ok(()) => {}
        Err(OverrideRefused::UnknownSchedule(m)) => return Err(PageError::not_found(m)),
        Err(OverrideRefused::Invalid(m)) => return Err(PageError::invalid(m)),
    }
    muster_core::control::check("reason", &new.reason)?;
    let stored = state
        .store
        .create_override(&new, &session.name, state.clock.now())
        .await?;
    tracing::info!(schedule = %stored.schedule, id = %stored.id, actor = %session.name, "override created from the web UI");
    Ok(Redirect::to("/oncall").into_response())
}
