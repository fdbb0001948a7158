#!/bin/sh
# Writes what deploy/docker-compose.yml reads and git must never hold: secrets/ (the master
# key, the audit signing key, passwords, the metrics token, the backups' passphrase) and, when there is none, a
# self-signed certificate in tls/ for a first try (replace it with a real one). Keeps files
# that exist: run it again safely.
set -eu
cd "$(dirname "$0")"
umask 077
mkdir -p secrets tls
new() { [ -s "secrets/$1" ] || { printf '%s' "$2" > "secrets/$1"; echo "wrote secrets/$1"; }; }
new master_key "$(openssl rand -hex 32)"
new audit_key "$(openssl rand -hex 32)"
new postgres_password "$(openssl rand -hex 24)"
new s3_secret_key "$(openssl rand -hex 24)"
new metrics_token "$(openssl rand -hex 24)"
new backup_passphrase "$(openssl rand -hex 24)"
new database_url "postgres://ferrocast:$(cat secrets/postgres_password)@postgres:5432/ferrocast"
# Readable by the containers' users (ferrocast, postgres, minio, prometheus): compose mounts
# these files as they are. Keep the directory itself private.
chmod 0644 secrets/*
chmod 0700 secrets
if [ ! -s tls/fullchain.pem ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=${FERROCAST_HOST:-localhost}" \
    -keyout tls/privkey.pem -out tls/fullchain.pem 2>/dev/null
  chmod 0644 tls/fullchain.pem tls/privkey.pem
  echo "wrote a self-signed certificate to tls/ (replace it with a real one)"
fi
