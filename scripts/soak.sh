#!/usr/bin/env bash
# The long form of the retention test (crates/server/tests/it/retention.rs): 20 heartbeat pings
# a minute and an open Slack incident on the simulated clock, for DAYS days with a retention of
# RETENTION_HOURS hours; prints one JSON line of counts per backend and fails if a table
# outgrows its bound or a never-pruned table grows once the run is past its retention.
#
#   scripts/soak.sh [DAYS] [RETENTION_HOURS] [BACKEND]   (default 30 24 sqlite; BACKEND sqlite|postgres|both)
set -euo pipefail
cd "$(dirname "$0")/.."
days="${1:-30}"
hours="${2:-24}"
backend="${3:-sqlite}"
export MUSTER_SOAK_MINUTES=$((days * 24 * 60))
export MUSTER_SOAK_RETENTION_MINUTES=$((hours * 60))
export MUSTER_TEST_PG="${MUSTER_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/muster-target}"
case "$backend" in
  both) filter='test(retention::heartbeats_and_a_slack_incident_stay_bounded)' ;;
  *) filter="test(retention::heartbeats_and_a_slack_incident_stay_bounded::$backend)" ;;
esac
exec cargo nextest run -p muster-server --no-fail-fast --no-capture -E "$filter"
