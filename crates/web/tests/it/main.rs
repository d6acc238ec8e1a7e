//! The web UI's integration tests: the whole router (API and pages under the same layers)
//! driven in-process, on SQLite and on PostgreSQL, with a simulated clock.

mod alerts;
mod drills;
mod incident_page;
mod live;
mod oncall;
mod policies;
mod schedule_page;
mod scopes;
mod security;
mod sessions;
mod staffing;
mod status_admin;
mod support;
