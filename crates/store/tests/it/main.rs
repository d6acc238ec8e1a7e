//! The store's integration tests: one binary, every test body run on SQLite and PostgreSQL
//! (see `harness` for how PostgreSQL is found, and when its tests skip).

#[macro_use]
mod harness;

mod ack_links;
mod alerts;
mod brief_digests;
mod brief_reads;
mod commands;
mod concurrency;
mod connect;
mod inbox;
mod incidents;
mod outbox;
mod overrides;
mod retention;
mod schedule_versions;
mod similar;
mod slack;
mod status_page;
mod timers;
mod tokens;
