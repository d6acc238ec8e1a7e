#!/usr/bin/env bash
# Runs every fuzz target (tests named `fuzz_*`: the config loader, templates, Slack commands and
# interactions, the status page, the SQL parameter rewriter) for a bounded time each, with a
# fresh seed; a failure prints the seed and saves the input under $TMPDIR/muster-fuzz/.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]        (default 60)
#   MUSTER_FUZZ_SEED=N scripts/fuzz.sh          replays one seed
set -euo pipefail
cd "$(dirname "$0")/.."
export MUSTER_FUZZ_SECS="${1:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/muster-target}"
# One target at a time: each gets the machine for its whole budget.
exec cargo nextest run --workspace --no-fail-fast --test-threads 1 --no-capture \
  -E 'test(/::fuzz_/)'
