//! The `muster` binary as a new user drives it: serve, token, incident commands, check,
//! restart — on SQLite and on PostgreSQL.

mod alertmanager;
mod chaos;
mod cli;
mod cli_ack;
mod cli_tokens;
mod crash;
mod crash_ingest;
mod crash_notify;
mod drill;
mod oncall;
mod oracle;
mod pg_cluster;
mod policy;
mod procs;
mod report_load;
mod staffing;
mod staffing_lint;
mod stall;
mod template;
mod two_nodes;
mod two_nodes_notify;
