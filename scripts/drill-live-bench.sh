#!/usr/bin/env bash
# A live ×60 drill of two hours (the demo's sev1-3am-blast-radius) on a real `muster serve`
# with SQLite, timed from `muster drill start` until the drill reports `ended`. Prints one
# JSON line like `muster bench`. MUSTER_BIN: the binary to run (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
M="${MUSTER_BIN:-${CARGO_TARGET_DIR:-target}/release/muster}"
PORT="${PORT:-18099}"
D=$(mktemp -d)
DB="sqlite://$D/muster.db"
TOKEN=$("$M" token create --name facilitator --role responder --db "$DB" 2>/dev/null | tail -1)
"$M" serve --config examples/demo --db "$DB" --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
PID=$!
trap 'kill $PID; rm -rf "$D"' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.1; done
export MUSTER_SERVER="http://127.0.0.1:$PORT" MUSTER_TOKEN="$TOKEN"
START=$(date +%s.%N)
"$M" drill start sev1-3am-blast-radius --speed 60 \
  --participant incident_commander=dave --participant ops_lead=erin >/dev/null
until "$M" drill status INC-1 --json | grep -q '"state":"ended"'; do sleep 0.5; done
END=$(date +%s.%N)
python3 -c "print('{\"bench\":\"drills\",\"metric\":\"live_x60_two_hours\",\"value\":%.1f,\"unit\":\"s\",\"target_s\":120}' % ($END-$START))"
