#!/usr/bin/env bash
# Dependency policy (deny.toml): permissive licences only, no OpenSSL or second TLS stack, no
# registry but crates.io, duplicates listed. Installs cargo-deny (from crates.io, built once
# into /var/tmp) when it is missing.
#
#   scripts/deny.sh                     licences, bans, sources
#   MUSTER_DENY_ADVISORIES=1 scripts/deny.sh   also RustSec advisories (fetches the database
#                                       from GitHub: only where GitHub can be reached)
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
checks=(licenses bans sources)
if [ "${MUSTER_DENY_ADVISORIES:-}" = "1" ]; then
  checks+=(advisories)
fi
"$deny" --log-level error check "${checks[@]}"
echo "cargo deny: ${checks[*]} ok"
