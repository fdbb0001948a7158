# ferrocast: one image for every node role (origin or edge, FERROCAST_NODE_ROLE).
#
#   docker build -t ferrocast .
#   docker run -p 8080:8080 -p 1935:1935 -v ferrocast:/var/lib/ferrocast ferrocast
#
# Three stages: the web app (Node.js), the release binary with the web app embedded (Rust),
# and a small Debian runtime with ffmpeg (recordings, thumbnails, transcoding), run as an
# unprivileged user. See docs/deployment.md.

# 1. The web app: web/dist, embedded into the release binary.
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

# 2. The binary.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=web /src/web/dist web/dist
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferrocast \
 && install -m 0755 target/release/ferrocast /usr/local/bin/ferrocast

# 3. The runtime: ffmpeg, CA roots (S3, payment gateways, RTMPS restream), tini as PID 1.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ffmpeg ca-certificates tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 ferrocast \
 && useradd --system --uid 10001 --gid ferrocast --home-dir /var/lib/ferrocast \
      --shell /usr/sbin/nologin ferrocast \
 && install -d -m 0700 -o ferrocast -g ferrocast /var/lib/ferrocast
COPY --from=build /usr/local/bin/ferrocast /usr/local/bin/ferrocast

ENV FERROCAST_DATA_DIR=/var/lib/ferrocast \
    FERROCAST_HTTP_ADDR=0.0.0.0:8080 \
    FERROCAST_RTMP_ADDR=0.0.0.0:1935 \
    FERROCAST_LOG_FORMAT=json
USER ferrocast:ferrocast
WORKDIR /var/lib/ferrocast
VOLUME ["/var/lib/ferrocast"]
EXPOSE 8080 1935

# `ferrocast healthcheck` asks this node's /ready (the image has no curl): healthy while the
# database answers with a current schema; unhealthy while the node drains (/ready says 503).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["ferrocast", "healthcheck"]

# SIGTERM drains the node (FERROCAST_DRAIN_SECS); give Docker longer than that before SIGKILL
# (`docker stop -t 45`, compose `stop_grace_period`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--", "ferrocast"]
CMD ["serve"]
