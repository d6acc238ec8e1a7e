//! Integration tests for muster-config (one binary: see STACK.md).

mod api;
mod demo;
mod fuzz;
mod lint;
mod schedules;
mod snapshots;
mod voice_push;
