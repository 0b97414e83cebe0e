#!/usr/bin/env bash
# Fuzzes every operation of the committed OpenAPI document with schemathesis against the real
# binary (`edgebridge all`) over a fresh database, with an app, a connector and a spare key to
# aim at. Fails on any server error, undocumented status or content type, or body that does not
# match its schema. Needs Postgres (DATABASE_SERVER, default postgres://postgres@127.0.0.1:5432)
# and python3 with venv; installs schemathesis into target/api-fuzz-venv.
#
#   scripts/api-fuzz/run.sh            # FUZZ_EXAMPLES=N to change the cases per operation
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
server=${DATABASE_SERVER:-postgres://postgres@127.0.0.1:5432}
venv=$root/target/api-fuzz-venv
schemathesis_version=4.32.5

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$schemathesis_version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$schemathesis_version"
fi
cargo build --quiet -p edgebridge
bin=$root/target/debug/edgebridge

db=edgebridge_fuzz_$$
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
export EDGEBRIDGE_LISTEN=127.0.0.1:$port
export EDGEBRIDGE_RATE_LIMIT=0 EDGEBRIDGE_AUTH_FAILURE_LIMIT=0
export EDGEBRIDGE_LOG_FORMAT=json RUST_LOG=warn
export EDGEBRIDGE_OPERATOR_TOKEN="$(head -c 32 /dev/urandom | base64)" FUZZ_OPERATOR_TOKEN
FUZZ_OPERATOR_TOKEN=$EDGEBRIDGE_OPERATOR_TOKEN
"$bin" migrate >/dev/null
key=$("$bin" org create fuzz | python3 -c 'import json, sys; print(json.load(sys.stdin)["apiKey"]["key"])')
"$bin" all >"$work/server.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -fs "$url/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "$url/healthz" >/dev/null

call() { # method path [body] -> JSON answer
  curl -fsS -X "$1" -H "Authorization: Bearer $key" -H 'content-type: application/json' \
    ${3:+-d "$3"} "$url$2"
}
field() { python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
connector='{"name": "NAME", "connectionString": "mongodb://fuzz.invalid:27017/", "database": "shop",
  "collections": {"COLL": {"fields": ["_id"], "initialSync": true}}}'
app=$(call POST /v1/apps '{"name": "fuzz"}' | field id)
spare_app=$(call POST /v1/apps '{"name": "spare"}' | field id)
conn=$(call POST "/v1/apps/$app/connectors" "$(echo "$connector" | sed 's/NAME/main/; s/COLL/tasks/')" | field id)
spare_conn=$(call POST "/v1/apps/$app/connectors" "$(echo "$connector" | sed 's/NAME/spare/; s/COLL/spare/')" | field id)
spare_key=$(call POST /v1/api-keys '{"name": "spare", "role": "viewer"}' | field id)
call POST "/v1/apps/$app/store/execute" '{"statement": "INSERT INTO tasks DOCUMENTS ({_id: 1, title: \"x\"})"}' >/dev/null

export FUZZ_URL=$url FUZZ_KEY=$key FUZZ_APP=$app FUZZ_CONNECTOR=$conn FUZZ_SPARE_KEY=$spare_key \
  FUZZ_SPARE_APP=$spare_app FUZZ_SPARE_CONNECTOR=$spare_conn
status=0
"$venv/bin/schemathesis" --config-file scripts/api-fuzz/schemathesis.toml run openapi/openapi.json \
  ${FUZZ_EXAMPLES:+--max-examples "$FUZZ_EXAMPLES"} --no-color \
  --report junit --report-dir "$root/target/api-fuzz-report" || status=$?
if grep -q '"level":"ERROR"' "$work/server.log"; then
  echo "server logged errors during the run:" >&2
  grep '"level":"ERROR"' "$work/server.log" | head -20 >&2
  status=1
fi
exit "$status"
