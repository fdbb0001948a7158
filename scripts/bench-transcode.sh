#!/usr/bin/env bash
# The cost of adaptive bitrate: CPU per rung and per ladder, measured on ferrocast's own rung
# transcoders. See BENCHMARKS.md, "Transcoding".
#
#   scripts/bench-transcode.sh [--source 1920x1080] [--fps 30] [--duration 20] [--warmup 8]
#                              [--ladder 720p,480p,360p,240p]
#   SKIP_BUILD=1 scripts/bench-transcode.sh    # with the ferrocast already built (FERRO=path)
#
# Starts a ferrocast node (SQLite, a throwaway data dir) whose plan has the ladder, publishes a
# looped H.264/AAC test file of the source size (testsrc2, 6 Mbit/s, 1 s GOP; generated once
# under target/bench) with `ffmpeg -re -c copy` (copying costs the publisher almost nothing),
# waits for every rung's ffmpeg, and reads each one's CPU time from /proc over the window:
# cores = CPU seconds / wall seconds, decoding the source included (each rung decodes it). The
# node's own CPU (feeding and reading the pipes, packaging nothing: no player is attached) is
# reported beside it. Writes target/bench/transcode.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/target/bench
mkdir -p "$B/logs"
SOURCE=1920x1080
FPS=30
DURATION=20
WARMUP=8
LADDER=720p,480p,360p,240p
while [ $# -gt 0 ]; do
  case $1 in
    --source) SOURCE=$2; shift 2 ;;
    --fps) FPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --ladder) LADDER=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
say() { echo "== $*" >&2; }
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if ! command -v ffmpeg >/dev/null || ! command -v jq >/dev/null; then
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg jq >/dev/null
fi

FERRO=${FERRO:-$ROOT/target/release/ferrocast}
if [ -z "${SKIP_BUILD:-}" ]; then
  say "building ferrocast (release)"
  cargo build --release -q -p ferrocast
fi
SRC=$B/transcode-$SOURCE-$FPS.flv
if [ ! -s "$SRC" ]; then
  say "generating $SRC (testsrc2 $SOURCE at $FPS fps, H.264 6 Mbit/s, 1 s GOP, AAC; 30 s)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=$SOURCE:rate=$FPS" -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
    -c:v libx264 -preset veryfast -b:v 6M -maxrate 6M -bufsize 6M -g "$FPS" -keyint_min "$FPS" \
    -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$SRC"
fi

DATA=$(mktemp -d)
HTTP=18180; RTMP=19450
ladder_toml=$(tr ',' '\n' <<<"$LADDER" | sed 's/.*/"&"/' | paste -sd, -)
printf '[[plans]]\nname = "Bench"\nmax_sources = 10\nmax_destinations = 10\nmax_streaming_hours_monthly = 1000\ntranscode_ladder = [%s]\ndefault = true\n' \
  "$ladder_toml" >"$DATA/plans.toml"
FERROCAST_DATA_DIR=$DATA FERROCAST_HTTP_ADDR=127.0.0.1:$HTTP FERROCAST_RTMP_ADDR=127.0.0.1:$RTMP \
FERROCAST_PLANS_FILE=$DATA/plans.toml FERROCAST_TRANSCODE_CPUS=256 \
  "$FERRO" serve >"$B/logs/transcode-ferrocast.log" 2>&1 &
NODE=$!
PUB=
cleanup() {
  [ -n "$PUB" ] && kill "$PUB" 2>/dev/null
  kill "$NODE" 2>/dev/null; wait "$NODE" 2>/dev/null
  rm -rf "$DATA"
}
trap cleanup EXIT INT TERM
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP/health" >/dev/null && break; sleep 0.1; done
api=http://127.0.0.1:$HTTP/api
token=$(curl -sf -X POST "$api/auth/register" -H 'Content-Type: application/json' \
  -d '{"email":"transcode@example.com","password":"bench-password-1","display_name":"Bench"}' | jq -r '.access_token')
key=$(curl -sf -X POST "$api/sources" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"name":"transcode"}' | jq -r '.source.stream_key')
ffmpeg -hide_banner -loglevel error -re -stream_loop -1 -i "$SRC" -c copy -f flv "rtmp://127.0.0.1:$RTMP/live/$key" &
PUB=$!

TICK=$(getconf CLK_TCK)
cpu() { # pid → CPU ticks (user + system)
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0
}
rung_pid() { # rung → pid of its ffmpeg (a child of the node)
  pgrep -P "$NODE" -f "scale=-2:${1%p}( |$)" | head -1
}
rungs=$(tr ',' ' ' <<<"$LADDER")
say "waiting for the rungs' ffmpeg, then $WARMUP s of warm-up"
for _ in $(seq 300); do
  all=1; for r in $rungs; do [ -n "$(rung_pid "$r")" ] || all=0; done
  [ "$all" = 1 ] && break; sleep 0.1
done
sleep "$WARMUP"
declare -A PID START
for r in $rungs; do PID[$r]=$(rung_pid "$r"); START[$r]=$(cpu "${PID[$r]}"); done
node0=$(cpu "$NODE"); t0=$(date +%s.%N)
say "measuring for $DURATION s"
sleep "$DURATION"
t1=$(date +%s.%N); node1=$(cpu "$NODE")
OUT=$B/transcode.md
{
  echo "Source: testsrc2 $SOURCE at $FPS fps, H.264 6 Mbit/s, AAC; $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')); $(ffmpeg -version | head -1 | cut -d' ' -f1-3)."
  echo
  echo "| rung | output | CPU (cores) | estimate used for admission |"
  echo "|---|---|---|---|"
  total=0
  for r in $rungs; do
    pid=${PID[$r]}
    used=$(( $(cpu "$pid") - START[$r] ))
    cores=$(awk -v u="$used" -v t="$TICK" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", u / t / (b - a) }')
    total=$(awk -v x="$total" -v y="$cores" 'BEGIN { printf "%.2f", x + y }')
    est=$(awk -v h="${r%p}" 'BEGIN { printf "%.2f", 0.2 + 0.7 * h * h / (720 * 720) }')
    size=$(curl -sf "$api/sources" -H "Authorization: Bearer $token" \
      | jq -r --arg r "$r" '.sources[0].adaptive_bitrate.renditions[] | select(.name == $r) | "\(.width)×\(.height), \(.video_kbps) kbit/s"')
    echo "| $r | $size | $cores | $est |"
  done
  node=$(awk -v u="$((node1 - node0))" -v t="$TICK" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", u / t / (b - a) }')
  echo "| **ladder ($LADDER)** | | **$total** | |"
  echo
  echo "The node itself (feeding $(wc -w <<<"$rungs") transcoders and reading them back, no players): $node cores."
} | tee "$OUT"
