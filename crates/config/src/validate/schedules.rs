//! Schedules: zones, layers, restrictions and overrides checked and converted, and the
//! coverage lints (a gap in who is on call within the next weeks).

use super::*;

impl V<'_> {
    pub(super) fn schedule(&mut self, f: usize, x: raw::Schedule) -> Schedule {
        let time_zone = self.time_zone(f, &x.time_zone);
        let team = x.team.as_ref().map(|t| self.reference(Kind::Team, f, t));
        if x.layers.value.is_empty() {
            self.d.error(
                loc(f, &x.layers),
                format!("schedule `{}` has no layers", x.id.value),
            );
        }
        let mut layer_names: BTreeMap<String, Loc> = BTreeMap::new();
        let mut layers = Vec::new();
        let mut layer_spans = Vec::new();
        for layer in x.layers.value {
            layer_spans.push(rotation_lint::LayerSpans {
                shift: loc(f, &layer.shift),
                members: layer.members.value.iter().map(|m| loc(f, m)).collect(),
            });
            let l = loc(f, &layer.name);
            if layer.name.value.trim().is_empty() {
                self.d.error(l, "layer name is empty");
            } else if let Some(first) = layer_names.get(&layer.name.value) {
                let first = self.d.short(*first);
                self.d.error(
                    l,
                    format!(
                        "duplicate layer name `{}` in this schedule (first at {first})",
                        layer.name.value
                    ),
                );
            } else {
                layer_names.insert(layer.name.value.clone(), l);
            }
            layers.push(self.layer(f, layer));
        }
        let members: BTreeSet<&str> = layers
            .iter()
            .flat_map(|l| l.members.iter().map(String::as_str))
            .collect();
        self.rotation_spans.schedule(&x.id.value, layer_spans);
        let mut overrides = Vec::new();
        for o in &x.overrides {
            let person = self.reference(Kind::Person, f, &o.person);
            let replaces = o.replaces.as_ref().map(|r| {
                let id = self.reference(Kind::Person, f, r);
                if self.exists(Kind::Person, &id) && !members.contains(id.as_str()) {
                    self.d.warning(
                        loc(f, r),
                        format!("override replaces `{id}`, who is in no layer of this schedule"),
                    );
                }
                id
            });
            let from = self.timestamp(f, &o.from);
            let to = self.timestamp(f, &o.to);
            if let (Some(from), Some(to)) = (from, to)
                && to <= from
            {
                self.d.error(
                    loc(f, &o.to),
                    format!(
                        "override ends before it starts (`to` {} is not after `from` {})",
                        o.to.value, o.from.value
                    ),
                );
            }
            overrides.push(Override {
                person,
                replaces,
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
                reason: o.reason.clone(),
            });
        }
        Schedule {
            name: x.name.unwrap_or_else(|| x.id.value.clone()),
            id: x.id.value,
            time_zone,
            team,
            layers,
            overrides,
        }
    }

    pub(super) fn timestamp(&mut self, f: usize, s: &S) -> Option<jiff::Timestamp> {
        match s.value.parse::<jiff::Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "invalid timestamp `{}` (expected RFC 3339 with an offset, like 2026-12-24T09:00:00Z)",
                        s.value
                    ),
                );
                None
            }
        }
    }

    pub(super) fn layer(&mut self, f: usize, x: raw::Layer) -> Layer {
        if x.members.value.is_empty() {
            self.d.error(
                loc(f, &x.members),
                format!("layer `{}` has no members", x.name.value),
            );
        }
        if x.members.value.len() == 1 {
            self.d.warning(
                loc(f, &x.members),
                format!(
                    "layer `{}` has one member: they are on call whenever it covers, with nobody to hand off to",
                    x.name.value
                ),
            );
        }
        let members = self.references(Kind::Person, f, &x.members.value);
        let shift = self.shift_length(f, &x.shift);
        let handoff = self.time_of_day(f, &x.handoff);
        let start = match x.start.value.parse::<jiff::civil::Date>() {
            Ok(d) => d,
            Err(_) => {
                self.d.error(
                    loc(f, &x.start),
                    format!("invalid date `{}` (expected YYYY-MM-DD)", x.start.value),
                );
                jiff::civil::Date::default()
            }
        };
        let restrictions = self.restrictions(f, &x.restrictions);
        Layer {
            name: x.name.value,
            members,
            shift,
            handoff,
            start,
            restrictions,
        }
    }

    pub(super) fn restrictions(&mut self, f: usize, list: &[raw::Restriction]) -> Vec<Restriction> {
        const DAYS: [(&str, Weekday); 7] = [
            ("mon", Weekday::Mon),
            ("tue", Weekday::Tue),
            ("wed", Weekday::Wed),
            ("thu", Weekday::Thu),
            ("fri", Weekday::Fri),
            ("sat", Weekday::Sat),
            ("sun", Weekday::Sun),
        ];
        let mut out: Vec<(Restriction, bool)> = Vec::new();
        for r in list {
            let mut days = Vec::new();
            if r.days.value.is_empty() {
                self.d.error(loc(f, &r.days), "restriction has no days");
            }
            for day in &r.days.value {
                if let Some(w) = self.word(f, day, "day", &DAYS) {
                    if days.contains(&w) {
                        self.d
                            .error(loc(f, day), format!("day `{}` is listed twice", day.value));
                    } else {
                        days.push(w);
                    }
                }
            }
            let from = self.parse::<TimeOfDay>(f, &r.from);
            let to = self.parse::<TimeOfDay>(f, &r.to);
            let times_ok = from.is_some() && to.is_some();
            let restriction = Restriction {
                days,
                from: from.unwrap_or_default(),
                to: to.unwrap_or_default(),
            };
            // compare with the earlier restrictions of this layer
            let comparable = if times_ok { out.as_slice() } else { &[] };
            for (i, (earlier, ok)) in comparable.iter().enumerate() {
                if !ok {
                    continue;
                }
                if let Some(day) = overlap(earlier, &restriction) {
                    let msg = format!(
                        "restriction overlaps restriction {} of this layer on {} ({}-{} and {}-{})",
                        i + 1,
                        day.name(),
                        earlier.from,
                        earlier.to,
                        restriction.from,
                        restriction.to
                    );
                    self.d.error(loc(f, &r.from), msg);
                    break;
                }
            }
            out.push((restriction, times_ok));
        }
        out.into_iter().map(|(r, _)| r).collect()
    }
}

/// How far ahead `muster check` looks for coverage gaps.
const LINT_HORIZON_DAYS: i64 = 8 * 7;

impl V<'_> {
    // ------------------------------------------------------------ schedule lints

    pub(super) fn shift_length(&mut self, f: usize, s: &S) -> ShiftLength {
        match s.value.parse::<ShiftLength>() {
            Ok(l) => l,
            Err(e) => {
                self.d.error(loc(f, s), e.to_string());
                ShiftLength::Days(1)
            }
        }
    }

    /// Warnings that need the current time: coverage gaps in the next 8 weeks, in schedules and
    /// behind escalation steps. Skipped while the configuration has errors (its schedules may be
    /// placeholders), so they appear once the errors are fixed.
    pub(super) fn coverage_lints(&mut self, config: &Config, now: jiff::Timestamp) {
        if self.d.has_errors() {
            return;
        }
        let horizon = now
            .checked_add(jiff::SignedDuration::from_hours(24 * LINT_HORIZON_DAYS))
            .unwrap_or(now);
        let mut gaps: BTreeMap<&str, Option<String>> = BTreeMap::new();
        for (id, schedule) in &config.schedules {
            let Ok(core) = schedule.to_core() else {
                continue;
            };
            let gap = muster_core::schedule::first_gap(&core, now, horizon)
                .map(|g| describe_gap(&core.time_zone, schedule.time_zone.as_str(), g));
            if let (Some(text), Some(l)) = (
                &gap,
                self.ids
                    .get(&Kind::Schedule)
                    .and_then(|m| m.get(id))
                    .copied(),
            ) {
                self.d.warning(
                    l,
                    format!(
                        "schedule `{id}` has nobody on call {text} (first gap in the next 8 weeks)"
                    ),
                );
            }
            gaps.insert(id.as_str(), gap);
        }
        let targets = std::mem::take(&mut self.schedule_targets);
        for t in &targets {
            if let Some(Some(text)) = gaps.get(t.schedule.as_str()) {
                self.d.warning(
                    t.at,
                    format!(
                        "escalation policy `{}` pages schedule `{}` here, which has nobody on call {text}: this step may page nobody",
                        t.policy, t.schedule
                    ),
                );
            }
        }
        self.schedule_targets = targets;
    }
}

/// `from 2026-12-24 17:00 (Europe/London) to 2026-12-28 09:00` for a lint message.
fn describe_gap(tz: &jiff::tz::TimeZone, name: &str, gap: muster_core::schedule::Gap) -> String {
    let fmt = |t: jiff::Timestamp| {
        t.to_zoned_datetime(tz.clone())
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    format!("from {} to {} ({name})", fmt(gap.start), fmt(gap.end))
}

/// The first weekday on which `b` overlaps `a` (windows may cross midnight, also Sun → Mon).
pub(super) fn overlap(a: &Restriction, b: &Restriction) -> Option<Weekday> {
    const DAY: u32 = 24 * 60;
    const WEEK: u32 = 7 * DAY;
    let windows = |r: &Restriction| -> Vec<(Weekday, u32, u32)> {
        let from = r.from.minutes_since_midnight();
        let to = r.to.minutes_since_midnight();
        let len = if to > from {
            to - from
        } else {
            DAY - from + to
        };
        r.days
            .iter()
            .map(|d| {
                let start = d.index() as u32 * DAY + from;
                (*d, start, start + len)
            })
            .collect()
    };
    let wa = windows(a);
    for (day, s2, e2) in windows(b) {
        for &(_, s1, e1) in &wa {
            for shift in [0, WEEK] {
                // compare b with a, shifting either by a week to catch Sun → Mon wrap-around
                if (s1 + shift).max(s2) < (e1 + shift).min(e2)
                    || s1.max(s2 + shift) < e1.min(e2 + shift)
                {
                    return Some(day);
                }
            }
        }
    }
    None
}
