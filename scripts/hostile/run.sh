#!/usr/bin/env bash
# Starts `edgebridge all` (release build) over a fresh database with two organizations and runs
# scripts/hostile/probe.py: what a hostile tenant's LIKE patterns, long polls and slow headers
# cost another tenant. Prints figures; fails only if the server could not be started.
#   scripts/hostile/run.sh [like|longpoll|trickle ...]
set -euo pipefail
cd "$(dirname "$0")/../.."
server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
cargo build --quiet --release -p edgebridge
bin=$(pwd)/target/release/edgebridge
db=edgebridge_hostile_$$
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  psql "$server/postgres" -qc "drop database if exists $db with (force)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$server/postgres" -qc "create database $db" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL=$server/$db
export EDGEBRIDGE_ENCRYPTION_KEYS="k1:$(head -c 32 /dev/urandom | base64)"
export EDGEBRIDGE_JWT_KEYS="j1:$(head -c 32 /dev/urandom | base64)"
export EDGEBRIDGE_LISTEN=127.0.0.1:$port EDGEBRIDGE_RATE_LIMIT=0 RUST_LOG=warn
"$bin" migrate >/dev/null
key_of() { python3 -c 'import json, sys; print(json.load(sys.stdin)["apiKey"]["key"])'; }
hostile=$("$bin" org create hostile | key_of)
other=$("$bin" org create bystander | key_of)
"$bin" all >"$work/server.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.2; done
app=$(curl -fsS -H "Authorization: Bearer $hostile" -H 'content-type: application/json' \
  "$url/v1/apps" -d '{"name": "target"}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
curl -fsS -H "Authorization: Bearer $other" -H 'content-type: application/json' \
  "$url/v1/apps" -d '{"name": "mine"}' >/dev/null
python3 scripts/hostile/probe.py "$url" "$hostile" "$app" "$other" "$@"
