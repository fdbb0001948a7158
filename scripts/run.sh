#!/usr/bin/env bash
# Sets up and runs a ferrocast node from this checkout: checks Node.js, builds the web app when
# it is missing or older than its sources, then builds and starts the server in release mode
# (`ferrocast serve`; the release binary carries the web app inside it). Extra arguments go to
# `ferrocast serve`; settings also come from FERROCAST_* variables and ./ferrocast.toml.
#
#   scripts/run.sh                                                  # http://127.0.0.1:8080, RTMP 127.0.0.1:1935, data in ./data
#   FERROCAST_PUBLIC_URL=http://192.168.1.20:8080 \
#     scripts/run.sh --http-addr 0.0.0.0:8080 --rtmp-addr 0.0.0.0:1935   # reachable from other machines
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/node.sh

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. The tools: Node.js (new enough for the web build) and Rust.
check_node
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: Rust is not installed (no \`cargo\` on PATH); install it with rustup: https://rustup.rs" >&2
  exit 1
fi

# 2. The web app: its packages exactly as locked (again when the lock file changed), and its
#    build (web/dist) when that is missing or older than any of its sources.
if [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
  say "npm ci (web)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
if [ ! -f web/dist/index.html ] ||
  [ -n "$(find web/src web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json \
    web/openapi.json web/scripts -newer web/dist/index.html -print -quit)" ]; then
  say "npm run build (web)"
  npm run build --prefix web --silent
fi

# 3. The server, built in release mode (minutes the first time) and run.
say "cargo run --release -p ferrocast -- serve${*:+ $*}"
exec cargo run --release -p ferrocast -- serve "$@"
