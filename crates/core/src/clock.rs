//! The one source of time. The shell picks a real clock; tests, drills and replay pick
//! [`SimulatedClock`], so time-dependent behaviour never needs a sleep to be tested.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// Where every reading of "now" comes from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct SimulatedClock {
    now: Mutex<Timestamp>,
}

impl SimulatedClock {
    pub fn new(start: Timestamp) -> Self {
        SimulatedClock {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock forward (or back, for a negative duration) and returns the new time.
    pub fn advance(&self, by: SignedDuration) -> Timestamp {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.saturating_add(by).unwrap_or(*now);
        *now
    }

    pub fn set(&self, to: Timestamp) {
        *self.now.lock().unwrap_or_else(|e| e.into_inner()) = to;
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_moves_only_when_told() {
        let start: Timestamp = "2026-03-29T00:30:00Z".parse().unwrap();
        let clock = SimulatedClock::new(start);
        assert_eq!(clock.now(), start);
        let later = clock.advance(SignedDuration::from_mins(20));
        assert_eq!(later.as_second() - start.as_second(), 20 * 60);
        assert_eq!(clock.now(), later);
        clock.set(start);
        assert_eq!(clock.now(), start);
    }
}
