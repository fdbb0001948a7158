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
source scripts/lib/node.sh

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

# 1. System tools the tests drive: ffmpeg (doctor, media and restream tests), oathtool (an
#    independent RFC 6238 implementation for the two-factor tests) and openssl (a test
#    certificate for the RTMPS destination).
#    Node.js and npm run the stock socket.io-client in the realtime tests.
need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
#    Debian's Chromium (and an emoji font for its screenshots) runs the web app's end-to-end test.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || need+=(fonts-noto-color-emoji)
#    zbar's zbarimg (an independent QR decoder) reads the two-factor key's QR code back from the
#    settings page's screenshots, as an authenticator app reads the screen.
command -v zbarimg >/dev/null 2>&1 || need+=(zbar-tools)
#    Python 3 with venv runs the payment gateways' own libraries in the payment tests.
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
#    The deployment files' validators (crates/server/tests/it/deploy.rs): systemd-analyze for
#    the unit, nginx for the example configuration (as scripts/bench.sh installs it), and
#    Debian's Python docker-compose for the compose file unless the Docker Compose plugin is
#    installed. promtool follows below.
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v nginx >/dev/null 2>&1 || need+=(nginx)
docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]} (apt-get)"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 1a. Node.js new enough for the web app's build (Vite 8: 20.19+ or 22.12+; Debian 12's package is
#     18, so on Debian 12 the apt-get above is not enough).
check_node

# 1b. promtool, for the alert rules' tests: unpacked from Debian's prometheus package into
#     target/tools, so that no Prometheus service is installed or started on this machine.
if ! command -v promtool >/dev/null 2>&1 && [ ! -x target/tools/promtool ]; then
  say "promtool (unpacked from Debian's prometheus package into target/tools)"
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1); then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    (cd "$tmp" && apt-get download prometheus >/dev/null)
  fi
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  install -D -m 0755 "$tmp/root/usr/bin/promtool" target/tools/promtool
  rm -rf "$tmp"
fi
export PATH="$PWD/target/tools:$PATH"

# npm's record of what it installed is older than the lock file (or missing): install again.
stale_npm() { [ ! -f "$1/node_modules/.package-lock.json" ] || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; }

# 2. The tests' npm packages, exactly as locked (socket.io-client for the realtime tests,
#    tus-js-client for the upload tests).
if stale_npm crates/server/tests/js; then
  say "npm ci (crates/server/tests/js: socket.io-client, tus-js-client)"
  npm ci --prefix crates/server/tests/js --no-audit --no-fund --loglevel=error
fi

# 2a. The web app: its packages exactly as locked, and its build (web/dist), which the server
#     serves and the end-to-end test drives. The build first generates the API's types from
#     web/openapi.json and type-checks the app against them (the openapi test keeps
#     that file equal to the server's document).
if stale_npm web; then
  say "npm ci (web)"
  npm ci --prefix web --no-audit --no-fund --loglevel=error
fi
say "npm run build (web)"
npm run build --prefix web --silent

# 2b. The payment gateways' Python libraries (Stripe's and Razorpay's, pinned in
#     crates/server/tests/py/requirements.txt) in a virtual environment under target/: the
#     payment tests sign webhooks with them. moto's S3 server (crates/storage/tests/py) is the
#     S3-compatible store of the storage tests. imageio-ffmpeg carries a current static ffmpeg
#     (Enhanced RTMP, HEVC, SRT) that Debian 12's ffmpeg 5.1 is too old for.
py=target/test-python
if ! "$py/bin/python" -c 'import stripe, razorpay, moto.server, imageio_ffmpeg' >/dev/null 2>&1; then
  say "python venv with the stripe, razorpay, moto and imageio-ffmpeg packages ($py)"
  python3 -m venv "$py"
  "$py/bin/pip" install --quiet --disable-pip-version-check \
    -r crates/server/tests/py/requirements.txt -r crates/storage/tests/py/requirements.txt
fi
export FERROCAST_TEST_PYTHON="$PWD/$py/bin/python"
FERROCAST_TEST_NEW_FFMPEG=$("$py/bin/python" -c 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())')
export FERROCAST_TEST_NEW_FFMPEG

# 3. PostgreSQL.
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

# 4. Redis: the realtime tests run two nodes sharing one (FERROCAST_TEST_REDIS_URL, default
#    redis://127.0.0.1:6379). Without it those tests are skipped with a notice — except under
#    CI=true, where they fail.
redis_url=${FERROCAST_TEST_REDIS_URL:-redis://127.0.0.1:6379}
export FERROCAST_TEST_REDIS_URL="$redis_url"
rhostport=${redis_url#*://}; rhostport=${rhostport#*@}; rhostport=${rhostport%%/*}
r_host=${rhostport%%:*}; r_port=${rhostport##*:}; [ "$r_port" = "$rhostport" ] && r_port=6379
if (exec 3<>"/dev/tcp/$r_host/$r_port") 2>/dev/null; then
  say "Redis reachable at $r_host:$r_port: the two-node realtime test runs"
elif [ "${CI:-}" = "true" ]; then
  echo "error: Redis at $r_host:$r_port is unreachable, and CI=true requires it." >&2
  echo "       Start Redis or set FERROCAST_TEST_REDIS_URL." >&2
  exit 1
else
  say "Redis unreachable at $r_host:$r_port: the two-node realtime test will be SKIPPED (set FERROCAST_TEST_REDIS_URL to run it)"
fi

# 5. The tests.
if cargo nextest --version >/dev/null 2>&1; then
  say "cargo nextest run --workspace"
  cargo nextest run --workspace --no-fail-fast "$@"
else
  say "cargo-nextest not installed; using cargo test (install it with: cargo install cargo-nextest --locked)"
  cargo test --workspace --no-fail-fast "$@"
fi
say "all tests passed"
