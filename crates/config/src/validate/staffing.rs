//! The `staffing` section (`staffing.yaml`): inputs of `muster staffing simulate` — arrivals,
//! hands-on time, acknowledgement delays, absences, the busy rule — and the response-time SLOs
//! of rotations and functional rotations. Checked after every other section, since it refers
//! to policies, schedules, aliases, services and people.

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::{Kind, V, loc};
use crate::diagnostic::{Lint, Loc};
use crate::duration::Duration;
use crate::model::{Config, Severity};
use crate::raw::S;
use crate::staffing::{
    Arrival, BusyRule, Delay, FunctionalSlo, PersonStaffing, SHAPES, Staffing, StaffingSlo,
    named_shape,
};
use crate::staffing_raw as raw;

impl V<'_> {
    /// Validates the `staffing` sections into `config` (at most one).
    pub(super) fn staffing_sections(
        &mut self,
        sections: Vec<(usize, Spanned<raw::Staffing>)>,
        config: &mut Config,
    ) {
        let mut first: Option<Loc> = None;
        for (f, x) in sections {
            let here = loc(f, &x);
            if let Some(first) = first {
                let first = self.d.short(first);
                self.d.error(
                    here,
                    format!("`staffing` is defined once (first defined at {first})"),
                );
                continue;
            }
            first = Some(here);
            config.staffing = Some(self.staffing(f, x.value, config));
        }
    }

    fn staffing(&mut self, f: usize, x: raw::Staffing, config: &Config) -> Staffing {
        let defaults = muster_core::staffing::AckDelays::DEFAULT;
        let from_core = |d: muster_core::staffing::LogNormal| Delay {
            median: Duration::from_secs(d.median as u64),
            p90: Duration::from_secs(d.p90 as u64),
        };
        let ack = x.ack_delay.unwrap_or_default();
        let delay = |v: &mut Self, d: Option<raw::Delay>, def| match d {
            Some(d) => v.delay(f, &d),
            None => def,
        };
        let awake = delay(self, ack.awake, from_core(defaults.awake));
        let commuting = delay(self, ack.commuting, from_core(defaults.commuting));
        let asleep = delay(self, ack.asleep, from_core(defaults.asleep));
        let arrivals = x
            .arrivals
            .iter()
            .filter_map(|a| self.arrival(f, a))
            .collect();
        let mut hands_on = BTreeMap::new();
        for h in &x.hands_on {
            let d = self.delay(
                f,
                &raw::Delay {
                    median: h.median.clone(),
                    p90: h.p90.clone(),
                },
            );
            if let Some(s) = self.severity(f, &h.severity) {
                hands_on.insert(s, d);
            }
        }
        let mut people = BTreeMap::new();
        for p in x.people {
            let id = self.reference(Kind::Person, f, &p.person);
            let o = PersonStaffing {
                awake: p.awake.map(|d| self.delay(f, &d)),
                commuting: p.commuting.map(|d| self.delay(f, &d)),
                asleep: p.asleep.map(|d| self.delay(f, &d)),
                absence: p
                    .absence
                    .as_ref()
                    .map(|a| self.probability(f, a, "absence")),
            };
            people.insert(id, o);
        }
        Staffing {
            time_zone: match &x.time_zone {
                Some(tz) => self.time_zone(f, tz),
                None => "Etc/UTC".into(),
            },
            arrivals,
            hands_on,
            awake,
            commuting,
            asleep,
            absence: x
                .absence
                .as_ref()
                .map_or(0.0, |a| self.probability(f, a, "absence")),
            people,
            busy: match &x.busy {
                None => BusyRule::Wait,
                Some(b) if b.value == "wait" => BusyRule::Wait,
                Some(b) if b.value.parse::<Duration>().is_err() => {
                    self.d.error(
                        loc(f, b),
                        format!(
                            "busy must be `wait` (acknowledge once free) or a delay such as 10m (found `{}`)",
                            b.value
                        ),
                    );
                    BusyRule::Wait
                }
                Some(b) => BusyRule::Extra(self.positive_duration(f, b, "busy")),
            },
            slos: x.slos.iter().filter_map(|s| self.slo(f, s)).collect(),
            functional: x
                .functional
                .iter()
                .filter_map(|s| self.functional(f, s, config))
                .collect(),
            sweep_sites: x
                .sweep
                .map(|s| s.sites.iter().map(|z| self.time_zone(f, z)).collect())
                .unwrap_or_default(),
        }
    }

    fn severity(&mut self, f: usize, s: &S) -> Option<Severity> {
        match s.value.parse::<Severity>() {
            Ok(sev) => Some(sev),
            Err(_) => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "unknown severity `{}` (expected SEV1, SEV2, SEV3 or SEV4)",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// A number > 0.
    fn rate(&mut self, f: usize, s: &S, what: &str) -> Option<f64> {
        match s.value.trim().parse::<f64>() {
            Ok(x) if x > 0.0 && x.is_finite() => Some(x),
            _ => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "{what} must be a number greater than 0 (found `{}`)",
                        s.value
                    ),
                );
                None
            }
        }
    }

    /// A probability in [0, 1).
    fn probability(&mut self, f: usize, s: &S, what: &str) -> f64 {
        match s.value.trim().parse::<f64>() {
            Ok(x) if (0.0..1.0).contains(&x) => x,
            _ => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "{what} must be a probability from 0 up to (not including) 1 (found `{}`)",
                        s.value
                    ),
                );
                0.0
            }
        }
    }

    /// An SLO target in (0, 1].
    fn slo_target(&mut self, f: usize, s: &S) -> Option<f64> {
        match s.value.trim().parse::<f64>() {
            Ok(x) if x > 0.0 && x <= 1.0 => Some(x),
            _ => {
                self.d.error(
                    loc(f, s),
                    format!(
                        "target must be a share greater than 0 and at most 1, e.g. 0.99 (found `{}`)",
                        s.value
                    ),
                );
                None
            }
        }
    }

    fn delay(&mut self, f: usize, d: &raw::Delay) -> Delay {
        let median = self.positive_duration(f, &d.median, "median");
        let p90 = self.positive_duration(f, &d.p90, "p90");
        if !median.is_zero() && p90 < median {
            self.d.error(
                loc(f, &d.p90),
                format!("p90 ({p90}) must not be shorter than the median ({median})"),
            );
        }
        Delay { median, p90 }
    }

    fn arrival(&mut self, f: usize, a: &raw::Arrival) -> Option<Arrival> {
        let severity = self.severity(f, &a.severity);
        let per_week = self.rate(f, &a.per_week, "per_week");
        let services = self.references(Kind::Service, f, &a.services);
        let shape = match (&a.shape, a.weights.is_empty()) {
            (Some(s), true) => named_shape(&s.value).or_else(|| {
                self.d.error(
                    loc(f, s),
                    format!(
                        "unknown shape `{}` (expected {}, or 24 or 168 `weights`)",
                        s.value,
                        SHAPES.join(", ")
                    ),
                );
                None
            }),
            (None, true) => named_shape("flat"),
            (Some(s), false) => {
                self.d
                    .error(loc(f, s), "give `shape` or `weights`, not both");
                None
            }
            (None, false) => self.weights(f, &a.weights),
        };
        Some(Arrival {
            severity: severity?,
            per_week: per_week?,
            shape: shape?,
            services,
        })
    }

    fn weights(&mut self, f: usize, list: &[S]) -> Option<Vec<f64>> {
        let mut ws = Vec::with_capacity(list.len());
        for w in list {
            match w.value.trim().parse::<f64>() {
                Ok(x) if x >= 0.0 && x.is_finite() => ws.push(x),
                _ => {
                    self.d.error(
                        loc(f, w),
                        format!(
                            "a weight must be a number of 0 or more (found `{}`)",
                            w.value
                        ),
                    );
                    return None;
                }
            }
        }
        let first = &list[0];
        match ws.len() {
            168 => {}
            24 => ws = (0..168).map(|h| ws[h % 24]).collect(),
            n => {
                self.d.error(
                    loc(f, first),
                    format!("weights are 24 (hours of the day) or 168 (hours of the week from Monday 00:00), not {n}"),
                );
                return None;
            }
        }
        if ws.iter().sum::<f64>() <= 0.0 {
            self.d.error(loc(f, first), "weights must not all be 0");
            return None;
        }
        Some(ws)
    }

    fn slo(&mut self, f: usize, s: &raw::Slo) -> Option<StaffingSlo> {
        let rotation = &s.rotation.value;
        if !self.exists(Kind::EscalationPolicy, rotation) && !self.exists(Kind::Schedule, rotation)
        {
            self.d.error(
                loc(f, &s.rotation),
                format!(
                    "unknown rotation `{rotation}` (expected an escalation policy or schedule id)"
                ),
            );
        }
        let severity = self.severity(f, &s.severity);
        let ack_within = self.positive_duration(f, &s.ack_within, "ack_within");
        let target = self.slo_target(f, &s.target);
        Some(StaffingSlo {
            rotation: rotation.clone(),
            severity: severity?,
            ack_within,
            target: target?,
        })
    }

    fn functional(
        &mut self,
        f: usize,
        s: &raw::Functional,
        config: &Config,
    ) -> Option<FunctionalSlo> {
        let l = loc(f, &s.name);
        let both = [
            ("alias", s.alias.is_some()),
            ("schedule", s.schedule.is_some()),
        ];
        let one = self.exactly_one(l, &format!("functional SLO `{}`", s.name.value), &both);
        let alias = s.alias.as_ref().map(|a| self.reference(Kind::Alias, f, a));
        let schedule = s
            .schedule
            .as_ref()
            .map(|x| self.reference(Kind::Schedule, f, x));
        if let Some(a) = alias.as_ref().and_then(|a| config.aliases.get(a))
            && a.schedules.is_empty()
        {
            self.d.lint(
                l,
                Lint::FunctionalSloWithoutSchedule,
                format!(
                    "functional SLO `{}` has no schedule behind it: alias `{}` names no schedule, so its response time depends on whoever happens to look",
                    s.name.value, a.id
                ),
            );
        }
        let mut severities = Vec::new();
        for x in &s.severities {
            severities.extend(self.severity(f, x));
        }
        if s.severities.is_empty() {
            self.d.error(
                l,
                format!(
                    "functional SLO `{}` needs `severities`: the incidents that involve it",
                    s.name.value
                ),
            );
        }
        let within = self.positive_duration(f, &s.within, "within");
        let target = self.slo_target(f, &s.target);
        (one && !s.severities.is_empty()).then_some(())?;
        Some(FunctionalSlo {
            name: s.name.value.clone(),
            alias,
            schedule,
            severities,
            within,
            target: target?,
        })
    }
}
