//! A live drill's own clock: real time, accelerated ×N, or stepped by the facilitator, with
//! pause and resume. Pure: every method takes the real instant. The drill's incident lives in
//! drill time (its timeline, its policies' deadlines); only the timers table needs real
//! instants, which [`DrillClock::real_of`] gives — or `None` while the drill cannot reach
//! that instant (paused, or beyond the current step), so the timer waits.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How a live drill's time runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DrillClock {
    /// The real instant at which `base_drill` was the drill's time.
    pub base_real: Timestamp,
    pub base_drill: Timestamp,
    /// Drill seconds per real second (1 = real time, 60 = an hour a minute).
    pub speed: f64,
    /// Drill time stops here (a step's end); `None` runs on.
    pub until: Option<Timestamp>,
    pub paused: bool,
}

/// How fast a facilitator's step plays: a ten-minute step takes a second.
pub const STEP_SPEED: f64 = 600.0;

/// The slowest and fastest a live drill may run. Slower than a hundredth of real time, a
/// two-hour drill would outlast a week; faster than ×10,000, its timers come due faster than
/// their reactions commit.
pub const SPEEDS: std::ops::RangeInclusive<f64> = 0.01..=10_000.0;

/// A facilitator's speed, or why it cannot be one (the API's 422 and Slack's reply).
pub fn check_speed(speed: f64) -> Result<f64, String> {
    if SPEEDS.contains(&speed) {
        Ok(speed)
    } else {
        Err(format!(
            "invalid speed {speed}: a number from {} to {}",
            SPEEDS.start(),
            SPEEDS.end()
        ))
    }
}

impl DrillClock {
    /// A clock running at `speed` whose drill time starts at `start` now.
    pub fn running(real: Timestamp, start: Timestamp, speed: f64) -> Self {
        DrillClock {
            base_real: real,
            base_drill: start,
            speed: sane(speed),
            until: None,
            paused: false,
        }
    }

    /// A stepped clock: it moves only when [`DrillClock::step`]ped.
    pub fn stepped(real: Timestamp, start: Timestamp) -> Self {
        DrillClock {
            until: Some(start),
            ..DrillClock::running(real, start, STEP_SPEED)
        }
    }

    /// The drill's time at the real instant `real`.
    pub fn now(&self, real: Timestamp) -> Timestamp {
        if self.paused {
            return self.base_drill;
        }
        let elapsed = real
            .duration_since(self.base_real)
            .max(SignedDuration::ZERO);
        let ran = span(elapsed.as_secs_f64() * self.speed);
        let t = self.base_drill.checked_add(ran).unwrap_or(Timestamp::MAX);
        match self.until {
            Some(u) if t > u => u,
            _ => t,
        }
    }

    /// The real instant the drill reaches `drill` (the anchor, if already past), or `None`
    /// while it cannot: paused, or beyond the end of the current step.
    pub fn real_of(&self, drill: Timestamp) -> Option<Timestamp> {
        if self.paused || self.until.is_some_and(|u| drill > u) {
            return None;
        }
        let ahead = drill
            .duration_since(self.base_drill)
            .max(SignedDuration::ZERO);
        let real = span(ahead.as_secs_f64() / self.speed);
        Some(self.base_real.checked_add(real).unwrap_or(Timestamp::MAX))
    }

    /// Re-anchored at `real` (same drill time), so speed and bounds can change from here.
    fn anchored(&self, real: Timestamp) -> Self {
        DrillClock {
            base_real: real,
            base_drill: self.now(real),
            ..*self
        }
    }

    pub fn pause(&self, real: Timestamp) -> Self {
        DrillClock {
            paused: true,
            ..self.anchored(real)
        }
    }

    /// Runs on at `speed` (unbounded: a stepped drill resumed runs freely).
    pub fn resume(&self, real: Timestamp, speed: f64) -> Self {
        DrillClock {
            paused: false,
            until: None,
            speed: sane(speed),
            ..self.anchored(real)
        }
    }

    /// Plays `by` of drill time at [`STEP_SPEED`], then stops.
    pub fn step(&self, real: Timestamp, by: SignedDuration) -> Self {
        let here = self.anchored(real);
        DrillClock {
            paused: false,
            speed: STEP_SPEED,
            until: Some(here.base_drill.checked_add(by).unwrap_or(here.base_drill)),
            ..here
        }
    }

    /// Whether the drill's time is standing still at `real` (paused, or at its step's end).
    pub fn stopped(&self, real: Timestamp) -> bool {
        self.paused || self.until.is_some_and(|u| self.now(real) >= u)
    }
}

/// Speeds are within [`SPEEDS`]; anything else runs in real time.
fn sane(speed: f64) -> f64 {
    check_speed(speed).unwrap_or(1.0)
}

/// Seconds as a duration, saturating: a far instant is "never" rather than a panic.
fn span(secs: f64) -> SignedDuration {
    SignedDuration::try_from_secs_f64(secs).unwrap_or(SignedDuration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const REAL: &str = "2026-12-03T10:00:00Z";
    const DRILL: &str = "2026-01-01T03:00:00Z";

    #[test]
    fn an_accelerated_clock_runs_n_times_faster_both_ways() {
        let c = DrillClock::running(t(REAL), t(DRILL), 60.0);
        assert_eq!(c.now(t("2026-12-03T10:02:00Z")), t("2026-01-01T05:00:00Z"));
        assert_eq!(
            c.real_of(t("2026-01-01T03:20:00Z")),
            Some(t("2026-12-03T10:00:20Z"))
        );
    }

    #[test]
    fn a_paused_clock_stands_still_and_holds_its_timers() {
        let c = DrillClock::running(t(REAL), t(DRILL), 60.0).pause(t("2026-12-03T10:00:10Z"));
        let frozen = t("2026-01-01T03:10:00Z");
        assert_eq!(c.now(t("2026-12-03T11:00:00Z")), frozen);
        assert_eq!(c.real_of(t("2026-01-01T03:20:00Z")), None);
        let r = c.resume(t("2026-12-03T12:00:00Z"), 60.0);
        assert_eq!(
            r.now(t("2026-12-03T12:00:00Z")),
            frozen,
            "no time lost or gained"
        );
        assert_eq!(
            r.real_of(t("2026-01-01T03:20:00Z")),
            Some(t("2026-12-03T12:00:10Z"))
        );
    }

    #[test]
    fn a_stepped_clock_moves_only_by_its_steps() {
        let c = DrillClock::stepped(t(REAL), t(DRILL));
        assert_eq!(c.now(t("2026-12-03T11:00:00Z")), t(DRILL));
        assert!(c.stopped(t("2026-12-03T11:00:00Z")));
        assert_eq!(c.real_of(t("2026-01-01T03:01:00Z")), None);
        let s = c.step(t("2026-12-03T11:00:00Z"), SignedDuration::from_mins(20));
        // ten drill minutes a real second, then it stops at the step's end
        assert_eq!(s.now(t("2026-12-03T11:00:01Z")), t("2026-01-01T03:10:00Z"));
        assert_eq!(s.now(t("2026-12-03T12:00:00Z")), t("2026-01-01T03:20:00Z"));
        assert_eq!(
            s.real_of(t("2026-01-01T03:15:00Z")),
            Some(t("2026-12-03T11:00:01.5Z"))
        );
        assert_eq!(s.real_of(t("2026-01-01T03:21:00Z")), None);
    }

    #[test]
    fn nonsense_speeds_run_in_real_time() {
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY, 2.4e-20, 1e9] {
            assert_eq!(DrillClock::running(t(REAL), t(DRILL), bad).speed, 1.0);
            assert_eq!(
                check_speed(bad),
                Err(format!("invalid speed {bad}: a number from 0.01 to 10000"))
            );
        }
        assert_eq!(check_speed(0.01), Ok(0.01));
        assert_eq!(check_speed(10_000.0), Ok(10_000.0));
    }

    #[test]
    fn instants_out_of_reach_saturate_instead_of_failing() {
        // A clock read back from storage is not re-checked: the slowest speed a row could hold
        // still answers, with "never" for a due a century of real time away.
        let c = DrillClock {
            speed: 1e-300,
            ..DrillClock::running(t(REAL), t(DRILL), 1.0)
        };
        assert_eq!(c.real_of(t("2026-01-01T04:00:00Z")), Some(Timestamp::MAX));
        let fast = DrillClock {
            speed: 1e300,
            ..DrillClock::running(t(REAL), t(DRILL), 1.0)
        };
        assert_eq!(fast.now(t("2026-12-03T10:00:01Z")), Timestamp::MAX);
    }
}
