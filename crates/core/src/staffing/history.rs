//! Fitting the model's inputs from past incidents (a history file or a Muster database):
//! arrivals per week and per hour of week for each severity, the services they landed on,
//! and the lognormal hands-on time (resolution minus acknowledgement, or minus declaration
//! when no acknowledgement was recorded).
//!
//! The history covers whole weeks from its first declaration to its last (at least one). The
//! hour-of-week shape of a severity is its counts plus a flat prior worth half the observed
//! incidents, so a short history does not claim that Tuesdays at 03:00 never break.

use jiff::Timestamp;
use jiff::tz::TimeZone;

use super::LogNormal;
use crate::Severity;

/// One past incident.
#[derive(Clone, Debug, PartialEq)]
pub struct PastIncident {
    pub declared_at: Timestamp,
    pub severity: Severity,
    pub service: Option<String>,
    pub acknowledged_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FittedStream {
    pub severity: Severity,
    pub per_week: f64,
    pub shape: Vec<f64>,
    /// (service, incidents), in first-seen order.
    pub services: Vec<(String, f64)>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fitted {
    pub weeks: f64,
    pub incidents: usize,
    pub streams: Vec<FittedStream>,
    pub hands_on: Vec<(Severity, LogNormal)>,
}

const WEEK: i64 = 7 * 86_400;

/// Fits `incidents`, reading hours of the week in `zone`; `None` for an empty history.
pub fn fit(incidents: &[PastIncident], zone: &TimeZone) -> Option<Fitted> {
    let first = incidents.iter().map(|i| i.declared_at).min()?;
    let last = incidents.iter().map(|i| i.declared_at).max()?;
    let span = (last.as_second() - first.as_second()) as f64;
    let weeks = (span / WEEK as f64).ceil().max(1.0);
    let mut streams = Vec::new();
    let mut hands_on = Vec::new();
    for severity in Severity::ALL {
        let mine: Vec<&PastIncident> = incidents
            .iter()
            .filter(|i| i.severity == severity)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let prior = 0.5 * mine.len() as f64 / 168.0;
        let mut shape = vec![prior; 168];
        let mut services: Vec<(String, f64)> = Vec::new();
        for i in &mine {
            let local = zone.to_datetime(i.declared_at);
            let how = local.weekday().to_monday_zero_offset() as usize * 24 + local.hour() as usize;
            shape[how] += 1.0;
            if let Some(s) = &i.service {
                match services.iter_mut().find(|(x, _)| x == s) {
                    Some(entry) => entry.1 += 1.0,
                    None => services.push((s.clone(), 1.0)),
                }
            }
        }
        streams.push(FittedStream {
            severity,
            per_week: mine.len() as f64 / weeks,
            shape,
            services,
        });
        let durations: Vec<f64> = mine
            .iter()
            .filter_map(|i| {
                let from = i.acknowledged_at.unwrap_or(i.declared_at);
                i.resolved_at
                    .map(|r| (r.as_second() - from.as_second()) as f64)
            })
            .collect();
        if let Some(d) = LogNormal::fit(&durations) {
            hands_on.push((severity, d));
        }
    }
    Some(Fitted {
        weeks,
        incidents: incidents.len(),
        streams,
        hands_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inc(at: &str, sev: Severity, minutes: i64) -> PastIncident {
        let declared_at: Timestamp = at.parse().unwrap_or_else(|e| panic!("{e}"));
        PastIncident {
            declared_at,
            severity: sev,
            service: Some("checkout".into()),
            acknowledged_at: None,
            resolved_at: Some(declared_at + jiff::SignedDuration::from_mins(minutes)),
        }
    }

    #[test]
    fn arrivals_per_week_shape_and_hands_on_come_from_the_history() {
        let h = vec![
            inc("2026-01-05T10:00:00Z", Severity::Sev2, 30),
            inc("2026-01-12T10:30:00Z", Severity::Sev2, 120),
            inc("2026-01-19T10:10:00Z", Severity::Sev2, 60),
            inc("2026-01-20T03:00:00Z", Severity::Sev1, 90),
        ];
        let f = fit(&h, &TimeZone::UTC).unwrap_or_else(|| panic!("no fit"));
        assert_eq!(f.weeks, 3.0);
        let sev2 = &f.streams[1];
        assert_eq!(sev2.severity, Severity::Sev2);
        assert_eq!(sev2.per_week, 1.0);
        // Monday 10:00 holds all three, plus the prior
        assert!((sev2.shape[10] - (3.0 + 1.5 / 168.0)).abs() < 1e-12);
        assert!((sev2.shape[11] - 1.5 / 168.0).abs() < 1e-12);
        assert_eq!(sev2.services, vec![("checkout".to_string(), 3.0)]);
        let (_, d) = f
            .hands_on
            .iter()
            .find(|(s, _)| *s == Severity::Sev2)
            .copied()
            .unwrap_or_else(|| panic!("no hands-on"));
        // geometric mean of 30, 120, 60 minutes is 60 minutes
        assert!((d.median - 3600.0).abs() < 1e-6, "{d:?}");
        // one SEV1 sample: no hands-on fit, the configured one stays
        assert!(f.hands_on.iter().all(|(s, _)| *s != Severity::Sev1));
    }
}
