//! Integration tests for muster-config (one binary: see STACK.md).

mod api;
mod demo;
mod lint;
mod schedules;
mod snapshots;
