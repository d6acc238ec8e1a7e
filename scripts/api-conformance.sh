#!/usr/bin/env bash
# Property-based API conformance: schemathesis generates requests from /openapi.json (examples,
# coverage, fuzzing and the stateful phase that chains operations through their links) against
# a real `muster serve` of the demo, and fails on any 5xx and on any answer, content type,
# header or body the document does not describe.
#
#   scripts/api-conformance.sh [PATH/TO/muster]     (default: the debug build)
#
# MUSTER_ST_EXAMPLES (default 30) examples per operation; MUSTER_ST_SEED a seed (default a
# fixed one, so a red run replays; set it to `random` to explore).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="${1:-$target/debug/muster}"
venv="${MUSTER_ST_VENV:-/var/tmp/muster-schemathesis}"
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'schemathesis>=4.3,<5'
fi

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

db="sqlite://$work/muster.db"
token="$("$bin" token create --name conformance --role admin --db "$db" | tail -n 1)"
"$bin" serve --config examples/demo --db "$db" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done

seed=()
[ "${MUSTER_ST_SEED:-1}" = "random" ] || seed=(--seed "${MUSTER_ST_SEED:-20261203}")
status=0
"$venv/bin/st" run "http://127.0.0.1:$port/openapi.json" \
  --url "http://127.0.0.1:$port" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${MUSTER_ST_EXAMPLES:-30}" --workers 1 "${seed[@]}" || status=$?
if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked during the run:" >&2
  grep -A3 "panicked" "$work/serve.log" >&2
  status=1
fi
exit "$status"
