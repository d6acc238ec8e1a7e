//! Integration tests for muster-config (one binary: see STACK.md).

mod demo;
mod snapshots;
