#!/usr/bin/env bash
# Sets up and runs every test of ferrocast. Works on a fresh Debian machine with Rust installed;
# CI runs it through .ci/run. Extra arguments go to `cargo nextest run` (or `cargo test`).
#
#   scripts/test.sh                 # everything
#   scripts/test.sh -p ferrocast-db # one crate
#
# PostgreSQL: the integration suite runs on SQLite and on PostgreSQL
# (FERROCAST_TEST_POSTGRES_URL, default postgres://127.0.0.1:5432/test). Without a reachable
# PostgreSQL the PostgreSQL half is skipped with a notice — except under CI=true, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. System tools the tests drive: ffmpeg (doctor, media and restream tests), oathtool (an
#    independent RFC 6238 implementation for the two-factor tests) and openssl (a test
#    certificate for the RTMPS destination).
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. PostgreSQL.
pg_url=${FERROCAST_TEST_POSTGRES_URL:-postgres://127.0.0.1:5432/test}
export FERROCAST_TEST_POSTGRES_URL="$pg_url"
hostport=${pg_url#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
pg_host=${hostport%%:*}; pg_port=${hostport##*:}; [ "$pg_port" = "$hostport" ] && pg_port=5432
if (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; then
  say "PostgreSQL reachable at $pg_host:$pg_port: the suite runs on SQLite and PostgreSQL"
elif [ "${CI:-}" = "true" ]; then
  echo "error: PostgreSQL at $pg_host:$pg_port is unreachable, and CI=true requires it." >&2
  echo "       Start PostgreSQL or set FERROCAST_TEST_POSTGRES_URL." >&2
  exit 1
else
  say "PostgreSQL unreachable at $pg_host:$pg_port: PostgreSQL tests will be SKIPPED (set FERROCAST_TEST_POSTGRES_URL to run them)"
fi

# 3. The tests.
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run --workspace"
  cargo nextest run --workspace --no-fail-fast "$@"
else
  say "cargo-nextest not installed; using cargo test (install it with: cargo install cargo-nextest --locked)"
  cargo test --workspace --no-fail-fast "$@"
fi
say "all tests passed"
