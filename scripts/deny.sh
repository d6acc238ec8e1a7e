#!/usr/bin/env bash
# Dependency policy (deny.toml): permissive licences only, no OpenSSL or second TLS stack, no
# registry but crates.io, duplicates listed. Installs cargo-deny (from crates.io, built once
# into /var/tmp) when it is missing.
#
#   scripts/deny.sh      licences, bans, sources; and RustSec advisories against the copy of
#                        the advisory database in ~/.cargo/advisory-dbs, when there is one
#                        (it prints the copy's date)
#   MUSTER_DENY_ADVISORIES=1 scripts/deny.sh   fetches the advisory database first (from
#                        GitHub: only where GitHub can be reached)
set -euo pipefail
cd "$(dirname "$0")/.."
root=/var/tmp/cargo-deny-root
deny="$(command -v cargo-deny || true)"
if [ -z "$deny" ]; then
  deny="$root/bin/cargo-deny"
  if [ ! -x "$deny" ]; then
    cargo install --quiet --locked cargo-deny --version 0.20.2 --no-default-features \
      --root "$root" --target-dir /var/tmp/cargo-deny-build
  fi
fi
"$deny" --log-level error check licenses bans sources
echo "cargo deny: licenses bans sources ok"
db="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-* 2>/dev/null | head -n1 || true)"
if [ "${MUSTER_DENY_ADVISORIES:-}" = "1" ]; then
  "$deny" --log-level error check advisories
  echo "cargo deny: advisories ok (database fetched now)"
elif [ -n "$db" ]; then
  "$deny" --offline --log-level error check advisories
  echo "cargo deny: advisories ok (database of $(git -C "$db" show -s --format=%cs HEAD))"
else
  echo "cargo deny: advisories not checked: no RustSec database on this machine" \
    "(MUSTER_DENY_ADVISORIES=1 fetches it)"
fi
