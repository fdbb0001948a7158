#!/usr/bin/env bash
# Browse and search at catalogue scale on SQLite and PostgreSQL: seeds a fresh database with
# 10 000 channels (handle, name, bio; one stream source each, 200 of them live) and 100 000 videos
# (scripts/bench-search/seed.sql), starts the release binary on it, and measures
# GET /api/browse/live and GET /api/search (one word, two words, a handle prefix with a typo,
# videos only) one request at a time: p50 and p99 latency, with the database's size on disk.
# See BENCHMARKS.md.
#
#   scripts/bench-search.sh [--backends sqlite,postgres] [--channels 10000] [--videos 100000]
#                           [--live 200] [--requests 1000] [--postgres-url postgres://127.0.0.1:5432/postgres]
#
# PostgreSQL: a database `ferrocast_bench_search` is created (dropped first) on the server that
# --postgres-url reaches, with psql. Writes target/bench/search/results.json and results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/target/bench/search
BACKENDS=sqlite,postgres
CHANNELS=10000
VIDEOS=100000
LIVE=200
REQUESTS=1000
PG_ADMIN_URL=postgres://127.0.0.1:5432/postgres
while [ $# -gt 0 ]; do
  case $1 in
    --backends) BACKENDS=$2; shift 2 ;;
    --channels) CHANNELS=$2; shift 2 ;;
    --videos) VIDEOS=$2; shift 2 ;;
    --live) LIVE=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --postgres-url) PG_ADMIN_URL=$2; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
say() { echo "== $*" >&2; }
for tool in sqlite3 psql python3 curl; do
  command -v $tool >/dev/null || { echo "$tool is needed (Debian: apt-get install sqlite3 postgresql-client python3 curl)" >&2; exit 1; }
done
mkdir -p "$B"
say "building the release binary"
cargo build --release -q -p ferrocast
BIN=$ROOT/target/release/ferrocast
PORT=18480
NOW=$(($(date +%s) * 1000))
seed_sql() {
  sed -e "s/@CHANNELS@/$CHANNELS/g" -e "s/@VIDEOS@/$VIDEOS/g" -e "s/@LIVE@/$LIVE/g" -e "s/@NOW@/$NOW/g" \
    "$ROOT/scripts/bench-search/seed.sql"
}
# Requests: each case cycles through its list.
CASES=$(cat <<'JSON'
{
  "browse_live": ["/api/browse/live?limit=24", "/api/browse/live?limit=24&category=music", "/api/browse/live?limit=24&page=3"],
  "search_word": ["/api/search?q=speedrun", "/api/search?q=jazz", "/api/search?q=knitting", "/api/search?q=physics", "/api/search?q=lofi"],
  "search_two_words": ["/api/search?q=retro+pixel", "/api/search?q=night+owl", "/api/search?q=coffee+cats", "/api/search?q=chess+strategy"],
  "search_handle_typo": ["/api/search?q=cookngpiano", "/api/search?q=musicspce2", "/api/search?q=animehikin", "/api/search?q=strmer"],
  "search_videos": ["/api/search?q=baking&type=videos&limit=20", "/api/search?q=mountain+hiking&type=videos", "/api/search?q=trains&type=videos&cursor=20"]
}
JSON
)
SERVER=
stop() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null; SERVER=; }
trap stop EXIT
echo "{" > "$B/results.json"
first=1
for backend in ${BACKENDS//,/ }; do
  DATA=$B/$backend
  rm -rf "$DATA"; mkdir -p "$DATA"
  case $backend in
    sqlite) URL=sqlite://$DATA/ferrocast.db ;;
    postgres)
      psql -q "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS ferrocast_bench_search" -c "CREATE DATABASE ferrocast_bench_search"
      URL=${PG_ADMIN_URL%/*}/ferrocast_bench_search ;;
    *) echo "unknown backend $backend" >&2; exit 2 ;;
  esac
  export FERROCAST_DATA_DIR=$DATA FERROCAST_DATABASE_URL=$URL FERROCAST_SEARCH_RATE_LIMIT=0
  "$BIN" migrate >/dev/null
  say "$backend: seeding $CHANNELS channels and $VIDEOS videos"
  t0=$(date +%s)
  if [ "$backend" = sqlite ]; then
    { echo "PRAGMA foreign_keys=ON; BEGIN;"; seed_sql; echo "COMMIT; VACUUM; PRAGMA wal_checkpoint(TRUNCATE);"; } | sqlite3 "$DATA/ferrocast.db" >/dev/null
  else
    { echo "BEGIN;"; seed_sql; echo "COMMIT; VACUUM ANALYZE;"; } | psql -q -v ON_ERROR_STOP=1 "$URL" >/dev/null
  fi
  seed_s=$(($(date +%s) - t0))
  if [ "$backend" = sqlite ]; then
    size=$(stat -c %s "$DATA/ferrocast.db")
  else
    size=$(psql -tA "$URL" -c "SELECT pg_database_size(current_database())")
  fi
  FERROCAST_HTTP_ADDR=127.0.0.1:$PORT FERROCAST_RTMP_ADDR=127.0.0.1:$((PORT + 1)) FERROCAST_PUBLIC_URL=http://127.0.0.1:$PORT \
    RUST_LOG=warn "$BIN" serve >"$B/$backend.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.2; done
  say "$backend: measuring ($REQUESTS requests per case)"
  res=$(python3 "$ROOT/scripts/bench-search/measure.py" "http://127.0.0.1:$PORT" "$REQUESTS" "$CASES")
  stop
  [ $first = 1 ] || echo "," >> "$B/results.json"
  first=0
  printf '"%s": {"db_bytes": %s, "seed_seconds": %s, "cases": %s}\n' "$backend" "$size" "$seed_s" "$res" >> "$B/results.json"
done
echo "}" >> "$B/results.json"
python3 - "$B/results.json" "$CHANNELS" "$VIDEOS" "$LIVE" > "$B/results.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]} channels, {sys.argv[3]} videos, {sys.argv[4]} live; one request at a time over a keep-alive connection.\n")
backends = list(r)
print("| Case | " + " | ".join(f"{b} p50 / p99 (ms)" for b in backends) + " | results per answer |")
print("|---|" + "---|" * len(backends) + "---|")
for case in r[backends[0]]["cases"]:
    cells = [f'{r[b]["cases"][case]["p50_ms"]} / {r[b]["cases"][case]["p99_ms"]}' for b in backends]
    print(f"| `{case}` | " + " | ".join(cells) + f' | {r[backends[0]]["cases"][case]["results_per_answer"]} |')
print("| database size | " + " | ".join(f'{r[b]["db_bytes"] / 1048576:.1f} MiB' for b in backends) + " | |")
print("| seeding time | " + " | ".join(f'{r[b]["seed_seconds"]} s' for b in backends) + " | |")
PY
cat "$B/results.md"
