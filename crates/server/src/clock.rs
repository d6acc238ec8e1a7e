//! The real clock, for production. Tests and drills use `muster_core::SimulatedClock`.

use muster_core::{Clock, Timestamp};

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
