#!/usr/bin/env bash
# Benchmarks ferrocast against nginx-rtmp, node-media-server 4.x and xiu on this machine, on
# loopback, through the same scenarios in one run. See BENCHMARKS.md.
#
#   scripts/bench.sh [--servers ferrocast,nginx,nms,xiu] [--scenarios fanout-rtmp,fanout-flv,ingest,mixed,hls,relay]
#                    [--duration 15] [--warmup 5] [--fanout 1,10,100,500] [--ingest 1,10,25,50]
#   scripts/bench.sh --servers ferrocast --scenarios chat [--chat-clients 5000] [--chat-senders 20]
#   scripts/bench.sh --servers ferrocast,nginx --scenarios record [--record 10]
#   scripts/bench.sh --servers ferrocast --scenarios upload [--upload-mb 1024] [--upload-chunk-mb 64]
#   scripts/bench.sh --servers ferrocast --scenarios edge [--edge-players 500]
#
# Environment: FERRO_BIN measures another ferrocast build than target/release/ferrocast (two
# builds compared in one session); FERRO_ENV adds settings to ferrocast's environment
# (e.g. FERRO_ENV="FERROCAST_RTMP_COALESCE_MS=0").
#
# `edge` (ferrocast only, not in the default list): one publisher on an origin node and that many
# RTMP players on the origin itself, then on an edge node relaying it (FERROCAST_NODE_ROLE=edge);
# the origin's CPU in both, the edge's CPU in target/bench/edge.md.
# `record` (not in the default list): the same publishers without and with recording (ferrocast:
# its plan's `record_by_default`; nginx-rtmp: `record all` to FLV files), so that the cost of
# recording per live stream reads against ingest alone.
# `upload` (not in the default list): one file sent by curl over tus 1.0 in PATCH requests of
# --upload-chunk-mb, to ferrocast on its data dir, to ferrocast on moto's S3 server (PyPI,
# target/test-python, installed by scripts/test.sh) and, as the peer, to the reference tus server
# for Node.js (@tus/server with @tus/file-store under target/bench/tus-node); wall time from
# creation to the last byte acknowledged (ferrocast's includes moving the file into storage), and
# the server's CPU seconds per GiB. Writes target/bench/upload.md.
# `chat` (ferrocast only, not in the default list): that many stock socket.io-client
# connections in one chat room, each sender sending a message a second; delivered messages per
# second, delivery latency, server CPU and RSS (crates/server/tests/js/chat-bench.mjs).
#
# Installs what is missing (apt-get: ffmpeg nginx libnginx-mod-rtmp; npm: node-media-server@4
# under target/bench/nms; cargo install xiu into target/bench/cargo), generates
# target/bench/test.flv once, writes target/bench/results.json and target/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/target/bench
mkdir -p "$B/runs" "$B/logs"

SERVERS=ferrocast,nginx,nms,xiu
SCENARIOS=fanout-rtmp,fanout-flv,ingest,mixed,hls,relay
RELAY=10
SINK_PORT=19400
DURATION=15
WARMUP=5
FANOUT=1,10,100,500
INGEST=1,10,25,50
CHAT_CLIENTS=5000
CHAT_SENDERS=20
RECORD_PUBS=10
UPLOAD_MB=1024
UPLOAD_CHUNK_MB=64
EDGE_PLAYERS=500
# 1 while a run records (see start_server).
RECORD=0
while [ $# -gt 0 ]; do
  case $1 in
    --servers) SERVERS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --fanout) FANOUT=$2; shift 2 ;;
    --ingest) INGEST=$2; shift 2 ;;
    --chat-clients) CHAT_CLIENTS=$2; shift 2 ;;
    --chat-senders) CHAT_SENDERS=$2; shift 2 ;;
    --record) RECORD_PUBS=$2; shift 2 ;;
    --upload-mb) UPLOAD_MB=$2; shift 2 ;;
    --upload-chunk-mb) UPLOAD_CHUNK_MB=$2; shift 2 ;;
    --edge-players) EDGE_PLAYERS=$2; shift 2 ;;
    -h|--help) sed -n 2,27p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
has() { case ",$1," in *",$2,"*) return 0 ;; *) return 1 ;; esac; }
say() { echo "== $*" >&2; }

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# ---------------------------------------------------------------- install what is missing
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
APT_UPDATED=
apt_install() {
  [ -n "$APT_UPDATED" ] || { $SUDO apt-get update -qq; APT_UPDATED=1; }
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
command -v ffmpeg >/dev/null || apt_install ffmpeg
NGINX_MOD=
if has "$SERVERS" nginx; then
  if ! command -v nginx >/dev/null || ! ls /usr/lib/nginx/modules/ngx_rtmp_module.so >/dev/null 2>&1; then
    apt_install nginx libnginx-mod-rtmp || say "nginx or libnginx-mod-rtmp could not be installed; skipping nginx"
  fi
  # Debian's nginx service starts on install; we run our own instance.
  $SUDO systemctl stop nginx 2>/dev/null || $SUDO service nginx stop 2>/dev/null || true
  NGINX_MOD=$(ls /usr/lib/nginx/modules/ngx_rtmp_module.so 2>/dev/null || true)
  [ -n "$NGINX_MOD" ] || { say "no ngx_rtmp_module; skipping nginx"; SERVERS=${SERVERS//nginx/}; }
fi
if has "$SERVERS" nms; then
  if [ ! -f "$B/nms/node_modules/node-media-server/package.json" ]; then
    mkdir -p "$B/nms"
    (cd "$B/nms" && npm init -y >/dev/null && npm install --no-audit --no-fund node-media-server@4 >/dev/null) \
      || { say "node-media-server could not be installed; skipping it"; SERVERS=${SERVERS//nms/}; }
  fi
fi
XIU=$B/cargo/bin/xiu
if has "$SERVERS" xiu && [ ! -x "$XIU" ]; then
  # xiu's WebRTC support links libopus (audiopus_sys) through pkg-config.
  dpkg -s libopus-dev >/dev/null 2>&1 && command -v pkg-config >/dev/null || apt_install libopus-dev pkg-config || true
  say "cargo install xiu (this can take a long time)"
  # A kept target dir lets an interrupted build resume instead of starting over (~400 crates).
  if ! timeout 3600 cargo install --locked --root "$B/cargo" --target-dir "$B/xiu-target" xiu >"$B/logs/xiu-install.log" 2>&1; then
    say "xiu failed to build (see $B/logs/xiu-install.log); running the others"
    SERVERS=${SERVERS//xiu/}
  fi
fi

# ---------------------------------------------------------------- tools and test media
say "building ferrocast and ferrocast-bench (release)"
cargo build --release -q -p ferrocast -p ferrocast-bench
BENCH=$ROOT/target/release/ferrocast-bench
FERRO=${FERRO_BIN:-$ROOT/target/release/ferrocast}
FLV=$B/test.flv
if [ ! -s "$FLV" ]; then
  say "generating $FLV (720p30 H.264 3 Mbps, 1 s GOP, AAC 128 kbps, 30 s)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine=frequency=440:sample_rate=48000 -t 30 \
    -c:v libx264 -preset veryfast -tune zerolatency -b:v 3M -maxrate 3M -bufsize 3M \
    -g 30 -keyint_min 30 -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 128k -ar 48000 -f flv "$FLV"
fi

# ---------------------------------------------------------------- servers
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT INT TERM

wait_port() { # port
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  say "port $1 did not open"; return 1
}

FERRO_DATA=$B/ferrocast-data
FERRO_HTTP=18080; FERRO_RTMP=19350
NGINX_RTMP=19351
NMS_RTMP=19352; NMS_HTTP=18082
XIU_RTMP=19353; XIU_HTTP=18083

start_server() { # name
  case $1 in
    ferrocast)
      # A plan without limits: the benchmark needs 50 sources and 10 destinations on one account.
      # Every benchmark client comes from 127.0.0.1, so the per-address caps (RTMP, HTTP,
      # Socket.IO) are off, and restream destinations may use any port.
      # Recording is off unless the run measures it (`record`), and its objects start empty.
      printf '[[plans]]\nname = "Bench"\nmax_sources = 1000\nmax_destinations = 1000\nmax_streaming_hours_monthly = 100000\nmax_storage_gb = 100000\nmax_upload_mb = 100000\nrecord_by_default = %s\ndefault = true\n' \
        "$([ "$RECORD" = 1 ] && echo true || echo false)" >"$B/plans.toml"
      rm -rf "$FERRO_DATA/objects"
      FERROCAST_DATA_DIR=$FERRO_DATA FERROCAST_HTTP_ADDR=127.0.0.1:$FERRO_HTTP \
      FERROCAST_RTMP_ADDR=127.0.0.1:$FERRO_RTMP FERROCAST_AUTH_RATE_LIMIT=100000 \
      FERROCAST_API_RATE_LIMIT=100000 FERROCAST_PLANS_FILE=$B/plans.toml \
      FERROCAST_RESTREAM_ALLOW_PRIVATE_TARGETS=true \
      FERROCAST_RTMP_MAX_CONNECTIONS_PER_IP=0 FERROCAST_RTMP_MAX_PENDING_PER_IP=0 \
      FERROCAST_HTTP_MAX_CONNECTIONS_PER_IP=0 FERROCAST_SOCKETIO_MAX_PER_IP=0 \
      FERROCAST_RESTREAM_ALLOWED_PORTS=any \
        env ${FERRO_ENV:-} "$FERRO" serve >>"$B/logs/ferrocast.log" 2>&1 &
      SERVER_PID=$!; wait_port $FERRO_HTTP; wait_port $FERRO_RTMP ;;
    nginx)
      mkdir -p "$B/nginx/logs"
      rm -rf "$B/nginx/rec"; mkdir -p "$B/nginx/rec"
      cat >"$B/nginx/nginx.conf" <<CONF
load_module $NGINX_MOD;
daemon off;
master_process on;
# nginx-rtmp's live fan-out runs in one worker (more need rtmp_auto_push).
worker_processes 1;
pid $B/nginx/nginx.pid;
error_log $B/nginx/logs/error.log warn;
events { worker_connections 8192; }
rtmp {
  server {
    listen 127.0.0.1:$NGINX_RTMP;
    chunk_size 4096;
    application live {
      live on;
$(push_lines "    push rtmp://127.0.0.1:%s/live;")
$( [ "$RECORD" = 1 ] && printf '      record all;\n      record_path %s;\n      record_unique on;\n' "$B/nginx/rec" )
    }
  }
}
CONF
      nginx -p "$B/nginx" -c "$B/nginx/nginx.conf" >>"$B/logs/nginx.log" 2>&1 &
      SERVER_PID=$!; wait_port $NGINX_RTMP ;;
    nms)
      cat >"$B/nms/bench.js" <<JS
const NodeMediaServer = require('node-media-server');
new NodeMediaServer({
  rtmp: { bind: '127.0.0.1', port: $NMS_RTMP, chunk_size: 4096, gop_cache: true, ping: 30, ping_timeout: 60 },
  http: { bind: '127.0.0.1', port: $NMS_HTTP, allow_origin: '*' },
$( [ "$PUSHES" -gt 0 ] && echo "  auth: { jwt: { secret: 'bench-relay' } }, // its API (relay tasks) needs a JWT secret" )
  logType: 1,
}).run();
JS
      # Its store (./data) would restore the last run's relay tasks; each run starts clean.
      rm -rf "$B/nms/data"
      (cd "$B/nms" && exec node bench.js) >>"$B/logs/nms.log" 2>&1 &
      SERVER_PID=$!; wait_port $NMS_RTMP ;;
    xiu)
      cat >"$B/xiu.toml" <<TOML
[rtmp]
enabled = true
port = $XIU_RTMP
gop_num = 1
[httpflv]
enabled = true
port = $XIU_HTTP
[log]
level = "warn"
# Required by xiu 0.14's config parser; no auth is configured, so it is unused.
[authsecret]
key = "unused"
password = "unused"
$(push_lines '[[rtmp.push]]\nenabled = true\naddress = "127.0.0.1"\nport = %s\n')
TOML
      "$XIU" -c "$B/xiu.toml" >>"$B/logs/xiu.log" 2>&1 &
      SERVER_PID=$!; wait_port $XIU_RTMP ;;
  esac
}

stop_server() { cleanup; SERVER_PID=; sleep 1; }

# The relay scenario's push targets (the bench tool's sinks), one line per sink; empty otherwise.
PUSHES=0
push_lines() { # printf format with one %s for the port
  local k
  for ((k = 0; k < PUSHES; k++)); do printf "$1\n" $((SINK_PORT + k)); done
}

# ferrocast's relay: a source of its own with one destination per sink (added through the API,
# as a user would); its stream key and playback id go to a streams file for the tool.
ferrocast_relay_source() {
  local api=http://127.0.0.1:$FERRO_HTTP/api email="relay$RANDOM$RANDOM@example.com" token src id k
  token=$(curl -sf -X POST "$api/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench-password-1\",\"display_name\":\"Relay\"}" | jq -r '.access_token')
  src=$(curl -sf -X POST "$api/sources" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' -d '{"name":"relay"}')
  id=$(jq -r '.source.id' <<<"$src")
  jq -r '.source | "\(.stream_key) \(.playback_id)"' <<<"$src" >"$B/ferrocast-relay.txt"
  for ((k = 0; k < PUSHES; k++)); do
    curl -sf -X POST "$api/sources/$id/destinations" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"platform\":\"custom\",\"rtmp_url\":\"rtmp://127.0.0.1:$((SINK_PORT + k))/live\",\"stream_key\":\"relay\"}" >/dev/null
  done
}

# node-media-server 4 pushes only through its HTTP API and only a stream already published, so
# the pushes are added once the tool's publisher is live (well within the warm-up).
nms_relay_pushes() {
  local api=http://127.0.0.1:$NMS_HTTP/api/v1 k token
  token=$(cd "$B/nms" && node -e "process.stdout.write(require('jsonwebtoken').sign({ sub: 'bench' }, 'bench-relay'))")
  for _ in $(seq 100); do
    curl -sf -H "Authorization: Bearer $token" "$api/streams" | grep -q '"s0"\|/live/s0' && break
    sleep 0.1
  done
  for ((k = 0; k < PUSHES; k++)); do
    curl -sf -X POST "$api/relay" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"url\":\"rtmp://127.0.0.1:$((SINK_PORT + k))/live/relay\",\"mode\":\"push\",\"streamPath\":\"/live/s0\"}" \
      >/dev/null || say "node-media-server refused relay push $k"
  done
}

# ferrocast needs an account and a source per stream (stream key to publish, playback id to play).
ferrocast_sources() {
  local f=$B/ferrocast-streams.txt
  [ -s "$f" ] && [ "$(grep -c "^sk_" "$f")" -ge 50 ] && return 0
  local api=http://127.0.0.1:$FERRO_HTTP/api email="bench$RANDOM$RANDOM@example.com" token
  token=$(curl -sf -X POST "$api/auth/register" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"bench-password-1\",\"display_name\":\"Bench\"}" | jq -r '.access_token // .token')
  : >"$f"
  for i in $(seq 0 49); do
    curl -sf -X POST "$api/sources" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"name\":\"bench $i\"}" | jq -r '.source | "\(.stream_key) \(.playback_id)"' >>"$f"
  done
}

urls() { # server -> sets PUB PLAY FLVURL STREAMS
  STREAMS=(); FLVURL=; HLSURL=
  case $1 in
    ferrocast) PUB="rtmp://127.0.0.1:$FERRO_RTMP/live/{key}"; PLAY="rtmp://127.0.0.1:$FERRO_RTMP/play/{play}"
      HLSURL="http://127.0.0.1:$FERRO_HTTP/hls/{play}/index.m3u8"
               FLVURL="http://127.0.0.1:$FERRO_HTTP/live/{play}.flv"; STREAMS=(--streams "$B/ferrocast-streams.txt") ;;
    nginx) PUB="rtmp://127.0.0.1:$NGINX_RTMP/live/s{i}"; PLAY=$PUB ;;
    nms) PUB="rtmp://127.0.0.1:$NMS_RTMP/live/s{i}"; PLAY=$PUB; FLVURL="http://127.0.0.1:$NMS_HTTP/live/s{i}.flv" ;;
    xiu) PUB="rtmp://127.0.0.1:$XIU_RTMP/live/s{i}"; PLAY=$PUB; FLVURL="http://127.0.0.1:$XIU_HTTP/live/s{i}.flv" ;;
  esac
}

run_one() { # server scenario publishers players protocol [sinks]
  local server=$1 sc=$2 pubs=$3 players=$4 proto=$5 sinks=${6:-0}
  urls "$server"
  if [ "$proto" = http-flv ] && [ -z "$FLVURL" ]; then say "$server has no HTTP-FLV; skipping $sc"; return 0; fi
  PUSHES=$sinks
  start_server "$server"
  [ "$server" = ferrocast ] && ferrocast_sources
  if [ "$sinks" -gt 0 ] && [ "$server" = ferrocast ]; then
    ferrocast_relay_source; STREAMS=(--streams "$B/ferrocast-relay.txt")
  fi
  say "$server $sc: $pubs publisher(s) x $players $proto player(s)"
  if [ "$sinks" -gt 0 ] && [ "$server" = nms ]; then nms_relay_pushes & fi
  "$BENCH" run --flv "$FLV" --publish-url "$PUB" --play-url "$PLAY" ${FLVURL:+--flv-url "$FLVURL"} ${HLSURL:+--hls-url "$HLSURL"} \
    "${STREAMS[@]}" --protocol "$proto" --publishers "$pubs" --players "$players" \
    --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
    --server-name "$server" --scenario "$sc" --json "$B/runs/$server-$sc.json" \
    --sinks "$sinks" --sink-port "$SINK_PORT" \
    || say "$server $sc failed"
  stop_server
  PUSHES=0
}

rm -f "$B"/runs/*.json
for server in ${SERVERS//,/ }; do
  if has "$SCENARIOS" fanout-rtmp; then
    for n in ${FANOUT//,/ }; do run_one "$server" "fanout-rtmp-$n" 1 "$n" rtmp; done
  fi
  if has "$SCENARIOS" fanout-flv; then
    for n in ${FANOUT//,/ }; do run_one "$server" "fanout-flv-$n" 1 "$n" http-flv; done
  fi
  if has "$SCENARIOS" ingest; then
    for n in ${INGEST//,/ }; do run_one "$server" "ingest-$n" "$n" 0 rtmp; done
  fi
  if has "$SCENARIOS" mixed; then run_one "$server" mixed-10x20 10 20 rtmp; fi
  if has "$SCENARIOS" record && { [ "$server" = ferrocast ] || [ "$server" = nginx ]; }; then
    run_one "$server" "record-off-$RECORD_PUBS" "$RECORD_PUBS" 0 rtmp
    RECORD=1; run_one "$server" "record-on-$RECORD_PUBS" "$RECORD_PUBS" 0 rtmp; RECORD=0
  fi
  # HLS latency is measured for ferrocast against the targets of issue 4 (plain HLS < 4 s,
  # LL-HLS < 2 s); the peers' HLS is not compared (nginx-rtmp and xiu write HLS to disk, and
  # none of them offers LL-HLS).
  if has "$SCENARIOS" hls && [ "$server" = ferrocast ]; then
    run_one ferrocast hls-10 1 10 hls
    run_one ferrocast ll-hls-10 1 10 ll-hls
    # Memory with HLS watched on every stream (one LL-HLS player each), against ingest-50
    # without viewers: the segments and parts each packager holds in memory.
    run_one ferrocast ll-hls-50x1 50 1 ll-hls
  fi
  # Relay: 1 publisher, the server pushes it to $RELAY RTMP sinks (ferrocast: destinations
  # through the API; nginx-rtmp: `push`; xiu: `[[rtmp.push]]`; node-media-server: relay tasks
  # in push mode through its API).
  if has "$SCENARIOS" relay; then
    run_one "$server" "relay-$RELAY" 1 0 rtmp "$RELAY"
  fi
done

# Origin and edge (ferrocast only, not in the default list): one publisher on an origin node and
# EDGE_PLAYERS RTMP players, first on the origin itself, then on an edge node that pulls the
# stream once from the origin and serves them. The origin's CPU is measured in both (the tool's
# --server-pid); the edge's own CPU over the run is read from /proc before and after. The two
# nodes share one SQLite file (both on this machine) and the master key.
if has "$SCENARIOS" edge && has "$SERVERS" ferrocast; then
  EDGE_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  SAVED_DATA=$FERRO_DATA SAVED_ENV=${FERRO_ENV:-}
  FERRO_DATA=$B/edge-origin-data; EDGE_DATA=$B/edge-edge-data
  EDGE_HTTP=18091; EDGE_RTMP=19361
  rm -rf "$FERRO_DATA" "$EDGE_DATA" "$B/ferrocast-streams.txt"
  FERRO_ENV="FERROCAST_SECRET_KEY=$EDGE_KEY"
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  edge_run() { # scenario play-url
    "$BENCH" run --flv "$FLV" --publish-url "rtmp://127.0.0.1:$FERRO_RTMP/live/{key}" --play-url "$2" \
      --streams "$B/ferrocast-streams.txt" --protocol rtmp --publishers 1 --players "$EDGE_PLAYERS" \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$SERVER_PID" \
      --server-name ferrocast --scenario "$1" --json "$B/runs/ferrocast-$1.json" || say "$1 failed"
  }
  start_server ferrocast
  ferrocast_sources
  say "edge: 1 publisher x $EDGE_PLAYERS RTMP players on the origin"
  edge_run "edge-origin-$EDGE_PLAYERS" "rtmp://127.0.0.1:$FERRO_RTMP/play/{play}"
  FERROCAST_DATA_DIR=$EDGE_DATA FERROCAST_DATABASE_URL="sqlite://$FERRO_DATA/ferrocast.db" \
  FERROCAST_SECRET_KEY=$EDGE_KEY FERROCAST_NODE_ROLE=edge \
  FERROCAST_HTTP_ADDR=127.0.0.1:$EDGE_HTTP FERROCAST_RTMP_ADDR=127.0.0.1:$EDGE_RTMP \
  FERROCAST_PLANS_FILE=$B/plans.toml FERROCAST_RTMP_MAX_CONNECTIONS_PER_IP=0 FERROCAST_RTMP_MAX_PENDING_PER_IP=0 \
  FERROCAST_HTTP_MAX_CONNECTIONS_PER_IP=0 FERROCAST_SOCKETIO_MAX_PER_IP=0 \
    "$FERRO" serve >>"$B/logs/ferrocast-edge.log" 2>&1 &
  EDGE_PID=$!; wait_port $EDGE_HTTP; wait_port $EDGE_RTMP
  say "edge: 1 publisher on the origin x $EDGE_PLAYERS RTMP players on the edge"
  t0=$(cpu_ticks "$EDGE_PID"); s0=$(date +%s.%N)
  edge_run "edge-via-edge-$EDGE_PLAYERS" "rtmp://127.0.0.1:$EDGE_RTMP/play/{play}"
  t1=$(cpu_ticks "$EDGE_PID"); s1=$(date +%s.%N)
  EDGE_CPU=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v s0="$s0" -v s1="$s1" 'BEGIN { printf "%.1f", 100 * t / hz / (s1 - s0) }')
  echo "edge node CPU over the whole edge-via-edge-$EDGE_PLAYERS run (publish, ramp, warm-up, window): $EDGE_CPU % of one core" | tee "$B/edge.md"
  kill "$EDGE_PID" 2>/dev/null; wait "$EDGE_PID" 2>/dev/null || true
  stop_server
  FERRO_DATA=$SAVED_DATA FERRO_ENV=$SAVED_ENV
  rm -f "$B/ferrocast-streams.txt"
fi

# Chat fan-out (ferrocast only): senders register, one source's room gets CHAT_CLIENTS readers.
if has "$SCENARIOS" chat && has "$SERVERS" ferrocast; then
  JS=$ROOT/crates/server/tests/js
  [ -d "$JS/node_modules/socket.io-client" ] || npm ci --prefix "$JS" --no-audit --no-fund --loglevel=error
  start_server ferrocast
  api=http://127.0.0.1:$FERRO_HTTP/api
  tokens=()
  for k in $(seq 1 "$CHAT_SENDERS"); do
    tokens+=("$(curl -sf -X POST "$api/auth/register" -H 'Content-Type: application/json' \
      -d "{\"email\":\"chat$k-$RANDOM$RANDOM@example.com\",\"password\":\"bench-password-1\",\"display_name\":\"Sender $k\"}" | jq -r '.access_token')")
  done
  chat_src=$(curl -sf -X POST "$api/sources" -H "Authorization: Bearer ${tokens[0]}" -H 'Content-Type: application/json' \
    -d '{"name":"chat"}' | jq -r '.source.id')
  say "ferrocast chat: $CHAT_CLIENTS clients in one room, $CHAT_SENDERS senders, ${DURATION}s"
  params=$(jq -nc --arg url "http://127.0.0.1:$FERRO_HTTP" --argjson src "$chat_src" --argjson n "$CHAT_CLIENTS" \
    --argjson d "$DURATION" --argjson pid "$SERVER_PID" '{url:$url, sourceId:$src, clients:$n, duration:$d, pid:$pid, tokens:$ARGS.positional}' \
    --args "${tokens[@]}")
  node --max-old-space-size=4096 "$JS/chat-bench.mjs" "$params" | tee "$B/chat.json"
  stop_server
  SCENARIOS=${SCENARIOS//chat/}
  if [ -z "$(ls "$B"/runs/*.json 2>/dev/null)" ]; then say "wrote $B/chat.json"; exit 0; fi
fi

# Upload throughput over tus (see the header): the same file, the same client, three servers.
cpu_ticks() { # pid -> utime + stime of the process, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}
# tus_upload base_url auth_header server_pid label: creates an upload of $UP_FILE, sends it in
# chunks, prints a markdown row; fails loudly on any answer but the expected one.
tus_upload() {
  local base=$1 auth=$2 pid=$3 label=$4 size loc url off=0 k t0 t1 c0 c1 secs mbps cpu code
  size=$(stat -c %s "$UP_FILE")
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  loc=$(curl -sf -D - -o /dev/null -X POST "$base" ${auth:+-H "$auth"} -H 'Tus-Resumable: 1.0.0' \
    -H "Upload-Length: $size" -H "Upload-Metadata: filename $(printf bench.bin | base64)" \
    | tr -d '\r' | awk 'tolower($1)=="location:"{print $2}')
  [ -n "$loc" ] || { say "$label: creating the upload failed"; return 1; }
  case $loc in http*) url=$loc ;; *) url=$(printf '%s' "$base" | sed -E 's#^(https?://[^/]+).*#\1#')$loc ;; esac
  for k in "$UP_DIR"/chunk.*; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$url" ${auth:+-H "$auth"} -H 'Tus-Resumable: 1.0.0' \
      -H 'Content-Type: application/offset+octet-stream' -H "Upload-Offset: $off" --data-binary "@$k")
    [ "$code" = 204 ] || { say "$label: PATCH at $off answered $code"; return 1; }
    off=$((off + $(stat -c %s "$k")))
  done
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  secs=$(echo "$t1 - $t0" | bc -l)
  mbps=$(echo "$size / 1048576 / $secs" | bc -l)
  cpu=$(echo "($c1 - $c0) / $(getconf CLK_TCK) / ($size / 1073741824)" | bc -l)
  printf '| %s | %d | %d | %.2f | %.0f | %.2f |\n' "$label" $((size / 1048576)) "$UPLOAD_CHUNK_MB" "$secs" "$mbps" "$cpu"
}
if has "$SCENARIOS" upload && has "$SERVERS" ferrocast; then
  command -v bc >/dev/null || apt_install bc
  UP_DIR=/dev/shm/ferrocast-upload-bench; rm -rf "$UP_DIR"; mkdir -p "$UP_DIR"
  UP_FILE=$UP_DIR/file.bin
  trap 'cleanup; rm -rf "$UP_DIR"; [ -n "${MOTO_PID:-}" ] && kill "$MOTO_PID" 2>/dev/null; [ -n "${TUS_PID:-}" ] && kill "$TUS_PID" 2>/dev/null; true' EXIT INT TERM
  say "upload: $UPLOAD_MB MiB of random bytes in $UPLOAD_CHUNK_MB MiB PATCH requests (file and chunks on tmpfs)"
  head -c "$((UPLOAD_MB * 1048576))" /dev/urandom >"$UP_FILE"
  split -b "$((UPLOAD_CHUNK_MB * 1048576))" -a 4 -d "$UP_FILE" "$UP_DIR/chunk."
  ROWS=()
  ferro_upload() { # label
    local api=http://127.0.0.1:$FERRO_HTTP/api token
    token=$(curl -sf -X POST "$api/auth/register" -H 'Content-Type: application/json' \
      -d "{\"email\":\"up$RANDOM$RANDOM@example.com\",\"password\":\"bench-password-1\",\"display_name\":\"Uploader\"}" | jq -r '.access_token')
    ROWS+=("$(tus_upload "$api/uploads" "Authorization: Bearer $token" "$SERVER_PID" "$1")")
  }
  start_server ferrocast; ferro_upload "ferrocast, data dir"; stop_server
  PY=$ROOT/target/test-python/bin/python
  if "$PY" -c 'import moto.server' 2>/dev/null; then
    "$PY" -m moto.server -H 127.0.0.1 -p 19500 >>"$B/logs/moto.log" 2>&1 & MOTO_PID=$!
    wait_port 19500; curl -sf -X PUT http://127.0.0.1:19500/bench >/dev/null
    FERRO_ENV="FERROCAST_STORAGE_URL=s3://bench/ferrocast FERROCAST_S3_ENDPOINT=http://127.0.0.1:19500 FERROCAST_S3_REGION=us-east-1 FERROCAST_S3_ACCESS_KEY_ID=bench FERROCAST_S3_SECRET_ACCESS_KEY=bench"
    start_server ferrocast; ferro_upload "ferrocast, S3 (moto)"; stop_server
    FERRO_ENV=; kill "$MOTO_PID" 2>/dev/null; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=
  else
    say "no moto in $PY (scripts/test.sh installs it); skipping ferrocast on S3"
  fi
  TUS=$B/tus-node
  if [ ! -f "$TUS/node_modules/@tus/file-store/package.json" ]; then
    mkdir -p "$TUS"
    (cd "$TUS" && npm init -y >/dev/null && npm install --no-audit --no-fund @tus/server@1 @tus/file-store@1 >/dev/null) \
      || say "could not install @tus/server; skipping it"
  fi
  if [ -f "$TUS/node_modules/@tus/file-store/package.json" ]; then
    rm -rf "$TUS/files"; mkdir -p "$TUS/files"
    cat >"$TUS/server.js" <<'JS'
const http = require('http');
const { Server } = require('@tus/server');
const { FileStore } = require('@tus/file-store');
const tus = new Server({ path: '/files', datastore: new FileStore({ directory: __dirname + '/files' }) });
http.createServer((req, res) => tus.handle(req, res)).listen(18090, '127.0.0.1');
JS
    (cd "$TUS" && exec node server.js) >>"$B/logs/tus-node.log" 2>&1 & TUS_PID=$!
    wait_port 18090
    ROWS+=("$(tus_upload http://127.0.0.1:18090/files "" "$TUS_PID" "@tus/server $(jq -r .version "$TUS/node_modules/@tus/server/package.json") (Node $(node -v)), disk")")
    kill "$TUS_PID" 2>/dev/null; wait "$TUS_PID" 2>/dev/null || true; TUS_PID=
  fi
  {
    echo "| server | MiB | PATCH MiB | seconds | MiB/s | server CPU s per GiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo; echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
    echo "Command: scripts/bench.sh --servers ferrocast --scenarios upload --upload-mb $UPLOAD_MB --upload-chunk-mb $UPLOAD_CHUNK_MB"
  } | tee "$B/upload.md"
  rm -rf "$UP_DIR"
  SCENARIOS=${SCENARIOS//upload/}
  if [ -z "$(ls "$B"/runs/*.json 2>/dev/null)" ]; then say "wrote $B/upload.md"; exit 0; fi
fi

# Order the runs by scenario so the markdown groups them.
mapfile -t FILES < <(ls "$B"/runs/*.json 2>/dev/null | sort -t- -k2)
if [ ${#FILES[@]} -eq 0 ]; then say "no results"; exit 1; fi
"$BENCH" report "${FILES[@]}" --json "$B/results.json" --markdown "$B/results.md"
{
  echo; echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM"
  echo "Command: scripts/bench.sh --servers $SERVERS --scenarios $SCENARIOS --duration $DURATION --warmup $WARMUP --fanout $FANOUT --ingest $INGEST"
} >>"$B/results.md"
say "wrote $B/results.json and $B/results.md"
cat "$B/results.md"
