#!/usr/bin/env bash
# The web UI's browser scenarios: Debian's Chromium driven by playwright-core, axe-core for the
# accessibility scan, against a real `muster serve` of the demo on a free port with a fresh
# SQLite file and tokens made by the CLI.
#
#   scripts/ui-test.sh [PATH/TO/muster]     (default: the debug build)
#
# MUSTER_SCREENSHOTS=DIR also writes the screenshots there (docs/screenshots/ for the README).
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
bin="${1:-$target/debug/muster}"
tests="crates/web/tests/browser"

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  else
    echo "Chromium (/usr/bin/chromium) is missing and cannot be installed" >&2
    exit 1
  fi
fi
if ! command -v node >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  else
    echo "node is missing" >&2
    exit 1
  fi
fi
(cd "$tests" && npm ci --no-audit --no-fund --silent)

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
cleanup() {
  if [ -n "${pid:-}" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

db="sqlite://$work/muster.db"
responder="$("$bin" token create --name alice --role responder --db "$db" | tail -n 1)"
viewer="$("$bin" token create --name watcher --role viewer --db "$db" | tail -n 1)"
admin="$("$bin" token create --name root --role admin --db "$db" | tail -n 1)"
"$bin" serve --config examples/demo --db "$db" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
pid=$!
ready=""
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "muster serve did not become ready:" >&2
  cat "$work/serve.log" >&2
  exit 1
fi

# Screenshots go where asked: an absolute path as it is, a relative one from the caller's
# directory (the tests run from their own).
shots=""
if [ -n "${MUSTER_SCREENSHOTS:-}" ]; then
  case "$MUSTER_SCREENSHOTS" in
    /*) shots="$MUSTER_SCREENSHOTS" ;;
    *) shots="$(realpath -m "$OLDPWD/$MUSTER_SCREENSHOTS")" ;;
  esac
fi
status=0
(cd "$tests" && MUSTER_URL="http://127.0.0.1:$port" MUSTER_RESPONDER_TOKEN="$responder" \
  MUSTER_VIEWER_TOKEN="$viewer" MUSTER_ADMIN_TOKEN="$admin" MUSTER_SCREENSHOTS="$shots" \
  node --test --test-concurrency=1) || status=$?
if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked during the run:" >&2
  grep -A3 "panicked" "$work/serve.log" >&2
  status=1
fi
if [ "$status" != 0 ]; then
  echo "--- server log (last 40 lines) ---" >&2
  tail -n 40 "$work/serve.log" >&2
fi
exit "$status"
