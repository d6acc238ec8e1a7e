//! The server's integration tests: the real router on a real socket, on SQLite and on
//! PostgreSQL, with a simulated clock.

mod ack_links;
mod acknowledgements;
mod alerts;
mod api;
mod authz_matrix;
mod briefs;
mod control_chars;
mod drills;
mod hardening_public;
mod inbox;
mod inbox_fallback;
mod intake_batches;
mod intake_limits;
mod load_report;
mod notify;
mod notify_concurrency;
mod notify_pacing;
mod openapi;
mod paging;
mod playbooks;
mod policies;
mod reactions;
mod retention;
mod schedules;
mod similar;
mod slack;
mod slack_ack;
mod slack_escaping;
mod slack_scopes;
mod status_page;
mod status_page_roles;
mod support;
mod team_scopes;
mod tokens;
