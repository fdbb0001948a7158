#!/usr/bin/env bash
# Glass-to-glass playback latency in Chromium: ffmpeg publishes testsrc2 with the wall clock
# burned into every frame, and the page reads the clock in each displayed frame — on the watch
# page, on the embed page framed by another origin, and with stock hls.js (its default
# settings). See BENCHMARKS.md, "Playback latency in the browser".
#
#   scripts/latency.sh [SAMPLES] [WARMUP] [GOP]
#
# Per player SAMPLES (one every 250 ms, default 120) after WARMUP seconds (default 10); the
# encoder's keyframe interval GOP in frames at 30 fps (default 30: 1 s).
#
# Needs what the browser tests need (Chromium, ffmpeg, web/node_modules); builds the web app and
# runs the test `playback_latency_in_a_real_browser` (a debug build of the node, on SQLite).
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-120}
WARMUP=${2:-10}
GOP=${3:-30}
npm run build --prefix web >/dev/null
# Debug builds embed web/dist when crates/server/src/web.rs is compiled.
touch crates/server/src/web.rs
echo "== $(date -u +%FT%TZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== $(${CHROMIUM:-/usr/bin/chromium} --version 2>/dev/null || echo chromium), $(ffmpeg -version | head -1 | cut -d' ' -f1-3), hls.js $(node -p 'require("./web/node_modules/hls.js/package.json").version')"
echo "== $SAMPLES samples per player after ${WARMUP} s, keyframe every $GOP frames (30 fps)"
FERROCAST_LATENCY_SAMPLES=$SAMPLES FERROCAST_LATENCY_WARMUP=$WARMUP FERROCAST_LATENCY_GOP=$GOP \
  cargo nextest run -p ferrocast-server --no-capture -E 'test(/playback_latency_in_a_real_browser/)' 2>&1 |
  sed -n '/glass-to-glass/,/^}/p; /end of stream/p; /PASS \[/p; /FAIL \[/p; /panicked/,+3p'
echo "== load after the run $(cut -d' ' -f1-3 /proc/loadavg)"
