#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need, starts the local
# PostgreSQL if it is installed and down, then fmt, clippy -D warnings and every test on both
# storage backends. With CI=true a PostgreSQL test may not skip.
set -euo pipefail
cd "$(dirname "$0")/.."

export MUSTER_TEST_PG="${MUSTER_TEST_PG:-postgres://postgres@127.0.0.1:5432/test}"

step() { printf '\n==> %s\n' "$*"; }

step "python tools for the tests (OpenAPI validator, schedule oracle, iCalendar parser)"
if ! python3 -c 'import openapi_spec_validator' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check openapi-spec-validator
fi
# the schedule oracle (crates/muster/tests/oracle) and the iCalendar round-trip
if ! python3 -c 'import dateutil, icalendar' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check python-dateutil icalendar
fi
# the Atom feed parser the status page tests read /status/history.atom with
if ! python3 -c 'import feedparser' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check feedparser
fi
# the real SMTP server the notification tests send email to
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
fi

step "Alertmanager and amtool (the real-Alertmanager intake test)"
if ! command -v alertmanager >/dev/null && ! command -v prometheus-alertmanager >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager
  elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus-alertmanager
  elif [ "${CI:-}" = "true" ]; then
    echo "cannot install prometheus-alertmanager and CI=true" >&2
    exit 1
  else
    echo "alertmanager not installed: its test will be skipped (it fails under CI=true)"
  fi
fi

step "PostgreSQL at 127.0.0.1:5432"
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    for v in /etc/postgresql/*; do
      pg_ctlcluster --skip-systemctl-redirect "$(basename "$v")" main start || true
    done
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "PostgreSQL is up"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable and CI=true: the PostgreSQL half of the suite cannot run" >&2
  exit 1
else
  echo "PostgreSQL not reachable: its tests will be skipped (they fail under CI=true)"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo deny (licences, bans, sources)"
./scripts/deny.sh

step "cargo test (SQLite and PostgreSQL)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi

cargo build --locked -p muster

step "web UI in Chromium (playwright-core, axe-core)"
./scripts/ui-test.sh "${CARGO_TARGET_DIR:-target}/debug/muster"

step "API conformance (schemathesis against /openapi.json, stateful phase included)"
./scripts/api-conformance.sh "${CARGO_TARGET_DIR:-target}/debug/muster"
