//! The `muster` binary as a new user drives it: serve, token, incident commands, check,
//! restart — on SQLite and on PostgreSQL.

mod cli;
mod crash;
mod oncall;
mod oracle;
mod policy;
mod two_nodes;
