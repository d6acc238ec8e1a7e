//! The server's integration tests: the real router on a real socket, on SQLite and on
//! PostgreSQL, with a simulated clock.

mod alerts;
mod api;
mod notify;
mod openapi;
mod policies;
mod schedules;
mod similar;
mod status_page;
mod support;
