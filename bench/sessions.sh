#!/usr/bin/env bash
# The 100,000-sessions figure of docs/benchmarks.md: `taco serve --workers N` on the production
# engines, then `taco load connect` with light clients, then everything stops. Bounded: the sign-ins
# must finish within CONNECT_TIMEOUT, the sessions are held for HOLD, the server gets 60 s to start.
#
#   bench/sessions.sh [CLIENTS] [WORKERS]        default 100000 and 7
#
# Environment (defaults in brackets): TACO_REDIS_URL [redis://127.0.0.1:6379/7],
# TACO_MYSQL_URL [mysql://root@127.0.0.1:3306/taco_load], TACO_AMQP_URL
# [amqp://guest:guest@127.0.0.1:5672/taco-load], CONNECT_RATE [300], MAX_CONNECTING [100],
# PER_PROCESS [17000], HOLD [60s], CONNECT_TIMEOUT [20m], JSON [none: a file for the --json result].
# The MySQL database must exist and be migrated (`taco db migrate`), the AMQP vhost must exist.
# Run it under the machine's benchmark lock: flock /tmp/taco-heavy.lock bench/sessions.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS="${1:-100000}"
WORKERS="${2:-7}"
export TACO_REDIS_URL="${TACO_REDIS_URL:-redis://127.0.0.1:6379/7}"
export TACO_MYSQL_URL="${TACO_MYSQL_URL:-mysql://root@127.0.0.1:3306/taco_load}"
export TACO_AMQP_URL="${TACO_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/taco-load}"
APP=sessions
SECRET=sessions-secret-0123456789
OUT="$(mktemp -d)"
redis-cli -u "$TACO_REDIS_URL" flushdb >/dev/null 2>&1 || true

node bin/run.js serve --workers "$WORKERS" --node 10 --app "$APP=$SECRET" \
  --ws-port 0 --http-port 0 --grpc-port 0 --log-level warn >"$OUT/ready" 2>"$OUT/serve.log" &
SERVE=$!
cleanup() {
  kill -TERM "$SERVE" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$SERVE" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$SERVE" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 120); do grep -q '"event":"ready"' "$OUT/ready" 2>/dev/null && break; sleep 0.5; done
if ! grep -q '"event":"ready"' "$OUT/ready"; then
  echo "taco serve --workers $WORKERS did not get ready within 60 s:" >&2
  tail -20 "$OUT/serve.log" >&2
  exit 3
fi
WS=$(sed -n 's/.*"ws":\([0-9]*\).*/\1/p' "$OUT/ready" | head -1)
HTTP=$(sed -n 's/.*"http":\([0-9]*\).*/\1/p' "$OUT/ready" | head -1)
echo "ready: $(head -c 300 "$OUT/ready")" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
node bin/run.js load connect --app "$APP" --secret "$SECRET" \
  --url "http://127.0.0.1:$HTTP" --ws-url "ws://127.0.0.1:$WS/v1/connect" \
  --clients "$CLIENTS" --client light --per-process "${PER_PROCESS:-17000}" \
  --connect-rate "${CONNECT_RATE:-300}" --max-connecting "${MAX_CONNECTING:-100}" \
  --hold "${HOLD:-60s}" --connect-timeout "${CONNECT_TIMEOUT:-20m}" ${JSON:+--json} >"$OUT/result"
cat "$OUT/result"
if [ -n "${JSON:-}" ]; then cp "$OUT/result" "$JSON"; fi
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
