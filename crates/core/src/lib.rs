//! Muster's functional core: domain types and the decisions made on them.
//!
//! Everything here is pure and deterministic: no IO, no async runtime, no wall clock.
//! Time always arrives as an argument (see [`clock`]); the IO crates wrap this one.

pub mod access;
pub mod adherence;
pub mod alert;
pub mod brief;
pub mod clock;
pub mod control;
pub mod drill;
pub mod engine;
pub mod escalation;
pub mod ical;
pub mod incident;
pub mod load;
pub mod schedule;
pub mod secret;
pub mod staffing;
pub mod status_page;
pub mod timeline;
pub mod words;

pub use access::{Access, Scope};
pub use clock::{Clock, SimulatedClock};
pub use incident::{
    Command, DomainError, Incident, IncidentNumber, MilestoneRecord, RoleHolder, Severity, Status,
    Task, Vocabulary, decide, declare, declare_typed,
};
pub use jiff::Timestamp;
pub use secret::Secret;
pub use timeline::{Change, TimelineEvent};
