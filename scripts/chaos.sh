#!/usr/bin/env bash
# The chaos run, long form: the suite's chaos tests (two `muster serve` nodes on a private
# PostgreSQL cluster with kill -9, SIGSTOP/SIGCONT and PostgreSQL restarts; one node on SQLite
# with kill -9) with the faults going on for SECONDS instead of 30, one test at a time. Each
# prints its counts as one line, `chaos summary {…}`; any alert lost or stored twice, any due
# timer unfired or fired twice, any page not queued exactly once fails it. Figures in
# docs/CHAOS.md.
#
#   scripts/chaos.sh [SECONDS]                  (default 300)
#   MUSTER_CHAOS_SEED=N scripts/chaos.sh        replays one seed's faults
set -euo pipefail
cd "$(dirname "$0")/.."
export MUSTER_CHAOS_SECS="${1:-300}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/muster-target}"
exec cargo nextest run -p muster --no-fail-fast --test-threads 1 --no-capture \
  -E 'test(/::chaos_/)'
